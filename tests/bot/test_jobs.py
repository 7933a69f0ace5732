"""The durable job queue and the worker pool, on real SQLite files, real threads and real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from faults import SECRET, delivery, job_of, killed_at

from bot import jobs
from bot.jobs import Job, Purged, SqliteQueue, WorkerPool, worker_identity

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


@pytest.mark.parametrize(("point", "answer"), [("delivery-marked", 202), ("delivery-queued", 200)])
def test_a_process_killed_while_queueing_a_delivery_leaves_it_queued_once(path: Path, point: str,
                                                                          answer: int) -> None:
    """The delivery id and its jobs are one transaction: SIGKILL between the two leaves neither, so GitHub's
    redelivery is queued; SIGKILL after the commit leaves both, so the redelivery is a duplicate."""
    from bot.webhook import create_app

    status, passed = killed_at(point, lambda: SqliteQueue(path).enqueue_delivery("d-crash", [job_of("d-crash")]))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    assert passed[-1] == point
    q = SqliteQueue(path)
    body, headers = delivery("d-crash")
    response = create_app(secret=SECRET, queue=q).test_client().post("/webhook", data=body, headers=headers)
    assert response.status_code == answer, response.get_json()
    assert [(r.job, r.state) for r in q.list()] == [(job_of("d-crash"), "queued")]


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


def test_a_job_longer_than_its_lease_and_its_time_limit_keeps_its_lease_and_runs_once(
        path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The lease is renewed for as long as the job runs (a thread cannot be stopped, and a second run of the
    pull request beside it would break serialisation); past ``job_timeout`` the pool says so, once."""
    q = SqliteQueue(path)
    q.enqueue(job("slow"))
    spans: list[tuple[str, float, float]] = []
    started = threading.Event()

    def slow(j: Job) -> None:
        begin = time.monotonic()
        started.set()
        time.sleep(1.2 if j.delivery_id == "slow" else 0)
        spans.append((j.delivery_id, begin, time.monotonic()))

    pool = WorkerPool(q, slow, threads=3, poll_interval=0.02, lease_seconds=0.3, job_timeout=0.4,
                      purge_interval=None)
    caplog.set_level("WARNING", logger="kubeguard.jobs")
    pool.start()
    try:
        assert started.wait(5)
        q.enqueue(job("later", sha=SHA2))  # the same pull request: it waits for the slow one
        assert pool.drain(10)
    finally:
        pool.stop(5)
    assert [d for d, _, _ in spans] == ["slow", "later"]  # each once, the slow one never handed out again
    assert spans[1][1] >= spans[0][2]
    assert [(r.job.delivery_id, r.state, r.attempts) for r in q.list()] == [("slow", "done", 1), ("later", "done", 1)]
    over = [r for r in caplog.records if "over its time limit" in r.getMessage()]
    assert len(over) == 1


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
    alive = q.claim(worker_identity("w0"))                          # this process: still working
    other_host = q.claim("elsewhere:2:x:w0", lease_seconds=60)      # another host, lease still valid
    # claimed last: a claim after it could find the short lease expired and take that job back first
    expired = q.claim("elsewhere:1:x:w0", lease_seconds=0.01)       # another host, lease ran out
    assert None not in (crashed, expired, alive, other_host)
    time.sleep(0.02)
    assert q.recover() == 2
    states = {r.job.delivery_id: r.state for r in q.list()}
    assert states == {"d-0": "queued", "d-1": "running", "d-2": "running", "d-3": "queued"}
    assert "lease" in (q.get("d-0").reason or "")  # type: ignore[union-attr]
    # a job whose worker dies every time goes dead instead of looping
    again = q.claim(dead_owner)
    assert again is not None and again.delivery_id == "d-0"
    assert q.recover() == 1
    assert q.get("d-0").state == "dead"  # type: ignore[union-attr]


def test_a_dead_process_not_yet_reaped_is_recognised_as_dead(path: Path) -> None:
    """A zombie (exited, its parent has not waited for it yet, or an init that reaps late) still has its pid,
    and ``kill(pid, 0)`` succeeds on it: its lease must still be given back at once."""
    q = SqliteQueue(path, lease_seconds=600)
    q.enqueue(job("d-1"))
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # it has exited; WNOWAIT leaves it unreaped
        os.kill(pid, 0)  # still there, as a zombie
        assert q.claim(f"{socket.gethostname()}:{pid}:zombie-token:w0") is not None
        assert q.recover() == 1
        record = q.get("d-1")
        assert record is not None and record.state == "queued" and "process gone" in (record.reason or "")
        if shutil.which("ps"):  # the fallback where there is no /proc sees it too
            assert jobs._ps_state(pid).startswith("Z")
            assert jobs._ps_state(os.getpid())[:1] in ("R", "S")
    finally:
        os.waitpid(pid, 0)


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
        producer.wait(5)
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


def _age(q: SqliteQueue, delivery: str, seconds: float) -> None:
    """Make a job (and its delivery) look ``seconds`` older, as if it had been sitting in the file that long."""
    with q._write() as conn:
        conn.execute("UPDATE jobs SET created = created - ?, updated = updated - ? WHERE id = ?",
                     (seconds, seconds, delivery))
        conn.execute("UPDATE deliveries SET received = received - ? WHERE delivery_id = ?", (seconds, delivery))


