"""The job queue on Redis with RQ: several web processes enqueue, several ``kubeguard worker`` processes review.

Chosen when ``KUBEGUARD_REDIS_URL`` is set (``ServiceSettings.open_queue``). ``RedisQueue`` offers the methods
the webhook app uses (``enqueue_delivery``, ``enqueue``, ``counts``, ``ping``) plus ``list``/``get``/``retry``
for ``kubeguard jobs``, so ``bot.webhook.create_app`` works unchanged.

Guarantees, and how:

* **dedupe by delivery id across processes**: the mark ``kubeguard:delivery:<id>`` (7 days) is set in the same
  MULTI/EXEC transaction as the delivery's RQ jobs and records, under WATCH: a second web process that gets the
  same redelivery sees the mark (or has its EXEC aborted) and answers "duplicate", and a web process killed
  midway leaves no mark without a job, so GitHub's redelivery of a delivery it got no answer for is queued.
* **one job per pull request at a time, across worker processes**: ``perform`` takes a Redis lock
  (``redis.lock.Lock``) named after ``job.key`` without blocking. A job that cannot take it is *deferred*: it
  enqueues a copy of itself ``lock_retry_delay`` seconds later, doubling per deferral up to 15 s with jitter
  (``defer_delay``; RQ's scheduler, hence ``work(with_scheduler=True)``) and returns, so the worker is free for
  other pull requests. We chose this over RQ's ``depends_on``
  chaining because a chain breaks when a link fails for good, expires, or two web processes race to append to
  it. The lock is **short-lived and renewed**: it expires ``lock_ttl`` seconds (default 15) after its last
  renewal, and a thread of the running job renews it every ``lock_ttl / 3``; a worker that dies stops
  renewing, so its pull request is free again within ``lock_ttl``, not after the job timeout.
* **a newer head sha supersedes a queued older one**: each enqueue stores the pull request's latest sha
  (``kubeguard:latest:<key>``); ``perform``, holding the lock, skips a job whose sha is not the latest.
* **retries**: RQ's ``Retry(max=..., interval=[...])``; after the last attempt the RQ job stays in RQ's
  ``FailedJobRegistry`` with its traceback (the reason), and ``list("dead")`` shows it.
* **counts**: our own per-state sorted sets (``queued``/``running``/``done``/``dead``/``superseded``), because
  RQ's registries also hold the deferred copies; members older than their retention are dropped when counted.

* **attempt numbers**: RQ counts retries per RQ job (``retries_left``); a deferred copy is a new RQ job, so it
  is given the retries its original had left (``Retry(max=max_attempts - attempts_before - 1)``) and the
  attempt number is always ``max_attempts - retries_left``, across retries, deferrals and abandoned re-runs.

Delivery is at least once: a worker killed mid-review leaves its job in RQ's ``StartedJobRegistry``, where it
is found abandoned once its heartbeats stop and re-run by another worker (``bot.rq_worker`` makes that take
seconds, not RQ's default of up to ten minutes), and the review is idempotent, as with ``bot.jobs.SqliteQueue``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import random
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

from bot.jobs import (
    DEAD_RETENTION,
    JOB_TIMEOUT,
    MIN_DELIVERY_RETENTION,
    RETENTION,
    STATES,
    Job,
    JobRecord,
    Purged,
    QueueError,
    fault_point,
)

log = logging.getLogger("kubeguard.rq_queue")

PREFIX = "kubeguard:"
QUEUE_NAME = "kubeguard"
LOCK_TTL = 15.0  # seconds a pull request's lock outlives its last renewal
LOCK_RETRY_DELAY = 1.0  # seconds before a job that found its pull request busy first tries again
MAX_DEFER_DELAY = 15.0  # the deferral delay doubles per deferral up to this (a lock's lifetime)
HANDLER_ENV = "KUBEGUARD_JOB_HANDLER"  # test/ops hook: "module:function" taking a Job, instead of run_job
URL_ENV = "KUBEGUARD_REDIS_URL"
EXIT_ORPHANED = 70  # a work horse whose worker process died exits with this (see _LockKeeper)

_handler: Callable[[Job], None] | None = None
# what ``perform`` gives the queue it builds in a worker process (``configure_worker``)
_worker_options: dict[str, float] = {"lock_ttl": LOCK_TTL, "lock_retry_delay": LOCK_RETRY_DELAY,
                                     "retention": RETENTION, "dead_retention": DEAD_RETENTION}
_horse_parent: int | None = None  # in a forked work horse: the pid of the worker process that forked it


def set_handler(handler: Callable[[Job], None] | None) -> None:
    """The function ``perform`` calls (``kubeguard worker`` sets it before working; tests may too)."""
    global _handler
    _handler = handler


def configure_worker(*, lock_ttl: float = LOCK_TTL, lock_retry_delay: float = LOCK_RETRY_DELAY,
                     retention: float = RETENTION, dead_retention: float = DEAD_RETENTION) -> None:
    """The pull-request lock's expiry, the deferral delay and the records' retention that ``perform`` uses in
    this worker process (``kubeguard worker`` sets them from its environment before working)."""
    if lock_ttl <= 0 or lock_retry_delay < 0:
        raise ValueError("the lock ttl must be positive and the retry delay not negative")
    if retention < 0 or dead_retention < 0:
        raise ValueError("retention cannot be negative")
    _worker_options.update(lock_ttl=lock_ttl, lock_retry_delay=lock_retry_delay, retention=retention,
                           dead_retention=dead_retention)


def defer_delay(base: float, deferrals: int) -> float:
    """Seconds before a job that found its pull request busy ``deferrals`` times already tries again:
    ``base`` doubled per deferral up to ``MAX_DEFER_DELAY``, with ±20% jitter so that the copies of
    several jobs waiting for one long review do not fork their work horses in step. A fixed 1 s retry
    forked a horse per waiting job per second for as long as the review ran (minutes for a big PR)."""
    if base <= 0:
        return 0.0
    delay = min(base * 2 ** min(deferrals, 32), max(base, MAX_DEFER_DELAY))
    return delay * random.uniform(0.8, 1.2)


def set_horse_parent(pid: int | None) -> None:
    """Called in a work horse right after the fork (``bot.rq_worker``): the worker process's pid, so the horse
    can tell that its worker died (it is then reparented) and stop instead of holding the lock as an orphan."""
    global _horse_parent
    _horse_parent = pid


def load_handler(spec: str) -> Callable[[Job], None]:
    """``module:function`` → the function (for ``KUBEGUARD_JOB_HANDLER``)."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"{HANDLER_ENV} must be module:function, not {spec!r}")
    func = getattr(importlib.import_module(module), name)
    if not callable(func):
        raise ValueError(f"{HANDLER_ENV}: {spec} is not callable")
    return func  # type: ignore[no-any-return]


