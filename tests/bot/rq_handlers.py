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
