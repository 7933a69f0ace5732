"""The durable job queue and the worker pool, on real SQLite files, real threads and real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.jobs import Job, SqliteQueue, WorkerPool, worker_identity

ROOT = Path(__file__).resolve().parents[2]
SHA1, SHA2, SHA3 = "1" * 40, "2" * 40, "3" * 40


def job(delivery: str, number: int = 2, sha: str = SHA1, repo: str = "Hello-World") -> Job:
    return Job(delivery, "pull_request", "synchronize", 1, "Codertocat", repo, number, sha)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queue.sqlite3"


def test_job_round_trips_through_json() -> None:
    j = Job("d-1", "check_run", "rerequested", None, "o", "r", 7, SHA1)
    assert Job.from_json(j.to_json()) == j
    assert j.key == "o/r#7"


def test_enqueue_dedupes_deliveries_across_a_reopened_file(path: Path) -> None:
    first = SqliteQueue(path)
    assert first.enqueue(job("d-1")) is True
    assert first.enqueue(job("d-1")) is False
    first.close()
    again = SqliteQueue(path)  # a restarted service
    assert again.enqueue(job("d-1", sha=SHA2)) is False
    assert [r.job.delivery_id for r in again.list()] == ["d-1"]
    assert again.list()[0].job.head_sha == SHA1
    claimed = again.claim("w")
    assert claimed is not None
    again.complete(claimed)
    assert again.enqueue(job("d-1")) is False, "a finished delivery is still remembered"
    mode = again._conn().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_newer_head_supersedes_the_queued_job_of_the_same_pull_request(path: Path) -> None:
    q = SqliteQueue(path)
    q.enqueue(job("d-1", sha=SHA1))
    q.enqueue(job("d-other", number=3, sha=SHA1))
    q.enqueue(job("d-2", sha=SHA2))
    states = {r.job.delivery_id: (r.state, r.reason) for r in q.list()}
    assert states["d-1"][0] == "superseded" and "d-2" in (states["d-1"][1] or "")
    assert states["d-2"][0] == "queued" and states["d-other"][0] == "queued"
    claimed = {q.claim("a").delivery_id, q.claim("b").delivery_id}  # type: ignore[union-attr]
    assert claimed == {"d-2", "d-other"}
    assert q.claim("c") is None
    assert q.counts() == {"queued": 0, "running": 2, "done": 0, "dead": 0, "superseded": 1}


def test_a_running_job_is_not_superseded_and_blocks_its_pull_request(path: Path) -> None:
    q = SqliteQueue(path)
    q.enqueue(job("d-1", sha=SHA1))
    running = q.claim("a")
    assert running is not None and running.delivery_id == "d-1"
    q.enqueue(job("d-2", sha=SHA2))
    q.enqueue(job("d-3", number=9))
    nxt = q.claim("b")
    assert nxt is not None and nxt.delivery_id == "d-3", "the busy pull request's job waits, another runs"
    assert q.claim("b") is None
    q.complete(running)
    after = q.claim("b")
    assert after is not None and after.delivery_id == "d-2"


def test_pool_never_runs_two_jobs_of_one_pull_request_at_once(path: Path) -> None:
    q = SqliteQueue(path)
    active: Counter[str] = Counter()
    overlap: list[str] = []
    ran: list[str] = []
    most_at_once = [0]
    lock = threading.Lock()

    def handler(j: Job) -> None:
        with lock:
            active[j.key] += 1
            if active[j.key] > 1:
                overlap.append(j.key)
            most_at_once[0] = max(most_at_once[0], sum(active.values()))
            ran.append(j.delivery_id)
        time.sleep(0.15 if j.delivery_id in ("d-0", "d-1") else 0.03)
        with lock:
            active[j.key] -= 1

    pool = WorkerPool(q, handler, threads=2, poll_interval=0.005)
    q.enqueue(job("d-0", number=1, sha=f"{0:040x}"))
    q.enqueue(job("d-1", number=2, sha=f"{1:040x}"))
    pool.start()
    try:
        # pushes to two pull requests while their earlier jobs run: each push is a new head
        for i in range(2, 12):
            q.enqueue(job(f"d-{i}", number=1 + i % 2, sha=f"{i:040x}"))
            pool.notify()
            time.sleep(0.012)
        assert pool.drain(5)
    finally:
        assert pool.stop(5)
    assert overlap == []
    assert most_at_once[0] == 2, "the two pull requests did run side by side"
    counts = q.counts()
    assert counts["done"] == len(ran) and counts["done"] + counts["superseded"] == 12
    assert {r.job.delivery_id for r in q.list("done")} >= {"d-10", "d-11"}, "the newest head of each PR is reviewed"


def test_failures_back_off_exponentially_then_the_job_is_dead(path: Path) -> None:
    q = SqliteQueue(path, max_attempts=3, base_delay=0.2)
    q.enqueue(job("d-1"))
    delays = []
    for expected_state in ("queued", "queued", "dead"):
        claimed = None
        deadline = time.monotonic() + 3
        while claimed is None and time.monotonic() < deadline:
            claimed = q.claim("w")
            time.sleep(0.01)
        assert claimed is not None
        before = time.time()
        assert q.fail(claimed, "RuntimeError: boom") == expected_state
        record = q.get("d-1")
        assert record is not None
        if expected_state == "queued":
            delays.append(record.not_before - before)
            assert q.claim("w") is None, "not due before its backoff"
    assert delays[0] == pytest.approx(0.2, abs=0.05) and delays[1] == pytest.approx(0.4, abs=0.05)
    dead = q.get("d-1")
    assert dead is not None and (dead.state, dead.attempts, dead.reason) == ("dead", 3, "RuntimeError: boom")


def test_pool_fails_jobs_with_the_exception_and_retry_brings_a_dead_job_back(path: Path) -> None:
    q = SqliteQueue(path, max_attempts=3, base_delay=0.01)
    calls: list[str] = []
    healthy = threading.Event()

    def handler(j: Job) -> None:
        calls.append(j.delivery_id)
        if not healthy.is_set():
            raise ValueError("GitHub said 502")

    pool = WorkerPool(q, handler, threads=2, poll_interval=0.005)
    pool.start()
    try:
        q.enqueue(job("d-1"))
        assert pool.drain(5)
        dead = q.list("dead")
        assert [(r.job.delivery_id, r.attempts, r.reason) for r in dead] == [("d-1", 3, "ValueError: GitHub said 502")]
        assert calls == ["d-1"] * 3
        healthy.set()
        assert q.retry("d-1") is True
        assert q.retry("d-1") is False, "only a dead job can be retried"
        assert q.retry("nope") is False
        pool.notify()
        assert pool.drain(5)
    finally:
        pool.stop(5)
    record = q.get("d-1")
    assert record is not None and record.state == "done" and record.attempts == 1
    assert calls == ["d-1"] * 4


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_recover_requeues_jobs_of_a_dead_process_and_expired_leases_only(path: Path) -> None:
    q = SqliteQueue(path, max_attempts=2)
    for i in range(4):
        q.enqueue(job(f"d-{i}", number=i + 1))
    host = socket.gethostname()
    dead_owner = f"{host}:{_dead_pid()}:0123abcd:w0"
    crashed = q.claim(dead_owner)                                   # its process died (simulated crash)
    expired = q.claim("elsewhere:1:x:w0", lease_seconds=0.01)       # another host, lease ran out
    alive = q.claim(worker_identity("w0"))                          # this process: still working
    other_host = q.claim("elsewhere:2:x:w0", lease_seconds=60)      # another host, lease still valid
    assert None not in (crashed, expired, alive, other_host)
    time.sleep(0.02)
    assert q.recover() == 2
    states = {r.job.delivery_id: r.state for r in q.list()}
    assert states == {"d-0": "queued", "d-1": "queued", "d-2": "running", "d-3": "running"}
    assert "lease" in (q.get("d-0").reason or "")  # type: ignore[union-attr]
    # a job whose worker dies every time goes dead instead of looping
    again = q.claim(dead_owner)
    assert again is not None and again.delivery_id == "d-0"
    assert q.recover() == 1
    assert q.get("d-0").state == "dead"  # type: ignore[union-attr]


def test_an_earlier_process_with_our_pid_is_recognised_as_dead(path: Path) -> None:
    """A container restart reuses the pid: the lease's process token tells the lives apart."""
    q = SqliteQueue(path)
    q.enqueue(job("d-1"))
    assert q.claim(f"{socket.gethostname()}:{os.getpid()}:previous-life:w0") is not None
    assert q.recover() == 1


