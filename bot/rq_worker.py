"""``kubeguard worker``: an RQ worker for the Redis queue that notices dead workers in seconds.

What RQ 3.0 does by itself when a worker is ``kill -9``-ed mid-job (read in ``rq/worker``, ``rq/registry.py``,
``rq/scheduler.py``): the running job stays in the queue's ``StartedJobRegistry`` with a score of
``last heartbeat + min(job_monitoring_interval, time left) + 60`` (30 s between heartbeats by default), and only
``StartedJobRegistry.cleanup`` re-queues it (``job.retry``, through the scheduler when the retry has an
interval). Cleanup runs in ``clean_registries``, which an *idle* worker calls every ``maintenance_interval``
(600 s) between two blocking dequeues of up to ``worker_ttl - 15`` (405 s). A dead worker that held the
scheduler lock (``interval + 60`` = 61 s) is replaced only at another worker's next maintenance. So a job could
wait ten minutes or more; and the killed worker's forked work horse (its own process group) runs on as an
orphan holding the pull request's lock.

What this module changes, each bounded by ``WorkerSettings`` (one knob, ``KUBEGUARD_WORKER_HEARTBEAT``):

* heartbeats every ``heartbeat`` seconds while a job runs, and a grace of ``grace`` instead of RQ's fixed
  60 s (``get_heartbeat_ttl``): a job is abandoned ``heartbeat + grace`` seconds after its last heartbeat;
* a *keeper* thread in every worker process, every ``keeper_interval`` seconds: ``StartedJobRegistry.cleanup``
  (under RQ's own maintenance lock, so two cleaners never re-queue one job twice), which retries abandoned
  jobs, and a check of the scheduler: one silent for ``scheduler_stale`` seconds loses its lock and this
  worker starts its own;
* the work horse knows its worker's pid (``main_work_horse``): ``bot.rq_queue`` stops a horse whose worker
  died instead of letting it hold the lock;
* the records (``kubeguard jobs list``) of an abandoned job or a killed horse say so (``RedisQueue.record_lost``).

Work horses start warm: a forked horse inherits its worker's memory, so what every review needs is done once
in the worker process before the first fork (``preload_review``): PyGithub and the review modules imported, the
rule and fix registries discovered, the app's slug resolved (``GET /app``; retried before each fork until it
succeeds), then ``gc.freeze()`` so the horses' collections neither walk nor copy-on-write those objects.
Forking stays the default for its isolation: a job that crashes or leaks takes only its horse down.

With the defaults (heartbeat 5 s) a job whose worker was killed is found within about 20 s, re-queued with its
first retry interval (10 s) and re-run once its pull request's lock (15 s, no longer renewed) is free.
``--simple`` workers run the job in the worker process, which then sends no heartbeat until the job ends: a
killed simple worker's job is found only after the job timeout (RQ's rule), so use it for debugging only.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot import rq_queue
from bot.jobs import Job

log = logging.getLogger("kubeguard.rq_worker")

HEARTBEAT_ENV = "KUBEGUARD_WORKER_HEARTBEAT"


@dataclass(frozen=True)
class WorkerSettings:
    """How fast a dead worker is noticed; ``from_heartbeat(h)`` derives all from one number of seconds."""

    heartbeat: int = 5  # seconds between a running job's heartbeats (RQ's job_monitoring_interval)
    grace: int = 10  # a job whose last heartbeat is heartbeat + grace seconds old is abandoned
    keeper_interval: float = 5.0  # how often each worker looks for abandoned jobs and a silent scheduler
    scheduler_stale: float = 15.0  # a scheduler silent this long (it beats every second) is replaced
    lock_ttl: float = 15.0  # a pull request's lock expires this long after its last renewal
    lock_retry_delay: float = 1.0  # a job whose pull request is busy tries again after this

    def __post_init__(self) -> None:
        if self.heartbeat < 1 or self.grace < 1:
            raise ValueError("heartbeat and grace are whole seconds, at least 1")  # RQ's alarm() needs >= 1
        if self.keeper_interval <= 0 or self.scheduler_stale <= 0 or self.lock_ttl <= 0:
            raise ValueError("intervals must be positive")

    @classmethod
    def from_heartbeat(cls, heartbeat: int) -> WorkerSettings:
        return cls(heartbeat=heartbeat, grace=2 * heartbeat, keeper_interval=float(heartbeat),
                   scheduler_stale=3.0 * heartbeat, lock_ttl=3.0 * heartbeat)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WorkerSettings:
        raw = environ.get(HEARTBEAT_ENV, "").strip()
        if not raw:
            return cls()
        if not raw.isdigit() or not 1 <= int(raw) <= 300:
            raise ValueError(f"{HEARTBEAT_ENV} must be a whole number of seconds from 1 to 300")
        return cls.from_heartbeat(int(raw))


def _lost(job: Any, cause: str) -> None:
    with contextlib.suppress(Exception):  # bookkeeping only: never in the way of RQ's own handling
        rq_queue.RedisQueue(connection=job.connection, queue_name=job.origin).record_lost(job, cause)


def record_abandoned(job: Any, exc_type: Any, exc_value: Any, tb: Any) -> None:
    """RQ exception handler: ``StartedJobRegistry.cleanup`` calls it with ``AbandonedJobError`` for a job
    whose worker stopped sending heartbeats (before RQ retries it or moves it to the failed registry)."""
    from rq.exceptions import AbandonedJobError

    if exc_type is AbandonedJobError:
        _lost(job, "abandoned: its worker stopped sending heartbeats (killed or cut off)")
    # None: RQ carries on with the next handler


def record_horse_killed(job: Any, retpid: int | None, ret_val: int | None, rusage: Any) -> None:
    """RQ's ``work_horse_killed_handler``: the forked horse died (out of memory, ``kill -9``) mid-job."""
    if ret_val is not None and os.WIFSIGNALED(ret_val):
        cause = f"its work horse was killed by signal {os.WTERMSIG(ret_val)}"
    elif ret_val is not None and os.WIFEXITED(ret_val) and os.WEXITSTATUS(ret_val) == rq_queue.EXIT_ORPHANED:
        cause = "its work horse stopped: the worker process had died"
    else:
        cause = f"its work horse ended unexpectedly (status {ret_val})"
    _lost(job, cause)


