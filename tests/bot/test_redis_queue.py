"""The Redis/RQ queue (bot.rq_queue) against a real redis-server started per test module."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faults
import pytest

from bot.jobs import Job
from bot.rq_queue import RedisQueue, run_worker
from bot.webhook import create_app, signature

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHA_A, SHA_B = "a" * 40, "b" * 40


@pytest.fixture
def url(redis_server: str) -> str:
    import redis

    redis.Redis.from_url(redis_server).flushall()
    return redis_server


def job(delivery: str, number: int = 1, sha: str = SHA_A) -> Job:
    return Job(delivery, "pull_request", "synchronize", 42, "octo", "repo", number, sha)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_deliveries_are_deduplicated_across_web_processes(url: str) -> None:
    first, second = RedisQueue(url), RedisQueue(url)
    assert first.enqueue(job("d-1")) is True
    assert second.enqueue(job("d-1")) is False
    assert second.enqueue_delivery("d-1", [job("d-1"), job("d-1:2", 2)]) is False
    assert first.counts() == {"queued": 1, "running": 0, "done": 0, "dead": 0, "superseded": 0}
    assert len(second.rq) == 1
    first.ping()


def test_a_delivery_raced_by_many_web_processes_is_queued_once(url: str) -> None:
    import threading

    queues = [RedisQueue(url) for _ in range(8)]
    for q in queues:
        q.ping()  # connected before the race
    for round_ in range(20):
        delivery_id = f"race-{round_}"
        start = threading.Barrier(len(queues))
        results: list[bool] = []

        def enqueue(q: RedisQueue, delivery_id: str, start: threading.Barrier, results: list[bool],
                    number: int) -> None:
            start.wait()
            results.append(q.enqueue_delivery(delivery_id, [job(delivery_id, number=number)]))

        threads = [threading.Thread(target=enqueue, args=(q, delivery_id, start, results, round_)) for q in queues]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [False] * 7 + [True]
    assert len(queues[0].rq) == 20 and queues[0].counts()["queued"] == 20


@pytest.mark.parametrize(("point", "answer"), [("delivery-marked", 202), ("delivery-queued", 200)])
def test_a_web_process_killed_while_queueing_a_delivery_leaves_it_queued_once(url: str, point: str,
                                                                              answer: int) -> None:
    """SIGKILL right after the delivery id is marked, or once all is queued: GitHub got no answer, and its
    redelivery is queued (the mark did not outlive the crash) or a duplicate of the job that was queued."""
    status, passed = faults.killed_at(point, lambda: RedisQueue(url).enqueue_delivery("d-crash",
                                                                                     [faults.job_of("d-crash")]))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    assert passed[-1] == point
    queue = RedisQueue(url)
    body, headers = faults.delivery("d-crash")
    response = create_app(secret=faults.SECRET, queue=queue).test_client().post("/webhook", data=body, headers=headers)
    assert response.status_code == answer, response.get_json()
    [rq_id] = queue.rq.get_job_ids()  # exactly one job, whichever process queued it
    assert Job.from_json(queue.rq.fetch_job(rq_id).args[0]) == faults.job_of("d-crash")
    assert queue.counts()["queued"] == 1
    record = queue.get("d-crash")
    assert record is not None and record.state == "queued"


def worker_env(url: str, tmp_path: Path, handler: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "KUBEGUARD_REDIS_URL": url, "KUBEGUARD_JOB_HANDLER": handler,
           "KG_TEST_LOG": str(tmp_path / "runs.csv"), "KG_TEST_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]), "KUBEGUARD_LOG_LEVEL": "WARNING", **extra}
    env.pop("KUBEGUARD_WEBHOOK_SECRET", None)
    return env


def start_workers(n: int, env: dict[str, str], cwd: Path) -> list[subprocess.Popen[bytes]]:
    """``kubeguard worker`` processes, each the leader of its own process group (with its scheduler)."""
    return [subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env, cwd=cwd,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            for _ in range(n)]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        if w.poll() is None:
            w.terminate()
    for w in workers:
        try:
            w.wait(5)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
        with contextlib.suppress(ProcessLookupError):  # a scheduler left behind in the group
            os.killpg(w.pid, signal.SIGKILL)


def runs(tmp_path: Path) -> list[tuple[str, float, float]]:
    log = tmp_path / "runs.csv"
    lines = log.read_text().splitlines() if log.exists() else []
    return [(d, float(s), float(e)) for d, s, e in (line.split(",") for line in lines)]


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan reparented to a pid 1 that does not reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_two_worker_processes_run_each_job_once_and_serialise_each_pull_request(url: str, tmp_path: Path) -> None:
    env = worker_env(url, tmp_path, "rq_handlers:record")
    queue = RedisQueue(url)
    ids = [f"d-{i}" for i in range(10)]
    for i, delivery in enumerate(ids):
        assert queue.enqueue(job(delivery, number=1 + i % 2))
    workers = start_workers(2, env, tmp_path)
    try:
        wait_for(lambda: queue.counts()["done"] == 10 or any(w.poll() is not None for w in workers), 15,
                 "10 jobs done")
        assert all(w.poll() is None for w in workers), [w.stderr.read() for w in workers if w.stderr]
    finally:
        stop_workers(workers)
    rows = [line.split(",") for line in (tmp_path / "runs.csv").read_text().splitlines()]
    assert sorted(r[0] for r in rows) == sorted(ids)  # each exactly once
    for number in (1, 2):
        spans = sorted((float(s), float(e)) for d, s, e in rows if int(d[2:]) % 2 == number - 1)
        assert len(spans) == 5
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"jobs of PR #{number} overlapped: {spans}"
    assert queue.counts() == {"queued": 0, "running": 0, "done": 10, "dead": 0, "superseded": 0}


def test_a_newer_head_sha_supersedes_a_queued_older_one(url: str) -> None:
    queue = RedisQueue(url)
    assert queue.enqueue(job("old", sha=SHA_A))
    assert queue.enqueue(job("new", sha=SHA_B))
    assert queue.enqueue(job("other-pr", number=2, sha=SHA_A))
    seen: list[str] = []
    run_worker(url, burst=True, simple=True, handler=lambda j: seen.append(j.delivery_id))
    assert sorted(seen) == ["new", "other-pr"]
    record = queue.get("old")
    assert record is not None and record.state == "superseded" and SHA_B[:12] in (record.reason or "")
    assert record.attempts == 0  # it never ran
    assert [(r.job.delivery_id, r.attempts) for r in queue.list("done")] == [("new", 1), ("other-pr", 1)]
    assert queue.counts()["superseded"] == 1 and queue.counts()["done"] == 2


def test_a_failing_job_is_retried_then_lands_in_the_failed_registry(url: str) -> None:
    queue = RedisQueue(url, max_attempts=3, retry_intervals=[0])
    assert queue.enqueue(job("bad"))
    calls: list[str] = []

    def failing(j: Job) -> None:
        calls.append(j.delivery_id)
        raise RuntimeError(f"boom for {j.delivery_id}")

    run_worker(url, burst=True, simple=True, handler=failing)
    assert calls == ["bad", "bad", "bad"]
    registry = queue.rq.failed_job_registry
    failed = [queue.rq.fetch_job(i) for i in registry.get_job_ids()]
    assert len(failed) == 1 and failed[0] is not None
    assert "boom for bad" in (failed[0].latest_result().exc_string or "")
    record = queue.get("bad")
    assert record is not None and record.state == "dead" and "boom for bad" in (record.reason or "")
    assert record.attempts == 3
    assert [r.job.delivery_id for r in queue.list("dead")] == ["bad"]
    assert queue.counts()["dead"] == 1
    # an operator's retry puts it back with fresh attempts
    assert queue.retry("bad") is True
    assert queue.counts()["queued"] == 1 and registry.count == 0


def test_retry_of_a_dead_job_whose_execution_record_expired_before_its_index_entry(url: str) -> None:
    """RQ 3.0 keeps an execution in the job's index 60 s past its record's TTL: a horse killed with short
    heartbeats leaves such an entry, and deleting the job then raised "Execution ... not found in Redis"."""
    from rq.executions import ExecutionRegistry

    queue = RedisQueue(url, max_attempts=1)
    assert queue.enqueue(job("gone"))

    def failing(j: Job) -> None:
        raise RuntimeError("boom")

    run_worker(url, burst=True, simple=True, handler=failing)
    record = queue.get("gone")
    assert record is not None and record.state == "dead"
    [rq_id] = queue.rq.failed_job_registry.get_job_ids()
    index = ExecutionRegistry(rq_id, queue.redis)
    queue.redis.zadd(index.key, {"expired-execution": time.time() + 60})  # its record is already gone
    assert queue.retry("gone") is True
    assert queue.counts()["queued"] == 1 and queue.rq.failed_job_registry.count == 0
    assert not queue.redis.exists(index.key) or b"expired-execution" not in queue.redis.zrange(index.key, 0, -1)


def test_the_webhook_app_queues_a_signed_delivery_on_redis(url: str) -> None:
    queue = RedisQueue(url)
    app = create_app(secret="s3cret", queue=queue)
    body = json.dumps({"action": "opened", "installation": {"id": 5},
                       "repository": {"name": "repo", "owner": {"login": "octo"}},
                       "pull_request": {"number": 9, "state": "open", "draft": False,
                                        "head": {"sha": SHA_B}}}).encode()
    headers: dict[str, Any] = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
                               "X-GitHub-Delivery": "delivery-77", "X-Hub-Signature-256": signature("s3cret", body)}
    client = app.test_client()
    response = client.post("/webhook", data=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    assert client.post("/webhook", data=body, headers=headers).status_code == 200  # duplicate
    assert client.get("/healthz").status_code == 200
    assert 'kubeguard_jobs{state="queued"} 1' in client.get("/metrics").get_data(as_text=True)
    [rq_id] = queue.rq.get_job_ids()
    queued = Job.from_json(queue.rq.fetch_job(rq_id).args[0])
    assert (queued.delivery_id, queued.key, queued.head_sha) == ("delivery-77", "octo/repo#9", SHA_B)


def test_the_service_uses_redis_when_configured(url: str) -> None:
    from bot.serve import Service, ServiceSettings, SettingsError

    settings = ServiceSettings.from_env({"KUBEGUARD_REDIS_URL": url}, need_secrets=False)
    assert isinstance(settings.open_queue(), RedisQueue)
    assert url not in repr(settings)
    service = Service(dataclasses.replace(settings, webhook_secret="s"), handler=lambda j: None)
    assert service.pool is None  # the reviews run in `kubeguard worker`
    service.start()
    service.stop()
    with pytest.raises(SettingsError, match="KUBEGUARD_REDIS_URL"):
        ServiceSettings.from_env({"KUBEGUARD_REDIS_URL": "http://x"}, need_secrets=False)


def test_kubeguard_worker_needs_the_redis_url(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from bot.cli import main

    monkeypatch.delenv("KUBEGUARD_REDIS_URL", raising=False)
    monkeypatch.setenv("KUBEGUARD_JOB_HANDLER", "rq_handlers:record")
    assert main(["worker"]) == 2
    assert "KUBEGUARD_REDIS_URL" in capsys.readouterr().err


def test_a_job_whose_worker_is_killed_is_rerun_by_another_and_its_pull_request_stays_serialised(
        url: str, tmp_path: Path) -> None:
    # heartbeat 1 s: abandoned 3 s after the last heartbeat, keepers every second, the lock lives 3 s
    env = worker_env(url, tmp_path, "rq_handlers:hang_once", KUBEGUARD_WORKER_HEARTBEAT="1", KG_HANG="first")
    queue = RedisQueue(url, max_attempts=3, retry_intervals=[1])
    assert queue.enqueue(job("first"))
    workers = start_workers(2, env, tmp_path)
    horse = 0
    try:
        marker = tmp_path / "first.hung"
        wait_for(marker.exists, 15, "the first attempt to start (and hang)")
        horse, parent = map(int, marker.read_text().split())
        record = queue.get("first")
        assert record is not None and (record.state, record.attempts) == ("running", 1)
        assert queue.enqueue(job("second"))  # the same pull request and head: it must wait for the first
        wait_for(lambda: queue.rq.scheduled_job_registry.count > 0, 5, "the other worker to defer the second job")
        [victim] = [w for w in workers if w.pid == parent]
        survivor = next(w for w in workers if w is not victim)
        killed_at = time.time()
        os.killpg(victim.pid, signal.SIGKILL)  # the worker and its scheduler; the horse has a group of its own
        victim.wait(5)
        wait_for(lambda: queue.counts()["done"] == 2 or survivor.poll() is not None, 20, "both jobs done")
        taken_over = time.time() - killed_at
        assert survivor.poll() is None, survivor.stderr.read() if survivor.stderr else ""
        wait_for(lambda: not alive(horse), 5, "the orphaned work horse to stop")
    finally:
        stop_workers(workers)
        if horse and alive(horse):
            os.kill(horse, signal.SIGKILL)
    print(f"killed worker's job re-run and done {taken_over:.1f} s after the kill")
    assert taken_over < 15
    rows = runs(tmp_path)
    assert sorted(d for d, _, _ in rows) == ["first", "second"]  # each ran to the end once, after the kill
    assert all(start >= killed_at for _, start, _ in rows)  # nothing of the pull request ran beside the hung one
    (_, _, earlier_end), (_, later_start, _) = sorted(rows, key=lambda r: r[1])
    assert later_start >= earlier_end, f"the two jobs of one pull request overlapped: {rows}"
    first, second = queue.get("first"), queue.get("second")
    assert first is not None and (first.state, first.attempts) == ("done", 2)
    assert second is not None and (second.state, second.attempts) == ("done", 1)
    assert queue.counts() == {"queued": 0, "running": 0, "done": 2, "dead": 0, "superseded": 0}


def test_attempt_numbers_continue_across_retries_and_deferrals(url: str, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    queue = RedisQueue(url, max_attempts=3, retry_intervals=[1])
    assert queue.enqueue(job("flaky"))
    calls: list[str] = []

    def failing(j: Job) -> None:
        calls.append(j.delivery_id)
        raise RuntimeError(f"boom {len(calls)}")

    def burst() -> None:
        run_worker(url, burst=True, simple=True, handler=failing)

    def state() -> tuple[str, int, str]:
        record = queue.get("flaky")
        assert record is not None
        return record.state, record.attempts, record.reason or ""

    burst()  # attempt 1 fails; its retry is due in a second
    assert calls == ["flaky"] and state() == ("queued", 1, "RuntimeError: boom 1")
    lock = queue.lock(job("flaky"))
    assert lock.acquire(blocking=False)  # another worker is on this pull request
    time.sleep(1.1)
    burst()  # attempt 2 finds the pull request busy: deferred, not counted
    assert calls == ["flaky"] and state() == ("queued", 1, "RuntimeError: boom 1")
    assert queue.rq.finished_job_registry.count == 0  # the deferred shell is deleted, not kept an hour
    lock.release()
    time.sleep(1.3)  # the first deferral waits 1 s ± 20%
    burst()  # the deferred copy runs as attempt 2 (not as a fresh attempt 1)
    assert len(calls) == 2 and state() == ("queued", 2, "RuntimeError: boom 2")
    time.sleep(1.1)
    burst()
    assert len(calls) == 3 and state() == ("dead", 3, "RuntimeError: boom 3")
    time.sleep(1.1)
    burst()
    assert len(calls) == 3  # no attempt beyond max_attempts
    monkeypatch.setenv("KUBEGUARD_REDIS_URL", url)
    assert main(["jobs", "list"]) == 0
    [row] = capsys.readouterr().out.splitlines()[1:]
    assert row.split()[:5] == ["flaky", "octo/repo#1", SHA_A[:12], "dead", "3"]
    assert queue.retry("flaky") and state()[:2] == ("queued", 0)  # an operator's retry starts a fresh count


def test_the_deferral_delay_doubles_with_jitter_up_to_a_cap() -> None:
    from bot.rq_queue import MAX_DEFER_DELAY, defer_delay

    for n in range(8):
        expected = min(2.0 ** n, MAX_DEFER_DELAY)
        delays = [defer_delay(1.0, n) for _ in range(200)]
        assert all(0.8 * expected <= d <= 1.2 * expected for d in delays), (n, min(delays), max(delays))
        assert max(delays) - min(delays) > 0.05 * expected  # jittered, not in step
    assert defer_delay(0.0, 5) == 0.0  # no delay configured: none
    assert defer_delay(1.0, 10_000) <= 1.2 * MAX_DEFER_DELAY
    assert defer_delay(60.0, 0) >= 48.0  # a base above the cap is not shortened


def test_a_job_waiting_for_a_busy_pull_request_backs_off(url: str) -> None:
    queue = RedisQueue(url, max_attempts=3)
    assert queue.enqueue(job("waiting"))
    lock = queue.lock(job("waiting"))
    assert lock.acquire(blocking=False)  # a long review of this pull request holds it
    calls: list[str] = []
    waits: list[float] = []
    try:
        for deferrals in (1, 2, 3):
            before = time.time()
            run_worker(url, burst=True, simple=True, handler=lambda j: calls.append(j.delivery_id))
            registry = queue.rq.scheduled_job_registry
            [rq_id] = registry.get_job_ids()
            copy = queue.rq.fetch_job(rq_id)
            assert copy is not None and copy.meta["deferrals"] == deferrals
            due = registry.get_scheduled_time(rq_id).timestamp()  # whole seconds (RQ truncates)
            waits.append(due - before)
            time.sleep(max(0.0, due - time.time()) + 0.3)
            lock.reacquire()
    finally:
        lock.release()
    assert calls == []
    # 1 s, 2 s, 4 s, each ±20% and truncated to the second by RQ's scheduler
    assert -1.0 <= waits[0] <= 1.2 and 0.6 <= waits[1] <= 2.4 and 2.2 <= waits[2] <= 4.8, waits
    run_worker(url, burst=True, simple=True, handler=lambda j: calls.append(j.delivery_id))
    record = queue.get("waiting")
    assert calls == ["waiting"] and record is not None and (record.state, record.attempts) == ("done", 1)


def test_purge_on_redis_forgets_finished_records_and_keeps_dedupe(url: str, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    queue = RedisQueue(url, max_attempts=1)
    assert queue.enqueue(job("ok")) and queue.enqueue(job("bad", number=2))

    def handler(j: Job) -> None:
        if j.delivery_id == "bad":
            raise RuntimeError("boom")

    run_worker(url, burst=True, simple=True, handler=handler)
    assert queue.counts()["done"] == 1 and queue.counts()["dead"] == 1
    assert queue.purge().jobs == 0  # young
    monkeypatch.setenv("KUBEGUARD_REDIS_URL", url)
    assert main(["jobs", "purge", "--older-than", "0s"]) == 0
    assert "purged 1 job(s)" in capsys.readouterr().out
    assert queue.get("ok") is None and queue.get("bad") is not None
    assert queue.purge(0, dead_older_than=0).jobs == 1 and queue.list() == []
    assert queue.enqueue(job("ok")) is False  # the delivery id is still known


def test_a_killed_work_horse_is_retried_and_a_job_abandoned_on_its_last_attempt_is_dead_with_the_reason(
        url: str, tmp_path: Path) -> None:
    from bot.rq_worker import requeue_abandoned

    env = worker_env(url, tmp_path, "rq_handlers:hang_once", KUBEGUARD_WORKER_HEARTBEAT="1", KG_HANG="oom,last")
    queue = RedisQueue(url, max_attempts=2, retry_intervals=[0])
    assert queue.enqueue(job("oom"))
    [worker] = start_workers(1, env, tmp_path)
    horses: list[int] = []
    reasons: list[str] = []
    try:
        wait_for((tmp_path / "oom.hung").exists, 15, "the first attempt to hang")
        horse, _ = map(int, (tmp_path / "oom.hung").read_text().split())
        horses.append(horse)
        os.kill(horse, signal.SIGKILL)  # what the out-of-memory killer does: the worker itself survives

        def done_once_lost() -> bool:
            record = queue.get("oom")
            if record is not None and record.reason:
                reasons.append(record.reason)
            return record is not None and record.state == "done"

        wait_for(done_once_lost, 15, "the killed horse's job to run again and finish")
        record = queue.get("oom")
        assert record is not None and record.attempts == 2
        assert any("work horse was killed by signal 9; re-queued" in r for r in reasons), reasons

        last = RedisQueue(url, max_attempts=1)  # no retry left: an abandoned job is dead, with the reason
        assert last.enqueue(job("last", number=2))
        wait_for((tmp_path / "last.hung").exists, 15, "the last attempt to hang")
        horses.append(int((tmp_path / "last.hung").read_text().split()[0]))
        os.killpg(worker.pid, signal.SIGKILL)  # no worker left: this process does the keeper's round
        worker.wait(5)

        def dead() -> bool:
            requeue_abandoned(queue.rq.name, queue.redis)
            record = queue.get("last")
            return record is not None and record.state == "dead"

        wait_for(dead, 15, "the abandoned job to be found")
    finally:
        stop_workers([worker])
        for pid in horses:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    record = queue.get("last")
    assert record is not None and record.attempts == 1
    assert record.reason is not None and record.reason.startswith("abandoned: its worker stopped sending heartbeats")
    assert record.reason.endswith("no attempts left")
    assert queue.rq.failed_job_registry.count == 1 and [r.job.delivery_id for r in queue.list("dead")] == ["last"]
    assert queue.retry("last")


def test_a_review_over_the_job_timeout_is_stopped_and_frees_its_pull_request_at_once(url: str, tmp_path: Path) -> None:
    """KUBEGUARD_JOB_TIMEOUT reaches RQ: the work horse is stopped at the limit, the attempt is recorded with
    the reason, and the pull request's lock is released then, not when its 15 s expiry runs out."""
    from bot.serve import ServiceSettings

    env = worker_env(url, tmp_path, "rq_handlers:hang_once", KG_HANG="slow")
    settings = ServiceSettings.from_env({"KUBEGUARD_REDIS_URL": url, "KUBEGUARD_JOB_TIMEOUT": "3600"},
                                        need_secrets=False)
    configured = settings.open_queue()
    assert isinstance(configured, RedisQueue) and configured.job_timeout == 3600
    assert configured.rq._default_timeout == 3600
    queue = RedisQueue(url, job_timeout=3, max_attempts=1)  # a limit the test can wait for
    assert queue.enqueue(job("slow"))
    assert queue.rq.fetch_job(queue.rq.get_job_ids()[0]).timeout == 3
    [worker] = start_workers(1, env, tmp_path)
    horse = 0
    try:
        wait_for((tmp_path / "slow.hung").exists, 15, "the slow review to start")
        started = time.time()
        horse = int((tmp_path / "slow.hung").read_text().split()[0])
        assert queue.enqueue(job("next"))  # the same pull request: deferred while the slow one holds the lock
        wait_for(lambda: (queue.get("slow") or queue.get("next")).state == "dead", 20,  # type: ignore[union-attr]
                 "the slow review to be stopped")
        stopped = time.time()
        wait_for(lambda: queue.counts()["done"] == 1, 10, "the next job of the pull request to run")
        assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
    finally:
        stop_workers([worker])
        if horse and alive(horse):
            os.kill(horse, signal.SIGKILL)
    record = queue.get("slow")
    assert record is not None and record.state == "dead" and record.attempts == 1
    assert "JobTimeoutException" in (record.reason or "") and "3 seconds" in (record.reason or "")
    assert 2.5 <= stopped - started < 7
    [(delivery, next_start, _)] = runs(tmp_path)
    assert delivery == "next" and next_start - stopped < 5  # not after the 15 s lock expiry
    assert not alive(horse)