_PRODUCER = r"""
import sys, time
from bot.jobs import Job, SqliteQueue, WorkerPool
queue_path, out_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = SqliteQueue(queue_path, lease_seconds=60)  # recovery must not wait for the lease to expire
for i in range(n):
    q.enqueue(Job(f"d-{i}", "pull_request", "opened", 1, "o", "r", i + 1, f"{i:040x}"))
def handler(job):
    with open(out_path, "a", encoding="utf-8") as out:
        out.write(job.delivery_id + "\n")
    time.sleep(0.05)
WorkerPool(q, handler, threads=2, poll_interval=0.01).start()
time.sleep(60)
"""

_RECOVERER = r"""
import json, sys
from bot.jobs import SqliteQueue, WorkerPool
queue_path, out_path = sys.argv[1], sys.argv[2]
q = SqliteQueue(queue_path, lease_seconds=60)
recovered = q.recover()
def handler(job):
    with open(out_path, "a", encoding="utf-8") as out:
        out.write(job.delivery_id + "\n")
pool = WorkerPool(q, handler, threads=2, poll_interval=0.01)
pool.start()
ok = pool.drain(10)
pool.stop(5)
print(json.dumps({"recovered": recovered, "drained": ok, "counts": q.counts()}))
"""


def test_kill_9_mid_run_then_other_processes_recover_and_drain(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "processed.txt"
    n = 24
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    producer = subprocess.Popen([sys.executable, "-c", _PRODUCER, str(path), str(out), str(n)], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if out.exists() and len(out.read_text().splitlines()) >= 6:
                break
            time.sleep(0.01)
        else:
            pytest.fail("the first process processed nothing")
    finally:
        os.kill(producer.pid, signal.SIGKILL)
        producer.wait(5)  # reaped: a zombie would still look alive
    assert producer.returncode == -signal.SIGKILL
    before = SqliteQueue(path).counts()
    assert before["queued"] >= 1, before  # killed mid-run, work left over
    done_before = before["done"]

    # two processes restart on the same file at once: they share the recovery and the work
    recoverers = [subprocess.Popen([sys.executable, "-c", _RECOVERER, str(path), str(out)], env=env, cwd=ROOT,
                                   stdout=subprocess.PIPE, text=True) for _ in range(2)]
    summaries = [json.loads(p.communicate(timeout=20)[0]) for p in recoverers]
    assert [p.returncode for p in recoverers] == [0, 0]
    assert all(s["drained"] for s in summaries)
    assert sum(s["recovered"] for s in summaries) == before["running"]
    assert SqliteQueue(path).counts() == {"queued": 0, "running": 0, "done": n, "dead": 0, "superseded": 0}
    lines = out.read_text().splitlines()
    assert set(lines) == {f"d-{i}" for i in range(n)}, "every delivery processed at least once"
    repeats = len(lines) - n
    assert 0 <= repeats <= before["running"], "only the jobs running at the kill ran twice, nothing else"
    assert done_before < n