def _current_handler() -> Callable[[Job], None]:
    global _handler
    if _handler is None:
        spec = os.environ.get(HANDLER_ENV, "").strip()
        if spec:
            _handler = load_handler(spec)
        else:
            import functools

            from bot.pipeline import run_job
            from bot.serve import ServiceSettings

            _handler = functools.partial(run_job, ServiceSettings.from_env(os.environ))
    return _handler


def _seconds(value: float) -> int:
    """A whole number of seconds for Redis's EX/EXPIRE and RQ's ttls, at least 1 (0 would mean "delete now")."""
    return max(1, int(value))


def _connect(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def forget_expired_executions(job_ids: list[str], connection: Any) -> None:
    """Drop the entries of a job's execution index whose execution record has already expired.

    RQ 3.0 scores an execution in the job's index 60 s past its record's TTL. A work horse killed
    with short heartbeats leaves an index entry for up to a minute after its record is gone, and
    cleaning up or deleting the job then fails with "Execution ... not found in Redis" (each round,
    until the entry ages out): the abandoned job would wait that minute to be retried, and
    ``kubeguard jobs retry`` of a job that died that way would raise.
    """
    from rq.executions import Execution, ExecutionRegistry

    for job_id in job_ids:
        index = ExecutionRegistry(job_id, connection)
        for raw in connection.zrange(index.key, 0, -1):
            execution_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            if not connection.exists(Execution(execution_id, job_id, connection).key):
                connection.zrem(index.key, raw)


class RedisQueue:
    """The webhook's queue on Redis (see the module's docstring). ``url``: ``redis://host:port/db``.

    ``lock_ttl`` and ``lock_retry_delay`` matter on the worker's side only (``perform`` builds its queue with
    the worker's values); the web processes only enqueue. ``job_timeout``: RQ stops a review running longer
    (the attempt fails). ``retention``: how long the records of done and superseded jobs are kept (and the
    delivery ids, at least ``MIN_DELIVERY_RETENTION``); ``dead_retention``: dead ones.
    """

    def __init__(self, url: str | None = None, *, connection: Any = None, max_attempts: int = 5,
                 retry_intervals: Sequence[int] = (10, 60, 300, 900), job_timeout: int = JOB_TIMEOUT,
                 lock_ttl: float = LOCK_TTL, lock_retry_delay: float = LOCK_RETRY_DELAY,
                 retention: float = RETENTION, dead_retention: float = DEAD_RETENTION,
                 queue_name: str = QUEUE_NAME) -> None:
        from rq import Queue

        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if lock_ttl <= 0:
            raise ValueError("lock_ttl must be positive")
        if job_timeout < 1:
            raise ValueError("job_timeout must be at least 1 second")
        if retention < 0 or dead_retention < 0:
            raise ValueError("retention cannot be negative")
        self.retention, self.dead_retention = retention, dead_retention
        # dedupe marks and latest shas: GitHub may redeliver on request for 3 days, whatever the retention
        self.delivery_retention = max(retention, MIN_DELIVERY_RETENTION)
        self.max_attempts = max_attempts
        self.retry_intervals = list(retry_intervals) or [0]
        self.job_timeout = job_timeout
        self.lock_ttl = lock_ttl
        self.lock_retry_delay = lock_retry_delay
        if (url is None) == (connection is None):
            raise ValueError("give a Redis URL or a connection")
        self.redis = connection if connection is not None else _connect(url)
        self.rq = Queue(queue_name, connection=self.redis, default_timeout=job_timeout)

    def __repr__(self) -> str:
        return f"RedisQueue(queue={self.rq.name!r})"  # not the URL: it may carry a password

    # -- keys ------------------------------------------------------------------------------------------

    @staticmethod
    def _delivery_key(delivery_id: str) -> str:
        return f"{PREFIX}delivery:{delivery_id}"

    @staticmethod
    def _latest_key(job: Job) -> str:
        return f"{PREFIX}latest:{job.key}"

    @staticmethod
    def _lock_key(job: Job) -> str:
        return f"{PREFIX}lock:{job.key}"

    @staticmethod
    def _record_key(delivery_id: str) -> str:
        return f"{PREFIX}job:{delivery_id}"

    @staticmethod
    def _state_key(state: str) -> str:
        return f"{PREFIX}state:{state}"

    # -- the webhook's side ----------------------------------------------------------------------------

    def ping(self) -> None:
        try:
            self.redis.ping()
        except Exception as exc:  # redis.RedisError and socket errors alike
            raise QueueError(f"redis: {type(exc).__name__}") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self.redis.close()

    def enqueue(self, job: Job) -> bool:
        return self.enqueue_delivery(job.delivery_id, [job])

    def enqueue_delivery(self, delivery_id: str, jobs: list[Job]) -> bool:
        """Record the delivery (once across all processes) and queue its jobs; False if it was seen before.

        One MULTI/EXEC transaction sets the delivery's mark, the pull requests' latest shas, the RQ jobs
        (through RQ's pipeline support) and their records, so a web process that dies midway leaves none of
        them and GitHub's redelivery is queued, not answered "duplicate" with nothing queued. The mark is
        WATCHed: of two processes racing with one redelivery, the one whose EXEC comes second is aborted and
        answers "duplicate".
        """
        from redis.exceptions import WatchError

        key = self._delivery_key(delivery_id)
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.watch(key)
                if pipe.exists(key):
                    return False
                pipe.multi()
                pipe.set(key, "1", ex=_seconds(self.delivery_retention))
                fault_point("delivery-marked")
                for job in jobs:
                    pipe.set(self._latest_key(job), job.head_sha, ex=_seconds(self.delivery_retention))
                    self._submit(job, attempts_before=0, pipeline=pipe)
                pipe.execute()
        except WatchError:  # another process recorded this delivery between our WATCH and EXEC
            return False
        except Exception as exc:  # nothing was applied: the redelivery will be queued
            raise QueueError(f"redis: {type(exc).__name__}") from None
        fault_point("delivery-queued")
        return True

    def _submit(self, job: Job, *, attempts_before: int, delay: float = 0, deferrals: int = 0,
                pipeline: Any = None) -> str:
        """One RQ job for ``job``, which has had ``attempts_before`` attempts already: it gets the retries
        left (so ``perform``'s attempt number, ``max_attempts - retries_left``, continues the count).
        ``deferrals``: how often it found its pull request busy so far (in the RQ job's meta).

        The RQ job and its record are written in one transaction: ``pipeline``'s (in MULTI mode, executed by
        the caller), or one of its own."""
        from rq import Retry

        own = pipeline is None
        pipe = self.redis.pipeline(transaction=True) if own else pipeline
        if own:
            pipe.multi()
        retries = self.max_attempts - attempts_before - 1
        retry = Retry(max=retries, interval=self.retry_intervals) if retries > 0 else None
        options: dict[str, Any] = {"retry": retry, "job_timeout": self.job_timeout, "result_ttl": 3600,
                                   "failure_ttl": _seconds(self.dead_retention),
                                   "description": f"review {job.key} {job.head_sha[:12]}",
                                   "meta": {"delivery_id": job.delivery_id, "key": job.key, "deferrals": deferrals},
                                   "pipeline": pipe}
        args = (job.to_json(), self.max_attempts, list(self.retry_intervals), self.job_timeout)
        try:
            if delay > 0:
                rq_job = self.rq.enqueue_in(timedelta(seconds=delay), perform, *args, **options)
            else:
                rq_job = self.rq.enqueue(perform, *args, **options)
            self._set_state(job, "queued", rq_id=rq_job.id, attempts=attempts_before,
                            keep_reason=attempts_before > 0, pipeline=pipe)
            if own:
                pipe.execute()
        finally:
            if own:
                pipe.reset()
        return str(rq_job.id)

    # -- state records ---------------------------------------------------------------------------------

    def _keep(self, state: str) -> float:
        """How long a record in ``state`` is kept: queued and running ones as long as the longest retention
        (they are never purged on SQLite either; a record that expired under a waiting job would hide it)."""
        if state == "dead":
            return self.dead_retention
        if state in ("done", "superseded"):
            return self.retention
        return max(self.retention, self.dead_retention, MIN_DELIVERY_RETENTION)

    def _set_state(self, job: Job, state: str, *, reason: str | None = None, rq_id: str | None = None,
                   attempts: int | None = None, keep_reason: bool = False, pipeline: Any = None) -> None:
        """The job's record and state entry; on ``pipeline`` (MULTI mode, the caller executes it) if given."""
        now = time.time()
        record_key = self._record_key(job.delivery_id)
        fields: dict[str, Any] = {"state": state, "updated": now, "payload": job.to_json()}
        if reason is not None or not keep_reason:
            fields["reason"] = reason or ""
        if rq_id is not None:
            fields["rq_id"] = rq_id
        if attempts is not None:
            fields["attempts"] = attempts
        pipe = self.redis.pipeline(transaction=True) if pipeline is None else pipeline
        pipe.hsetnx(record_key, "created", now)
        pipe.hset(record_key, mapping=fields)
        pipe.expire(record_key, _seconds(self._keep(state)))
        for other in STATES:
            if other != state:
                pipe.zrem(self._state_key(other), job.delivery_id)
        pipe.zadd(self._state_key(state), {job.delivery_id: now})
        if pipeline is None:
            pipe.execute()

    def record_lost(self, rq_job: Any, cause: str) -> None:
        """The RQ job's worker (or work horse) died mid-run: its record goes back to ``queued`` (RQ retries it)
        or to ``dead`` (no retries left). Only the record of that very RQ job (not of a newer copy) is changed."""
        try:
            job = Job.from_json(rq_job.args[0])
        except (IndexError, TypeError, ValueError, KeyError):
            return
        current = self.redis.hget(self._record_key(job.delivery_id), "rq_id")
        if current is not None and current.decode() != rq_job.id:
            return
        retries = rq_job.retries_left or 0
        state = "queued" if retries > 0 else "dead"
        what = "re-queued" if retries > 0 else "no attempts left"
        self._set_state(job, state, reason=f"{cause}; {what}")
        log.warning("job %s of %s lost its worker (%s): %s", job.delivery_id, job.key, cause, state)

    def counts(self) -> dict[str, int]:
        """Jobs per state (queued, running, done, dead, superseded) over their retention."""
        try:
            now = time.time()
            pipe = self.redis.pipeline(transaction=False)
            for state in STATES:
                pipe.zremrangebyscore(self._state_key(state), "-inf", now - self._keep(state))
                pipe.zcard(self._state_key(state))
            values = pipe.execute()
        except Exception as exc:
            raise QueueError(f"redis: {type(exc).__name__}") from None
        return {state: int(values[2 * i + 1]) for i, state in enumerate(STATES)}

    def purge(self, older_than: float | None = None, *, dead_older_than: float | None = None,
              now: float | None = None) -> Purged:
        """Forget done and superseded jobs unchanged for ``older_than`` seconds (default ``retention``) and dead
        ones for ``dead_older_than`` (default ``dead_retention``). The records expire by themselves too; this is
        ``kubeguard jobs purge`` for an operator who wants them gone sooner. Delivery ids are not touched: they
        expire after ``delivery_retention``, past GitHub's 3 days of redelivery on request."""
        now = time.time() if now is None else now
        older = self.retention if older_than is None else older_than
        limits = {"done": older, "superseded": older,
                  "dead": self.dead_retention if dead_older_than is None else dead_older_than}
        removed = 0
        for state, keep in limits.items():
            key = self._state_key(state)
            ids = [m.decode() for m in self.redis.zrangebyscore(key, "-inf", now - keep)]
            if not ids:
                continue
            pipe = self.redis.pipeline(transaction=True)
            pipe.zrem(key, *ids)
            pipe.delete(*(self._record_key(i) for i in ids))
            pipe.execute()
            removed += len(ids)
        return Purged(removed, 0)

    def get(self, delivery_id: str) -> JobRecord | None:
        raw = self.redis.hgetall(self._record_key(delivery_id))
        if not raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        return JobRecord(Job.from_json(data["payload"]), data["state"], int(data.get("attempts") or 0),
                         data.get("reason") or None, 0.0, data.get("worker") or None,
                         float(data.get("created") or 0), float(data.get("updated") or 0))

    def list(self, state: str | None = None, *, limit: int | None = None) -> list[JobRecord]:
        """Jobs, oldest change first; only those in ``state`` when given."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r} (one of {', '.join(STATES)})")
        ids: list[str] = []
        for s in [state] if state else STATES:
            ids += [m.decode() for m in self.redis.zrange(self._state_key(s), 0, -1)]
        records = [r for r in (self.get(i) for i in ids) if r is not None]
        records.sort(key=lambda r: (r.created, r.job.delivery_id))
        return records[:limit] if limit is not None else records

    def retry(self, delivery_id: str) -> bool:
        """A dead job back in the queue with fresh attempts (removed from RQ's failed registry)."""
        record = self.get(delivery_id)
        if record is None or record.state != "dead":
            return False
        rq_id = self.redis.hget(self._record_key(delivery_id), "rq_id")
        if rq_id:
            forget_expired_executions([rq_id.decode()], self.redis)
            self.rq.failed_job_registry.remove(rq_id.decode(), delete_job=True)
        self._submit(record.job, attempts_before=0)
        return True

    # -- the worker's side -----------------------------------------------------------------------------

    def lock(self, job: Job) -> Any:
        from redis.lock import Lock

        return Lock(self.redis, self._lock_key(job), timeout=self.lock_ttl, blocking=False)

    def latest_sha(self, job: Job) -> str | None:
        value = self.redis.get(self._latest_key(job))
        return None if value is None else value.decode()

    def run(self, job: Job, handler: Callable[[Job], None], *, final_attempt: bool, attempt: int,
            deferrals: int = 0) -> str:
        """One attempt of ``job`` under its pull request's lock; the outcome (``deferred``, ``superseded``,
        ``done``). A failing handler's exception propagates (RQ retries it) after the state is recorded.
        ``deferrals``: how often this job found its pull request busy before (its next wait doubles)."""
        lock = self.lock(job)
        if not lock.acquire(blocking=False):
            self._submit(job, attempts_before=attempt - 1, delay=defer_delay(self.lock_retry_delay, deferrals),
                         deferrals=deferrals + 1)
            return "deferred"
        keeper = _LockKeeper(lock, job, interval=self.lock_ttl / 3, parent=_horse_parent)
        keeper.start()
        try:
            latest = self.latest_sha(job)
            if latest is not None and latest != job.head_sha:
                self._set_state(job, "superseded", reason=f"superseded by {latest[:12]}")
                return "superseded"
            self._set_state(job, "running", attempts=attempt, keep_reason=True)
            try:
                handler(job)
            except Exception as exc:
                reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                self._set_state(job, "dead" if final_attempt else "queued", reason=reason)
                raise
            self._set_state(job, "done")
            return "done"
        finally:
            keeper.stop()
            try:
                lock.release()
            except Exception:  # expired (renewals failed for longer than lock_ttl): nothing to release
                log.warning("lock of %s had expired", job.key)


class _LockKeeper:
    """Renews a pull request's lock every ``interval`` seconds while its job runs (a daemon thread).

    In a forked work horse (``parent`` set) it also watches the worker process: once the horse has been
    reparented, its worker is dead, nobody will record the outcome and the job will be re-run elsewhere, so
    the horse releases the lock and exits (``EXIT_ORPHANED``) rather than run on as an orphan beside the re-run.
    """

    def __init__(self, lock: Any, job: Job, *, interval: float, parent: int | None) -> None:
        self.lock, self.job, self.interval, self.parent = lock, job, interval, parent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"kubeguard-lock-{job.key}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(max(1.0, self.interval))

    def _run(self) -> None:
        from redis.exceptions import LockError

        while not self._stop.wait(self.interval):
            if self.parent is not None and os.getppid() != self.parent:
                log.error("the worker process of job %s died; its work horse stops", self.job.delivery_id)
                with contextlib.suppress(Exception):
                    self.lock.release()
                os._exit(EXIT_ORPHANED)
            try:
                self.lock.reacquire()
            except LockError:  # expired and perhaps taken: the pull request is no longer serialised
                log.error("lost the lock of %s while job %s ran", self.job.key, self.job.delivery_id)
                return
            except Exception as exc:  # Redis unreachable for a moment: try again at the next tick
                log.warning("cannot renew the lock of %s: %s", self.job.key, type(exc).__name__)


def perform(job_json: str, max_attempts: int = 5, retry_intervals: Iterable[int] = (), job_timeout: int = JOB_TIMEOUT,
            *_legacy: Any) -> str:
    """The RQ job: run the handler for one ``Job`` (JSON) with the guarantees of ``RedisQueue.run``.

    The Redis connection is the worker's (the URL, which may hold a password, is not stored in the job).
    """
    from rq import get_current_job

    job = Job.from_json(job_json)
    current = get_current_job()
    if current is not None:
        connection = current.connection
    else:  # called outside a worker (a shell, a test)
        url = os.environ.get(URL_ENV, "")
        if not url:
            raise RuntimeError(f"{URL_ENV} is not set")
        connection = _connect(url)
    queue = RedisQueue(connection=connection, queue_name=current.origin if current is not None else QUEUE_NAME,
                       max_attempts=max_attempts, retry_intervals=list(retry_intervals) or [0],
                       job_timeout=job_timeout, **_worker_options)
    retries_left = (current.retries_left if current is not None else None) or 0
    attempt = max(1, max_attempts - retries_left)
    deferrals = int((current.meta or {}).get("deferrals") or 0) if current is not None else 0
    outcome = queue.run(job, _current_handler(), final_attempt=retries_left == 0, attempt=attempt,
                        deferrals=deferrals)
    if outcome == "deferred" and current is not None:
        current.result_ttl = 0  # an empty shell (its copy carries on): RQ deletes it instead of keeping it an hour
    log.info("job %s of %s: %s", job.delivery_id, job.key, outcome)
    return outcome


def run_worker(url: str, *, queue_name: str = QUEUE_NAME, burst: bool = False, simple: bool = False,
               handler: Callable[[Job], None] | None = None, settings: Any = None, service: Any = None,
               preload: Callable[[], bool] | None = None) -> bool:
    """``kubeguard worker`` (see ``bot.rq_worker.run_worker``)."""
    from bot import rq_worker

    return rq_worker.run_worker(url, queue_name=queue_name, burst=burst, simple=simple, handler=handler,
                                settings=settings, service=service, preload=preload)