def test_forked_work_horses_inherit_the_preloaded_review_and_the_app_login(url: str, tmp_path: Path,
                                                                          fake_github: Any,
                                                                          rsa_key: tuple[str, str]) -> None:
    """`kubeguard worker` (forking, the real review) resolves the app's slug once, in the worker process, before
    its first fork: every horse reviews as kubeguard[bot] without a `GET /app` of its own (it made one per job)."""
    from bot import review

    private, public = rsa_key
    fake_github.register_app(4242, public, installations={77: ["acme/deploy"]}, slug="kubeguard")
    fake_github.add_repo("acme", "deploy")
    config = (ROOT / "examples" / ".kubeguard.yaml").read_text()
    manifest = (ROOT / "examples" / "unhealthy.yaml").read_text()
    heads = {n: fake_github.add_pull("acme", "deploy", n, base_files={".kubeguard.yaml": config},
                                     head_files={".kubeguard.yaml": config, "app.yaml": manifest})["head"]["sha"]
             for n in (1, 2, 3)}
    key = tmp_path / "app.pem"
    key.write_text(private)
    env = {**os.environ, "KUBEGUARD_REDIS_URL": url, "KUBEGUARD_APP_ID": "4242", "KUBEGUARD_WEBHOOK_SECRET": "s",
           "KUBEGUARD_PRIVATE_KEY_PATH": str(key), "GITHUB_API_URL": fake_github.url,
           "KUBEGUARD_WRITE_INTERVAL": "0", "KUBEGUARD_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    env.pop("KUBEGUARD_JOB_HANDLER", None)
    queue = RedisQueue(url)
    for n, sha in heads.items():
        assert queue.enqueue(Job(f"d-{n}", "pull_request", "opened", 77, "acme", "deploy", n, sha))
    worker = subprocess.run([sys.executable, "-m", "bot.cli", "worker", "--burst"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert queue.counts()["done"] == 3, queue.list()
    assert [r.path for r in fake_github.requests if r.path == "/app"] == ["/app"]
    for n in heads:
        comments = fake_github.review_comments("acme", "deploy", n)
        assert comments and all(c["user"]["login"] == "kubeguard[bot]" for c in comments)
        assert any(review.SUMMARY_MARKER in c["body"] for c in fake_github.issue_comments("acme", "deploy", n))
