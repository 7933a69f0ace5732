"""Job handlers for tests/bot/test_redis_queue.py, loaded by worker subprocesses via KUBEGUARD_JOB_HANDLER."""

from __future__ import annotations

import os
import time

from bot.jobs import Job


def record(job: Job) -> None:
    """Append ``delivery_id,start,end`` to ``$KG_TEST_LOG`` after sleeping 0.2 s."""
    start = time.time()
    time.sleep(0.2)
    end = time.time()
    with open(os.environ["KG_TEST_LOG"], "a", encoding="utf-8") as handle:
        handle.write(f"{job.delivery_id},{start:.6f},{end:.6f}\n")


def fail(job: Job) -> None:
    raise RuntimeError(f"boom for {job.delivery_id}")


def hang_once(job: Job) -> None:
    """The first call for a delivery listed in ``$KG_HANG`` (comma-separated) writes ``<pid> <parent pid>`` to
    ``$KG_TEST_DIR/<delivery>.hung`` and hangs (a minute: the test kills it); every other call is ``record``."""
    marker = os.path.join(os.environ["KG_TEST_DIR"], f"{job.delivery_id}.hung")
    if job.delivery_id not in os.environ.get("KG_HANG", "").split(",") or os.path.exists(marker):
        record(job)
        return
    partial = f"{marker}.{os.getpid()}"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {os.getppid()}")
    os.rename(partial, marker)  # the test sees the whole line or nothing
    time.sleep(60)