class _Fast:
    """Mixed into RQ's worker classes (see the module's docstring)."""

    kubeguard: WorkerSettings
    kubeguard_preload: Callable[[], bool] | None
    _keeper_stop: threading.Event

    def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
        interval = float(self.kubeguard.heartbeat)
        if job.timeout and job.timeout > 0:
            interval = min(interval, job.timeout - working_time)
        return int(max(interval, 0)) + self.kubeguard.grace

    def fork_work_horse(self, job: Any, queue: Any) -> None:
        _run_preload(self)
        super().fork_work_horse(job, queue)  # type: ignore[misc]

    def main_work_horse(self, job: Any, queue: Any) -> None:
        rq_queue.set_horse_parent(os.getppid())
        super().main_work_horse(job, queue)  # type: ignore[misc]

    def work(self, *args: Any, **kwargs: Any) -> bool:
        self._keeper_stop = threading.Event()
        keeper = None
        if not kwargs.get("burst"):
            keeper = threading.Thread(target=self._keep, name="kubeguard-keeper", daemon=True)
            keeper.start()
        try:
            return bool(super().work(*args, **kwargs))  # type: ignore[misc]
        finally:
            self._keeper_stop.set()
            if keeper is not None:
                keeper.join(5)
            scheduler = getattr(self, "scheduler", None)
            if scheduler is not None and scheduler._process is not None and scheduler._process.is_alive():
                self.stop_scheduler()  # type: ignore[attr-defined]  # one the keeper revived during shutdown

    def _keep(self) -> None:
        connection = _fresh_connection(self.connection)  # type: ignore[attr-defined]
        while not self._keeper_stop.wait(self.kubeguard.keeper_interval):
            try:
                for queue in self.queues:  # type: ignore[attr-defined]
                    requeue_abandoned(queue.name, connection)
                    self._watch_scheduler(queue.name, connection)
            except Exception as exc:  # Redis away for a moment: the next tick tries again
                log.warning("keeper: %s: %s", type(exc).__name__, exc)

    def _watch_scheduler(self, queue_name: str, connection: Any) -> None:
        from rq.scheduler import RQScheduler

        if free_stale_scheduler_lock(queue_name, connection, self.kubeguard.scheduler_stale):
            log.warning("the scheduler of queue %s was silent for %.0f s: taking over", queue_name,
                        self.kubeguard.scheduler_stale)
        scheduler = getattr(self, "scheduler", None)
        if scheduler is None or self._keeper_stop.is_set() or getattr(self, "_stop_requested", False):
            return  # no scheduler to revive, or the worker is shutting down
        if connection.exists(RQScheduler.get_locking_key(queue_name)):
            return
        process = scheduler._process  # RQ's run_maintenance_tasks looks at it the same way
        if process is None or not process.is_alive():
            scheduler.acquire_locks(auto_start=True)


def _run_preload(worker: Any) -> None:
    """The worker's preload, until it has fully succeeded (then never again), and ``gc.freeze()`` after it."""
    preload = getattr(worker, "kubeguard_preload", None)
    if preload is None:
        return
    try:
        complete = preload()
    except Exception as exc:  # never in the way of the job: the horse then does the work itself
        log.warning("preloading for the work horses failed: %s: %s", type(exc).__name__, exc)
        complete = False
    gc.collect()
    gc.freeze()  # what exists now is shared with every horse: their collections leave it alone
    if complete:
        worker.kubeguard_preload = None


