"""Durable job queue for the webhook (SQLite, standard library only) and the worker pool that drains it.

Why SQLite: the webhook must answer GitHub within 10 seconds and must not lose a delivery when the process
restarts, so the only work done while GitHub waits is one committed insert. WAL mode with
``synchronous=FULL`` makes that insert durable before the answer; ``BEGIN IMMEDIATE`` takes the write lock
at the start of every read-modify-write, so several threads and several processes may share one file.

States::

    queued ──claim──► running ──complete──► done
      ▲  │              │ fail (attempts left: back to queued after a backoff)
      │  │              └──── fail (no attempts left) / lost lease too often ──► dead ──retry──► queued
      │  └─ a newer delivery for the same pull request ──► superseded
      └──── recover(): the lease of a dead worker (or an expired lease) ──┘

Delivery is **at least once**: a worker killed after the review was published but before ``complete``
committed leaves a lease that ``recover`` hands out again. That is safe because the review pipeline is
idempotent (comments carry fingerprints, the summary is edited in place).

Retention (``purge``, run hourly by the ``WorkerPool``'s heartbeat and by ``kubeguard jobs purge``): done and
superseded jobs are forgotten ``retention`` seconds (default 7 days) after their last change; dead jobs are
kept until retried or ``dead_retention`` (default 30 days) old, because a dead job is work nobody has done yet
and an operator may only look weekly; queued and running jobs are never purged. Delivery ids, the dedupe
record, are kept for the retention too, and never less than ``MIN_DELIVERY_RETENTION``: GitHub lets anyone
with access redeliver a delivery of the last 3 days (UI or API), which must still be recognised as a duplicate.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot import logs

log = logging.getLogger("kubeguard.jobs")

STATES = ("queued", "running", "done", "dead", "superseded")
DAY = 24 * 3600
RETENTION = 7 * DAY  # done and superseded jobs are purged this long after their last change
DEAD_RETENTION = 30 * DAY  # dead jobs wait this long for `kubeguard jobs retry`
# GitHub redelivers on request any delivery of the last 3 days: its id must still be known (plus a day's margin)
MIN_DELIVERY_RETENTION = 4 * DAY
# Seconds a review may take (KUBEGUARD_JOB_TIMEOUT): a pull request of GitHub's 3,000 files takes minutes
# against the real API. RQ stops a work horse past it; the embedded pool's threads cannot be stopped, so it
# reports an over-time job and keeps renewing its lease (a second run beside it would break serialisation).
JOB_TIMEOUT = 30 * 60
PURGE_INTERVAL = 3600.0  # the worker pool purges this often
_PURGE_BATCH = 500  # rows per transaction: the webhook's inserts never wait for a long delete
# A process's identity in lease owners: the pid alone is not enough, a restarted container reuses pid 1.
_PROCESS_TOKEN = uuid.uuid4().hex[:12]
# Where a test may make this process die (``set_fault_hook``): ``delivery-marked``, the delivery id is written
# but its jobs are not yet; ``delivery-queued``, all of the delivery is committed, the answer not yet given.
FAULT_POINTS = ("delivery-marked", "delivery-queued")
_fault_hook: Callable[[str], None] | None = None

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY,
    received REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    key TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    reason TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, not_before);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs (key, state);
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs (state, updated);
CREATE INDEX IF NOT EXISTS jobs_delivery ON jobs (delivery_id);
CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received);
"""


@dataclass(frozen=True)
class Job:
    """One review to run: a pull request at a head commit, and the delivery that asked for it.

    ``delivery_id`` is the job's id. It is GitHub's ``X-GitHub-Delivery`` when the delivery asks for one
    review; a ``check_run`` delivery naming several pull requests gets ``<delivery>:<number>`` per job.
    """

    delivery_id: str
    event: str
    action: str
    installation_id: int | None
    owner: str
    repo: str
    number: int
    head_sha: str

    @property
    def key(self) -> str:
        """``owner/repo#number``: jobs with the same key never run at the same time."""
        return f"{self.owner}/{self.repo}#{self.number}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a job is a JSON object")
        installation = data.get("installation_id")
        return cls(
            delivery_id=str(data["delivery_id"]),
            event=str(data["event"]),
            action=str(data["action"]),
            installation_id=None if installation is None else int(installation),
            owner=str(data["owner"]),
            repo=str(data["repo"]),
            number=int(data["number"]),
            head_sha=str(data["head_sha"]),
        )