def test_purge_forgets_old_finished_jobs_keeps_dead_ones_longer_and_dedupe_holds_for_the_redelivery_window(
        path: Path) -> None:
    day = 24 * 3600
    q = SqliteQueue(path, max_attempts=1)  # defaults: 7 days, dead 30 days
    names = ("done-old", "done-new", "sup-old", "dead-old", "dead-ancient", "running-old", "queued-old")
    for number, name in enumerate(names, start=10):
        assert q.enqueue(job(name, number=number))
    for name in ("done-old", "done-new"):
        claimed = q.claim("w")
        assert claimed is not None and claimed.delivery_id == name
        q.complete(claimed)
    assert q.enqueue(job("sup-new", number=12, sha=SHA2))  # supersedes sup-old
    for name in ("dead-old", "dead-ancient", "running-old"):
        claimed = q.claim("w")
        assert claimed is not None and claimed.delivery_id == name
        if name.startswith("dead"):
            assert q.fail(claimed, "boom") == "dead"
    _age(q, "done-old", 8 * day)
    _age(q, "sup-old", 8 * day)
    _age(q, "dead-old", 8 * day)
    _age(q, "dead-ancient", 31 * day)
    _age(q, "queued-old", 40 * day)
    _age(q, "running-old", 40 * day)
    purged = q.purge()
    assert purged.jobs == 3  # done-old, sup-old, dead-ancient
    left = {r.job.delivery_id: r.state for r in q.list()}
    assert left == {"done-new": "done", "dead-old": "dead", "running-old": "running", "queued-old": "queued",
                    "sup-new": "queued"}
    # eight days is past GitHub's three-day redelivery window: those deliveries are forgotten; younger ones kept
    assert purged.deliveries == 3 and not q.seen("done-old") and q.seen("done-new")
    assert q.enqueue(job("done-new")) is False

    # a retention shorter than the redelivery window still keeps the delivery ids for four days
    short = SqliteQueue(path.with_name("short.sqlite3"), retention=3600)
    assert short.enqueue(job("recent", number=900))
    claimed = short.claim("w")
    assert claimed is not None and claimed.delivery_id == "recent"
    short.complete(claimed)
    _age(short, "recent", 2 * day)
    assert short.purge().jobs == 1 and short.get("recent") is None
    assert short.enqueue(job("recent", number=900)) is False, "a redelivery 2 days later is still a duplicate"
    assert short.purge(now=time.time() + 3 * day).deliveries == 1  # five days old: forgotten
    assert short.enqueue(job("recent", number=900)) is True

    # kubeguard jobs purge: ages on the command line, dead jobs only when asked
    assert q.purge(older_than=0, dead_older_than=40 * day).jobs == 1  # done-new
    assert q.purge(older_than=0, dead_older_than=0).jobs == 1  # dead-old
    with pytest.raises(ValueError):
        q.purge(older_than=-1)


def test_purge_deletes_in_batches(path: Path) -> None:
    q = SqliteQueue(path)
    assert q.enqueue_delivery("check-run", [job(f"check-run:{i}", number=i) for i in range(1_200)])
    with q._write() as conn:  # as if all had run a week and a day ago (1,200 claims would take a while)
        conn.execute("UPDATE jobs SET state = 'done', updated = updated - ?", (8 * 24 * 3600,))
    assert q.purge() == Purged(jobs=1_200, deliveries=0)  # more than two batches; the delivery is 0 days old
    assert q.counts()["done"] == 0 and q.seen("check-run")


def test_the_pool_purges_on_its_heartbeat(path: Path) -> None:
    q = SqliteQueue(path, retention=0.2)
    ran: list[str] = []
    pool = WorkerPool(q, lambda j: ran.append(j.delivery_id), threads=2, lease_seconds=30, purge_interval=0.1,
                      poll_interval=0.01)
    for i in range(5):
        assert q.enqueue(job(f"d-{i}", number=i))
    pool.start()
    try:
        assert pool.drain(10)
        deadline = time.monotonic() + 10
        while q.list() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert pool.stop()
    assert sorted(ran) == [f"d-{i}" for i in range(5)]
    assert q.list() == []
    assert q.enqueue(job("d-3", number=3)) is False  # the delivery ids stay for the redelivery window


def test_kubeguard_jobs_purge(path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    q = SqliteQueue(path, max_attempts=1)
    for name in ("a", "b"):
        assert q.enqueue(job(name, number=ord(name)))
    done = q.claim("w")
    assert done is not None
    q.complete(done)
    dead = q.claim("w")
    assert dead is not None
    q.fail(dead, "boom")
    monkeypatch.delenv("KUBEGUARD_REDIS_URL", raising=False)
    monkeypatch.setenv("KUBEGUARD_QUEUE_PATH", str(path))
    assert main(["jobs", "purge"]) == 0  # the defaults: both are young
    assert "purged 0 job(s)" in capsys.readouterr().out
    assert main(["jobs", "purge", "--older-than", "0s"]) == 0
    assert "purged 1 job(s)" in capsys.readouterr().out
    assert [r.state for r in q.list()] == ["dead"]
    assert main(["jobs", "purge", "--older-than", "0", "--dead-older-than", "0h"]) == 0
    assert q.list() == [] and q.seen("a")
    with pytest.raises(SystemExit) as usage:
        main(["jobs", "purge", "--older-than", "soon"])
    assert usage.value.code == 2 and "not a duration" in capsys.readouterr().err