def preload_review(settings: Any) -> bool:
    """What every review does first, done in the worker process so that each forked work horse inherits it:
    the imports (PyGithub alone is ~0.1 s), the rule and fix registries, and the app's login (one
    ``GET /app``, which ``bot.pipeline.run_job`` caches per process). False if the login is not known yet
    (GitHub unreachable: the next fork tries again). ``settings``: ``bot.serve.ServiceSettings``."""
    import bot.github_client  # noqa: F401  (imports PyGithub: the work horses inherit it)
    import fixes
    import rules
    from bot import pipeline

    rules.all_rules()
    fixes.all_fixes()
    if settings.app_id is None or settings.private_key is None:
        return True
    try:
        pipeline.app_login(settings)
    except Exception as exc:  # GitHubError and transport errors alike
        log.warning("cannot resolve the app's slug yet (%s); retried before the next job", type(exc).__name__)
        return False
    return True


def _fresh_connection(connection: Any) -> Any:
    """A client of its own for the keeper thread, with the worker's connection settings."""
    import redis

    kwargs = dict(connection.connection_pool.connection_kwargs)
    return redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=connection.connection_pool.connection_class, **kwargs))


def requeue_abandoned(queue_name: str, connection: Any) -> None:
    """RQ's cleanup of the queue's started jobs whose heartbeats stopped (retried, or failed when no retry is
    left), under RQ's maintenance lock, recording each in the job's record."""
    from rq import Queue
    from rq.registry import StartedJobRegistry

    queue = Queue(queue_name, connection=connection)
    registry = StartedJobRegistry(queue=queue)
    if not connection.zcount(registry.key, 0, time.time()):
        return  # nothing expired: skip the lock (the common case)
    if not queue.acquire_maintenance_lock():
        return
    try:
        rq_queue.forget_expired_executions(registry.get_expired_job_ids(), connection)
        registry.cleanup(exception_handlers=[record_abandoned])
    finally:
        queue.release_maintenance_lock()


def free_stale_scheduler_lock(queue_name: str, connection: Any, stale_after: float) -> bool:
    """Delete the queue's scheduler lock if its holder has not beaten for ``stale_after`` seconds (or left no
    trace); compare-and-delete, so a lock that changed hands meanwhile is left alone. True if deleted."""
    from rq.exceptions import SchedulerNotFound
    from rq.scheduler import RQScheduler
    from rq.scripts import release_lock

    key = RQScheduler.get_locking_key(queue_name)
    holder = connection.get(key)
    if holder is None:
        return False
    name = holder.decode()
    try:
        beat = RQScheduler.fetch(name, connection).last_heartbeat
    except SchedulerNotFound:
        beat = None
    if beat is not None and time.time() - beat.timestamp() < stale_after:
        return False
    return bool(release_lock(connection, key, name))


def _worker_classes() -> tuple[type, type]:
    from rq import SimpleWorker, Worker

    class KubeguardWorker(_Fast, Worker):  # type: ignore[misc]
        pass

    class KubeguardSimpleWorker(_Fast, SimpleWorker):  # type: ignore[misc]
        pass

    return KubeguardWorker, KubeguardSimpleWorker


def run_worker(url: str, *, queue_name: str = rq_queue.QUEUE_NAME, burst: bool = False, simple: bool = False,
               handler: Callable[[Job], None] | None = None, settings: WorkerSettings | None = None,
               service: Any = None, preload: Callable[[], bool] | None = None) -> bool:
    """``kubeguard worker``: an RQ worker (with the scheduler, for retries and deferred jobs) on the queue.

    ``service``: the ``bot.serve.ServiceSettings`` of this worker (the records' retention). ``preload``: run in
    this process before forking a work horse, until it returns True (``preload_review`` for the review)."""
    from rq import Queue

    settings = settings or WorkerSettings()
    if handler is not None:
        rq_queue.set_handler(handler)
    retention = {} if service is None else {"retention": service.job_retention,
                                            "dead_retention": service.dead_job_retention}
    rq_queue.configure_worker(lock_ttl=settings.lock_ttl, lock_retry_delay=settings.lock_retry_delay, **retention)
    connection = rq_queue._connect(url)
    queue = Queue(queue_name, connection=connection)
    forking, in_process = _worker_classes()
    worker = (in_process if simple else forking)(
        [queue], connection=connection, job_monitoring_interval=settings.heartbeat,
        exception_handlers=[record_abandoned], work_horse_killed_handler=record_horse_killed)
    worker.kubeguard = settings
    worker.kubeguard_preload = preload
    _run_preload(worker)  # before the scheduler and the first job: the horses are forked warm
    return bool(worker.work(with_scheduler=True, burst=burst))