@dataclass(frozen=True)
class JobRecord:
    """A job as the queue holds it (for ``list`` and ``kubeguard jobs``)."""

    job: Job
    state: str
    attempts: int
    reason: str | None
    not_before: float
    lease_owner: str | None
    created: float
    updated: float


@dataclass(frozen=True)
class Purged:
    """What one ``purge`` removed."""

    jobs: int
    deliveries: int


class QueueError(Exception):
    """The queue database cannot be opened or used."""


def set_fault_hook(hook: Callable[[str], None] | None) -> None:
    """Call ``hook(point)`` at each of the ``FAULT_POINTS`` in this process (tests kill the process there with
    SIGKILL to prove that a crash at that moment loses nothing); ``None`` removes it."""
    global _fault_hook
    _fault_hook = hook


def fault_point(point: str) -> None:
    """A named moment where a crash must not lose a delivery; nothing happens unless a test set a hook."""
    if _fault_hook is not None:
        _fault_hook(point)


def worker_identity(thread: str = "") -> str:
    """``host:pid:token[:thread]``: enough to tell, on this host, whether a lease's process is still alive."""
    suffix = f":{thread}" if thread else ""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}{suffix}"


def _owner_is_dead(owner: str | None) -> bool:
    """True when the lease owner is a process of this host that no longer exists (or an earlier life of us)."""
    if not owner:
        return True
    parts = owner.split(":")
    if len(parts) < 3 or parts[0] != socket.gethostname():
        return False  # another host (or an unknown format): only the lease's expiry can tell
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return parts[2] != _PROCESS_TOKEN  # same pid, other token: a previous process that had our pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, owned by someone else: it may still be a zombie
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """True when ``pid`` has exited but was not reaped yet (``kill(pid, 0)`` still succeeds on it): its parent
    has not waited for it, or it was reparented to an init that reaps late. Linux: the state in
    ``/proc/<pid>/stat``; elsewhere ``ps -o stat=``; False when neither can tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return True  # /proc works and the pid has gone since the kill(0)
        return _ps_state(pid).startswith(("Z", "X"))
    except OSError:
        return False
    fields = stat.rpartition(")")[2].split()  # "pid (comm) S ...": comm may hold spaces and parentheses
    return bool(fields) and fields[0] in ("Z", "X")


def _ps_state(pid: int) -> str:
    import subprocess

    try:
        done = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, timeout=5,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


class SqliteQueue:
    """A durable, deduplicating job queue in one SQLite file.

    - ``enqueue`` is committed to disk (WAL, ``synchronous=FULL``) before it returns, and returns False for
      a delivery id seen before, also across restarts.
    - A new job for a pull request supersedes that pull request's still-queued jobs (a newer head makes
      them stale; one for the same head repeats them).
    - ``claim`` never hands out a job whose pull request already has a running job, and takes a lease.
    - ``fail`` retries with exponential backoff (``base_delay * 2**(attempt-1)``, at most ``max_delay``)
      until ``max_attempts`` attempts, then the job is ``dead`` with the reason.

    Connections are per thread (and per process: a connection inherited through ``fork`` is never reused).
    """

    def __init__(self, path: str | os.PathLike[str], *, max_attempts: int = 5, base_delay: float = 10.0,
                 max_delay: float = 3600.0, lease_seconds: float = 600.0, busy_timeout: float = 30.0,
                 retention: float = RETENTION, dead_retention: float = DEAD_RETENTION) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if retention < 0 or dead_retention < 0:
            raise ValueError("retention cannot be negative")
        self.retention = retention
        self.dead_retention = dead_retention
        self.path = Path(path)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lease_seconds = lease_seconds
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"SqliteQueue({str(self.path)!r})"

    # -- connections -------------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("queue database is not in WAL mode", extra=logs.fields(journal_mode=mode))
            conn.execute("PRAGMA synchronous = FULL")
            if not self._schema_ready:
                conn.executescript(_SCHEMA)
                self._schema_ready = True
        except sqlite3.Error as exc:
            raise QueueError(f"cannot open the job queue {self.path}: {exc}") from exc
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._all_lock:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: the write lock is taken before anything is read."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def ping(self) -> None:
        """Raise ``QueueError`` unless the database can be opened and read (for ``/healthz``)."""
        try:
            self._conn().execute("SELECT count(*) FROM deliveries WHERE 0").fetchone()
        except sqlite3.Error as exc:
            raise QueueError(f"cannot read the job queue {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close every connection this object opened (at shutdown; later calls open new ones)."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    # -- producer ----------------------------------------------------------------------------------------

    def enqueue(self, job: Job) -> bool:
        """Queue one job for delivery ``job.delivery_id``; False (nothing queued) if that delivery was seen."""
        return self.enqueue_delivery(job.delivery_id, [job])

    def enqueue_delivery(self, delivery_id: str, jobs: list[Job]) -> bool:
        """Record a delivery and queue its jobs in one transaction; False if the delivery was seen before.

        Each job supersedes the still-queued jobs of its pull request.
        """
        now = time.time()
        with self._write() as conn:
            seen = conn.execute("INSERT OR IGNORE INTO deliveries (delivery_id, received) VALUES (?, ?)",
                                (delivery_id, now))
            if seen.rowcount == 0:
                return False
            fault_point("delivery-marked")
            for job in jobs:
                conn.execute(
                    "UPDATE jobs SET state = 'superseded', reason = ?, updated = ?, lease_owner = NULL "
                    "WHERE key = ? AND state = 'queued'",
                    (f"superseded by {job.delivery_id} ({job.head_sha[:12]})", now, job.key))
                conn.execute(
                    "INSERT INTO jobs (id, delivery_id, key, head_sha, payload, state, created, updated) "
                    "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                    (job.delivery_id, delivery_id, job.key, job.head_sha, job.to_json(), now, now))
        fault_point("delivery-queued")
        return True

    def seen(self, delivery_id: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM deliveries WHERE delivery_id = ?", (delivery_id,)).fetchone()
        return row is not None

    # -- consumer ----------------------------------------------------------------------------------------

    def claim(self, worker_id: str, *, lease_seconds: float | None = None) -> Job | None:
        """The oldest due job whose pull request has no running job, leased to ``worker_id``; None if none.

        Expired leases are returned to the queue first, so a job held by a worker that vanished on another
        host is not stuck forever (see ``recover``).
        """
        now = time.time()
        lease = self.lease_seconds if lease_seconds is None else lease_seconds
        with self._write() as conn:
            self._requeue_lost(conn, now, only_expired=True)
            row = conn.execute(
                "SELECT id, payload FROM jobs AS q WHERE q.state = 'queued' AND q.not_before <= ? "
                "AND NOT EXISTS (SELECT 1 FROM jobs AS r WHERE r.key = q.key AND r.state = 'running') "
                "ORDER BY q.not_before, q.created, q.rowid LIMIT 1", (now,)).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?, "
                "updated = ? WHERE id = ?", (worker_id, now + lease, now, row[0]))
        return Job.from_json(row[1])

    def renew(self, job: Job, worker_id: str, *, lease_seconds: float | None = None) -> bool:
        """Extend a running job's lease; False if the job is no longer ``worker_id``'s."""
        now = time.time()
        lease = self.lease_seconds if lease_seconds is None else lease_seconds
        with self._write() as conn:
            cur = conn.execute("UPDATE jobs SET lease_until = ?, updated = ? WHERE id = ? AND state = 'running' "
                               "AND lease_owner = ?", (now + lease, now, job.delivery_id, worker_id))
            return cur.rowcount == 1

    def complete(self, job: Job) -> None:
        """Mark the job done (also if its lease was lost and it went back to the queue: the work is done)."""
        now = time.time()
        with self._write() as conn:
            conn.execute("UPDATE jobs SET state = 'done', reason = NULL, lease_owner = NULL, lease_until = NULL, "
                         "updated = ? WHERE id = ? AND state IN ('running', 'queued')", (now, job.delivery_id))

    def fail(self, job: Job, reason: str) -> str:
        """Record a failed attempt: back to the queue after a backoff, or ``dead``. Returns the new state."""
        now = time.time()
        with self._write() as conn:
            row = conn.execute("SELECT attempts, state FROM jobs WHERE id = ?", (job.delivery_id,)).fetchone()
            if row is None:
                raise KeyError(job.delivery_id)
            attempts, state = row
            if state != "running":
                return str(state)  # superseded/completed meanwhile: nothing to retry
            if attempts >= self.max_attempts:
                conn.execute("UPDATE jobs SET state = 'dead', reason = ?, lease_owner = NULL, lease_until = NULL, "
                             "updated = ? WHERE id = ?", (reason, now, job.delivery_id))
                return "dead"
            delay = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
            conn.execute("UPDATE jobs SET state = 'queued', reason = ?, not_before = ?, lease_owner = NULL, "
                         "lease_until = NULL, updated = ? WHERE id = ?", (reason, now + delay, now, job.delivery_id))
            return "queued"

    def recover(self) -> int:
        """Return to the queue the running jobs whose worker is gone; call it when a service starts.

        A lease is lost when it has expired, or when its owner is a process of this host that no longer
        exists (checked by pid and a per-process token, so it works right after a crash and restart without
        waiting for the lease to expire). A job that lost its lease ``max_attempts`` times goes ``dead``: a
        job that kills its worker every time must not loop forever. Returns how many jobs were recovered.
        """
        with self._write() as conn:
            return self._requeue_lost(conn, time.time(), only_expired=False)

    def _requeue_lost(self, conn: sqlite3.Connection, now: float, *, only_expired: bool) -> int:
        rows = conn.execute("SELECT id, attempts, lease_owner, lease_until FROM jobs WHERE state = 'running'"
                            ).fetchall()
        count = 0
        for job_id, attempts, owner, until in rows:
            expired = until is None or until < now
            if not expired and (only_expired or not _owner_is_dead(owner)):
                continue
            reason = f"worker lost its lease ({'expired' if expired else 'process gone'})"
            if attempts >= self.max_attempts:
                conn.execute("UPDATE jobs SET state = 'dead', reason = ?, lease_owner = NULL, lease_until = NULL, "
                             "updated = ? WHERE id = ?", (reason, now, job_id))
            else:
                conn.execute("UPDATE jobs SET state = 'queued', reason = ?, not_before = 0, lease_owner = NULL, "
                             "lease_until = NULL, updated = ? WHERE id = ?", (reason, now, job_id))
            count += 1
        if count:
            log.warning("recovered jobs from lost leases", extra=logs.fields(jobs=count))
        return count

    # -- operators ---------------------------------------------------------------------------------------

    def list(self, state: str | None = None, *, limit: int | None = None) -> list[JobRecord]:
        """Jobs, oldest first; only those in ``state`` when given."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r} (one of {', '.join(STATES)})")
        sql = ("SELECT payload, state, attempts, reason, not_before, lease_owner, created, updated FROM jobs"
               + (" WHERE state = ?" if state else "") + " ORDER BY created, rowid")
        params: list[Any] = [state] if state else []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = self._conn().execute(sql, params).fetchall()
        return [JobRecord(Job.from_json(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def get(self, delivery_id: str) -> JobRecord | None:
        row = self._conn().execute(
            "SELECT payload, state, attempts, reason, not_before, lease_owner, created, updated FROM jobs "
            "WHERE id = ?", (delivery_id,)).fetchone()
        return None if row is None else JobRecord(Job.from_json(row[0]), *row[1:])

    def retry(self, delivery_id: str) -> bool:
        """A dead job back to the queue with a fresh set of attempts; False if no dead job has that id."""
        now = time.time()
        with self._write() as conn:
            cur = conn.execute("UPDATE jobs SET state = 'queued', attempts = 0, not_before = 0, updated = ? "
                               "WHERE id = ? AND state = 'dead'", (now, delivery_id))
            return cur.rowcount == 1

    def purge(self, older_than: float | None = None, *, dead_older_than: float | None = None,
              now: float | None = None) -> Purged:
        """Delete done and superseded jobs unchanged for ``older_than`` seconds (default ``retention``), dead jobs
        unchanged for ``dead_older_than`` (default ``dead_retention``), and the delivery ids older than
        ``max(older_than, MIN_DELIVERY_RETENTION)`` that no remaining job belongs to. ``now`` is for tests."""
        now = time.time() if now is None else now
        older = self.retention if older_than is None else older_than
        dead = self.dead_retention if dead_older_than is None else dead_older_than
        if older < 0 or dead < 0:
            raise ValueError("ages cannot be negative")
        jobs = self._delete_batches(
            "DELETE FROM jobs WHERE rowid IN (SELECT rowid FROM jobs WHERE (state IN ('done', 'superseded') "
            "AND updated < ?) OR (state = 'dead' AND updated < ?) LIMIT ?)", (now - older, now - dead))
        deliveries = self._delete_batches(
            "DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries AS d WHERE d.received < ? "
            "AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.delivery_id = d.delivery_id) LIMIT ?)",
            (now - max(older, MIN_DELIVERY_RETENTION),))
        if jobs or deliveries:
            log.info("purged the queue", extra=logs.fields(jobs=jobs, deliveries=deliveries))
        return Purged(jobs, deliveries)

    def _delete_batches(self, sql: str, params: tuple[Any, ...]) -> int:
        total = 0
        while True:
            with self._write() as conn:
                count = conn.execute(sql, (*params, _PURGE_BATCH)).rowcount
            total += count
            if count < _PURGE_BATCH:
                return total

    def counts(self) -> dict[str, int]:
        """Jobs per state, every state present."""
        result = dict.fromkeys(STATES, 0)
        for state, n in self._conn().execute("SELECT state, count(*) FROM jobs GROUP BY state"):
            result[state] = n
        return result


class WorkerPool:
    """Threads that claim jobs from a queue and run ``handler(job)`` on them.

    A handler that returns completes the job; one that raises fails it with ``"<ExceptionType>: <message>"``
    (retried with backoff, then dead). Delivery is at least once: a job may run again after a crash, so
    the handler must be idempotent (the review pipeline is, by fingerprints). Leases are renewed while a
    job runs, so a slow review is not handed to a second worker, however long it takes: a thread cannot be
    stopped, and handing its pull request to another would break the one-job-per-pull-request rule. A job
    running longer than ``job_timeout`` seconds is reported once (a warning) instead.
    """

    def __init__(self, queue: SqliteQueue, handler: Callable[[Job], None], threads: int = 2, *,
                 poll_interval: float = 0.25, lease_seconds: float | None = None,
                 purge_interval: float | None = PURGE_INTERVAL, job_timeout: float | None = JOB_TIMEOUT) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.job_timeout = job_timeout
        self.purge_interval = purge_interval  # None: never purge (another process does)
        self.queue = queue
        self.handler = handler
        self.threads = threads
        self.poll_interval = poll_interval
        self.lease_seconds = queue.lease_seconds if lease_seconds is None else lease_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._workers: list[threading.Thread] = []
        self._running: dict[str, tuple[Job, str, float]] = {}  # delivery -> (job, worker, monotonic start)
        self._over_time: set[str] = set()  # running jobs already reported as over job_timeout
        self._running_lock = threading.Lock()

    def start(self) -> None:
        if self._workers:
            return
        self._stop.clear()
        for i in range(self.threads):
            thread = threading.Thread(target=self._work, args=(worker_identity(f"w{i}"),),
                                      name=f"kubeguard-worker-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)
        beat = threading.Thread(target=self._heartbeat, name="kubeguard-lease", daemon=True)
        beat.start()
        self._workers.append(beat)

    def notify(self) -> None:
        """Wake idle workers now (the webhook calls it after an enqueue) instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop claiming; wait up to ``timeout`` for running jobs. False if some are still running (their
        leases then expire, or ``recover`` returns them on the next start)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in self._workers if t.is_alive()]
        self._workers = alive
        return not alive

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until no job is queued or running (in the whole queue file); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.queue.counts()
            if counts["queued"] == 0 and counts["running"] == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.02)

    def _work(self, worker_id: str) -> None:
        while not self._stop.is_set():
            try:
                job = self.queue.claim(worker_id, lease_seconds=self.lease_seconds)
            except (QueueError, sqlite3.Error) as exc:
                log.error("cannot claim a job", extra=logs.fields(error=f"{type(exc).__name__}: {exc}"))
                self._stop.wait(max(self.poll_interval, 1.0))
                continue
            if job is None:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
                continue
            self._run(job, worker_id)

    def _run(self, job: Job, worker_id: str) -> None:
        context = {"delivery_id": job.delivery_id, "event": job.event, "repo": f"{job.owner}/{job.repo}",
                   "pr": job.number}
        with logs.context(**context):
            started = time.monotonic()
            with self._running_lock:
                self._running[job.delivery_id] = (job, worker_id, started)
            try:
                log.info("job started", extra=logs.fields(head_sha=job.head_sha, worker=worker_id))
                self.handler(job)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                state = self.queue.fail(job, reason)
                log.warning("job failed", extra=logs.fields(reason=reason, state=state,
                                                            seconds=round(time.monotonic() - started, 3)))
            else:
                self.queue.complete(job)
                log.info("job done", extra=logs.fields(seconds=round(time.monotonic() - started, 3)))
            finally:
                with self._running_lock:
                    self._running.pop(job.delivery_id, None)
                    self._over_time.discard(job.delivery_id)

    def _report_over_time(self, job: Job, started: float) -> None:
        seconds = time.monotonic() - started
        if self.job_timeout is None or seconds <= self.job_timeout:
            return
        with self._running_lock:
            if job.delivery_id in self._over_time or job.delivery_id not in self._running:
                return
            self._over_time.add(job.delivery_id)
        log.warning("job over its time limit; it keeps its lease and runs on", extra=logs.fields(
            delivery_id=job.delivery_id, pr=job.key, seconds=round(seconds, 1), job_timeout=self.job_timeout))

    def _heartbeat(self) -> None:
        """Renew the leases of the running jobs; purge the queue every ``purge_interval`` (first soon after start)."""
        interval = max(0.05, self.lease_seconds / 3)
        if self.purge_interval is not None:
            interval = min(interval, max(0.05, self.purge_interval))
        if self.job_timeout is not None:
            interval = min(interval, max(0.05, self.job_timeout / 10))
        next_purge = time.monotonic()
        while not self._stop.wait(interval):
            if self.purge_interval is not None and time.monotonic() >= next_purge:
                next_purge = time.monotonic() + self.purge_interval
                try:
                    self.queue.purge()
                except (QueueError, sqlite3.Error) as exc:
                    log.error("cannot purge the queue", extra=logs.fields(error=f"{type(exc).__name__}: {exc}"))
            with self._running_lock:
                running = list(self._running.values())
            for job, worker_id, started in running:
                self._report_over_time(job, started)
                try:
                    if not self.queue.renew(job, worker_id, lease_seconds=self.lease_seconds):
                        log.warning("job lease lost while running", extra=logs.fields(delivery_id=job.delivery_id))
                except (QueueError, sqlite3.Error) as exc:
                    log.error("cannot renew a lease", extra=logs.fields(error=f"{type(exc).__name__}: {exc}"))
