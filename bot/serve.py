"""``kubeguard serve`` (the webhook service with its workers) and ``kubeguard jobs`` (look at the queue, retry).

Process model: one gunicorn worker process with threads answers the webhook; the ``WorkerPool`` that runs
the reviews lives in that same process, started after the fork (``post_worker_init``), so the SQLite
connections and threads are never shared across a fork. Jobs survive restarts in the queue file;
``recover()`` at start returns the jobs of a process that died to the queue.

With ``KUBEGUARD_REDIS_URL`` the web processes only answer the webhook (the reviews run in ``kubeguard worker``
processes), so gunicorn may run several of them: ``KUBEGUARD_WEB_PROCESSES`` (default 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot import logs
from bot.github_limits import DEFAULT_API_URL, DEFAULT_READ_CONCURRENCY, DEFAULT_READS_PER_MINUTE, MAX_READ_CONCURRENCY
from bot.jobs import DEAD_RETENTION, JOB_TIMEOUT, RETENTION, STATES, Job, JobRecord, SqliteQueue, WorkerPool

log = logging.getLogger("kubeguard.serve")

Handler = Callable[[Job], None]
HandlerFactory = Callable[["ServiceSettings"], Handler]
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
DEFAULT_QUEUE_PATH = "./kubeguard-queue.sqlite3"
DEFAULT_JOB_TIMEOUT = JOB_TIMEOUT  # KUBEGUARD_JOB_TIMEOUT, seconds (see bot.jobs.JOB_TIMEOUT)
MAX_JOB_TIMEOUT = 24 * 3600
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(Exception):
    """A missing or invalid environment variable; the message names it and never shows its value."""


@dataclasses.dataclass(frozen=True)
class ServiceSettings:
    """The service's configuration, from environment variables (``from_env``). ``repr`` hides the secrets."""

    webhook_secret: str = dataclasses.field(repr=False)
    app_id: int | None = None
    private_key: str | None = dataclasses.field(default=None, repr=False)
    github_api_url: str = DEFAULT_API_URL
    queue_path: Path = Path(DEFAULT_QUEUE_PATH)
    workers: int = 2
    review_drafts: bool = False
    max_attempts: int = 5
    write_interval: float = 1.0  # seconds between content-creating requests (GitHub's advice: >= 1)
    # KUBEGUARD_REDIS_URL: the queue is RQ on Redis (bot.rq_queue), drained by `kubeguard worker` processes
    redis_url: str | None = dataclasses.field(default=None, repr=False)
    # gunicorn worker processes answering the webhook; more than one only on Redis (the embedded queue's
    # worker pool lives in the one web process)
    web_processes: int = 1
    # seconds a review may run (KUBEGUARD_JOB_TIMEOUT): on Redis RQ stops the work horse past it and the
    # attempt fails; the embedded pool's threads cannot be stopped, so there it is only reported
    job_timeout: int = DEFAULT_JOB_TIMEOUT
    # KUBEGUARD_JOB_RETENTION / KUBEGUARD_DEAD_JOB_RETENTION: how long done/superseded and dead jobs are kept
    job_retention: float = RETENTION
    dead_job_retention: float = DEAD_RETENTION
    # KUBEGUARD_READ_CONCURRENCY: a review's file reads in flight at once
    read_concurrency: int = DEFAULT_READ_CONCURRENCY
    # KUBEGUARD_READS_PER_MINUTE: reads per installation in any minute, shared by its jobs (in Redis on
    # KUBEGUARD_REDIS_URL, across every worker); 0: no budget
    reads_per_minute: int = DEFAULT_READS_PER_MINUTE
    # KUBEGUARD_METRICS_TOKEN: /metrics needs "Authorization: Bearer <token>" (unset: open, for the pod network)
    metrics_token: str | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, need_secrets: bool = True) -> ServiceSettings:
        """Read and check the variables.

        ``need_secrets=False`` (for ``kubeguard jobs``, which only opens the queue) makes the webhook secret
        and the app credentials optional.
        """
        secret = environ.get("KUBEGUARD_WEBHOOK_SECRET", "")
        if need_secrets and not secret:
            raise SettingsError("KUBEGUARD_WEBHOOK_SECRET is not set (the webhook secret configured in the "
                                "GitHub App)")
        app_id = _app_id(environ.get("KUBEGUARD_APP_ID", ""), need_secrets)
        private_key = _private_key(environ, need_secrets)
        api_url = environ.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
        if not api_url.startswith(("https://", "http://")):
            raise SettingsError("GITHUB_API_URL must be an http(s) URL")
        queue_path = Path(environ.get("KUBEGUARD_QUEUE_PATH", "").strip() or DEFAULT_QUEUE_PATH)
        if queue_path.is_dir():
            raise SettingsError("KUBEGUARD_QUEUE_PATH is a directory; give the path of the queue file")
        workers = _int(environ, "KUBEGUARD_WORKERS", 2, 1, 64)
        attempts = _int(environ, "KUBEGUARD_JOB_ATTEMPTS", 5, 1, 100)
        try:
            write_interval = float(environ.get("KUBEGUARD_WRITE_INTERVAL", "1") or "1")
        except ValueError:
            raise SettingsError("KUBEGUARD_WRITE_INTERVAL must be a number of seconds") from None
        drafts = environ.get("KUBEGUARD_REVIEW_DRAFTS", "").strip().lower()
        if drafts not in _TRUE | _FALSE:
            raise SettingsError("KUBEGUARD_REVIEW_DRAFTS must be true or false")
        redis_url = environ.get("KUBEGUARD_REDIS_URL", "").strip() or None
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("KUBEGUARD_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        web_processes = _int(environ, "KUBEGUARD_WEB_PROCESSES", 1, 1, 64)
        if web_processes > 1 and redis_url is None:
            raise SettingsError("KUBEGUARD_WEB_PROCESSES above 1 needs KUBEGUARD_REDIS_URL (the embedded queue's "
                                "workers live in the one web process)")
        job_timeout = _int(environ, "KUBEGUARD_JOB_TIMEOUT", DEFAULT_JOB_TIMEOUT, 10, MAX_JOB_TIMEOUT)
        retention = _duration(environ, "KUBEGUARD_JOB_RETENTION", RETENTION)
        dead_retention = _duration(environ, "KUBEGUARD_DEAD_JOB_RETENTION", DEAD_RETENTION)
        read_concurrency = _int(environ, "KUBEGUARD_READ_CONCURRENCY", DEFAULT_READ_CONCURRENCY, 1,
                                MAX_READ_CONCURRENCY)
        reads_per_minute = _int(environ, "KUBEGUARD_READS_PER_MINUTE", DEFAULT_READS_PER_MINUTE, 0)
        metrics_token = environ.get("KUBEGUARD_METRICS_TOKEN", "").strip() or None
        if metrics_token is not None and (len(metrics_token) < 16 or any(c.isspace() for c in metrics_token)):
            raise SettingsError("KUBEGUARD_METRICS_TOKEN must be at least 16 characters without spaces")
        if secret:
            logs.register_secret(secret)
        if private_key:
            logs.register_secret(private_key)
        return cls(webhook_secret=secret, app_id=app_id, private_key=private_key,
                   github_api_url=api_url.rstrip("/"), queue_path=queue_path, workers=workers,
                   review_drafts=drafts in _TRUE, max_attempts=attempts,
                   write_interval=write_interval, redis_url=redis_url, web_processes=web_processes,
                   job_timeout=job_timeout, job_retention=retention, dead_job_retention=dead_retention,
                   read_concurrency=read_concurrency, reads_per_minute=reads_per_minute,
                   metrics_token=metrics_token)

    def open_queue(self) -> Any:
        """``RedisQueue`` when ``KUBEGUARD_REDIS_URL`` is set, else the SQLite queue file."""
        if self.redis_url:
            from bot.rq_queue import RedisQueue

            return RedisQueue(self.redis_url, max_attempts=self.max_attempts, job_timeout=self.job_timeout,
                              retention=self.job_retention, dead_retention=self.dead_job_retention)
        return SqliteQueue(self.queue_path, max_attempts=self.max_attempts, retention=self.job_retention,
                           dead_retention=self.dead_job_retention)


def _app_id(raw: str, required: bool) -> int | None:
    raw = raw.strip()
    if not raw:
        if required:
            raise SettingsError("KUBEGUARD_APP_ID is not set (the GitHub App's numeric id)")
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError("KUBEGUARD_APP_ID must be a positive integer")
    return int(raw)


def _private_key(environ: Mapping[str, str], required: bool) -> str | None:
    inline = environ.get("KUBEGUARD_PRIVATE_KEY", "")
    path = environ.get("KUBEGUARD_PRIVATE_KEY_PATH", "").strip()
    if inline and path:
        raise SettingsError("set only one of KUBEGUARD_PRIVATE_KEY and KUBEGUARD_PRIVATE_KEY_PATH")
    if path:
        name = "KUBEGUARD_PRIVATE_KEY_PATH"
        try:
            pem = Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise SettingsError(f"{name}: cannot read the private key file ({reason})") from None
    elif inline:
        name = "KUBEGUARD_PRIVATE_KEY"
        pem = inline.replace("\\n", "\n") if "\n" not in inline else inline  # one-line .env files
    else:
        if required:
            raise SettingsError("set KUBEGUARD_PRIVATE_KEY (PEM text) or KUBEGUARD_PRIVATE_KEY_PATH (a PEM file): "
                                "the GitHub App's private key")
        return None
    pem = pem.strip() + "\n"
    if "-----BEGIN" not in pem or "PRIVATE KEY-----" not in pem:
        raise SettingsError(f"{name} is not a PEM private key")
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:  # PyJWT's RS256 needs it anyway; without it, the shape check above is all we can do
        return pem
    try:
        load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise SettingsError(f"{name} is not a readable unencrypted PEM private key") from None
    return pem


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d`` or a bare number of days, as seconds; ``ValueError`` otherwise."""
    raw = text.strip().lower()
    unit = _UNITS.get(raw[-1:])
    number = raw[:-1] if unit is not None else raw
    try:
        value = float(number) * (unit if unit is not None else _UNITS["d"])
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (90s, 30m, 12h, 7d)") from None
    if not value >= 0 or value == float("inf"):  # also NaN
        raise ValueError(f"{text!r}: a duration is a finite, non-negative age")
    return value


def _duration_argument(text: str) -> float:
    """``parse_duration`` for argparse (its message, not argparse's "invalid value")."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    """An integer variable from ``low`` to ``high`` (no upper bound when ``high`` is None)."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer") from None
    if high is None and value < low:
        raise SettingsError(f"{name} must be at least {low}")
    if high is not None and not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}")
    return value


# -- the service ---------------------------------------------------------------------------------------------


class Service:
    """The queue, the WSGI app and the worker pool of one process, started once (``start``) after any fork."""

    def __init__(self, settings: ServiceSettings, handler: Handler) -> None:
        from bot.webhook import create_app  # Flask only when serving

        self.settings = settings
        self.queue = settings.open_queue()
        # on Redis the reviews run in `kubeguard worker` processes: this process only answers the webhook
        self.pool = None if settings.redis_url else WorkerPool(self.queue, handler, threads=settings.workers,
                                                               job_timeout=settings.job_timeout)
        # drafts reach the queue: the pipeline decides, by the repository's `review.drafts` (or the environment's
        # KUBEGUARD_REVIEW_DRAFTS=true for every repository), and completes the check run as skipped otherwise
        self.app = create_app(secret=settings.webhook_secret, queue=self.queue, review_drafts=True,
                              on_enqueue=self.pool.notify if self.pool is not None else None,
                              metrics_token=settings.metrics_token)
        self._started = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.pool is None:
            log.info("webhook started; jobs go to Redis for `kubeguard worker`", extra=logs.fields(pid=os.getpid()))
            return
        recovered = self.queue.recover()
        self.pool.start()
        log.info("workers started", extra=logs.fields(threads=self.settings.workers, recovered=recovered,
                                                       queue=str(self.settings.queue_path), pid=os.getpid()))

    def stop(self, timeout: float = 25.0) -> None:
        if not self._started:
            return
        finished = self.pool.stop(timeout) if self.pool is not None else True
        log.info("workers stopped", extra=logs.fields(finished=finished))
        self.queue.close()
        self._started = False


# gunicorn 27 opens a control socket under ~/.gunicorn by default; the service needs none
_OPTIONAL_SETTINGS = frozenset({"control_socket_disable"})


def _gunicorn_application(service_factory: Callable[[], Service], options: dict[str, Any]) -> Any:
    from gunicorn.app.base import BaseApplication

    class KubeguardApplication(BaseApplication):  # type: ignore[misc]
        """gunicorn, configured in code: no config file, no command line of its own."""

        def __init__(self) -> None:
            self.service: Service | None = None
            super().__init__()

        def load_config(self) -> None:
            for key, value in options.items():
                if key in _OPTIONAL_SETTINGS and key not in self.cfg.settings:
                    continue  # an older gunicorn without it
                self.cfg.set(key, value)

        def load(self) -> Any:
            # Called in the worker process (preload_app is off): the queue is opened after the fork.
            self.service = service_factory()
            return self.service.app

    def post_worker_init(worker: Any) -> None:
        if application.service is not None:
            application.service.start()

    def worker_exit(server: Any, worker: Any) -> None:
        if application.service is not None:
            application.service.stop(timeout=max(1.0, float(options["graceful_timeout"]) - 2))

    # in the options, not set afterwards: a SIGHUP reload rebuilds the config from load_config
    options = {**options, "post_worker_init": post_worker_init, "worker_exit": worker_exit}
    application = KubeguardApplication()
    return application


def serve(settings: ServiceSettings, host: str, port: int, handler: Handler, dev: bool = False) -> int:
    """Run the service until it is stopped (SIGTERM/SIGINT); returns the exit code.

    gunicorn with one worker process (``gthread``, a few threads for the webhook), the ``WorkerPool``
    started in that process after the fork; on Redis, ``settings.web_processes`` worker processes and no pool.
    ``dev=True``: Flask's development server in this process.
    """
    logs.configure(os.environ.get("KUBEGUARD_LOG_LEVEL", "INFO").upper())
    if dev:
        service = Service(settings, handler)
        service.start()
        try:
            service.app.run(host=host, port=port, threaded=True, use_reloader=False)
        finally:
            service.stop()
        return EXIT_OK
    options = {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        # embedded: the pool and its SQLite connections live in this one worker; on Redis the web processes
        # share nothing but Redis
        "workers": settings.web_processes if settings.redis_url else 1,
        "worker_class": "gthread",
        "threads": 8,
        "timeout": 30,
        "graceful_timeout": 30,
        "keepalive": 5,
        "preload_app": False,
        "errorlog": "-",
        "accesslog": None,  # our JSON lines say what happened to each delivery
        "loglevel": "info",
        "proc_name": "kubeguard",
        "limit_request_line": 8190,
        "control_socket_disable": True,
    }
    application = _gunicorn_application(lambda: Service(settings, handler), options)
    try:
        application.run()
    except SystemExit as exc:  # gunicorn's arbiter leaves through sys.exit
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_FAIL)
    return EXIT_OK


# -- kubeguard jobs ------------------------------------------------------------------------------------------


def format_jobs(records: Sequence[JobRecord]) -> str:
    """A plain table: delivery, PR, sha, state, attempts, reason."""
    header = ("DELIVERY", "PR", "SHA", "STATE", "ATTEMPTS", "REASON")
    rows = [(r.job.delivery_id, r.job.key, r.job.head_sha[:12], r.state, str(r.attempts),
             _one_line(r.reason or "")) for r in records]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in (header, *rows)]
    return "\n".join(lines) + "\n"


def _one_line(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _register_jobs_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="jobs_command", required=True)
    listing = sub.add_parser("list", help="list the jobs (oldest first)")
    listing.add_argument("--state", choices=STATES, help="only jobs in this state")
    listing.add_argument("--limit", type=int, metavar="N", help="at most N jobs")
    retry = sub.add_parser("retry", help="put a dead job back in the queue with fresh attempts")
    retry.add_argument("delivery_id", metavar="DELIVERY_ID")
    sub.add_parser("counts", help="jobs per state")
    purge = sub.add_parser(
        "purge", help="forget old finished jobs now (the service also does it hourly)",
        description="Deletes done and superseded jobs older than --older-than (default KUBEGUARD_JOB_RETENTION, "
                    "7d) and dead jobs older than --dead-older-than (default KUBEGUARD_DEAD_JOB_RETENTION, 30d). "
                    "Queued and running jobs are kept, and so are delivery ids younger than 4 days: GitHub may "
                    "redeliver those on request.")
    purge.add_argument("--older-than", type=_duration_argument, metavar="AGE",
                       help="done/superseded jobs (90s, 30m, 12h, 7d)")
    purge.add_argument("--dead-older-than", type=_duration_argument, metavar="AGE", help="dead jobs")


def run_jobs_command(args: argparse.Namespace, settings: ServiceSettings) -> int:
    """``kubeguard jobs list|retry|counts|purge`` on parsed arguments."""
    queue = settings.open_queue()
    try:
        if args.jobs_command == "list":
            sys.stdout.write(format_jobs(queue.list(args.state, limit=args.limit)))
            return EXIT_OK
        if args.jobs_command == "counts":
            for state, n in queue.counts().items():
                print(f"{state}\t{n}")
            return EXIT_OK
        if args.jobs_command == "purge":
            purged = queue.purge(args.older_than, dead_older_than=args.dead_older_than)
            print(f"purged {purged.jobs} job(s), {purged.deliveries} delivery id(s)")
            return EXIT_OK
        if queue.retry(args.delivery_id):
            print(f"{args.delivery_id}: queued again")
            return EXIT_OK
        record = queue.get(args.delivery_id)
        what = "no such job" if record is None else f"not dead (state {record.state})"
        print(f"kubeguard: {args.delivery_id}: {what}", file=sys.stderr)
        return EXIT_FAIL
    finally:
        queue.close()


def jobs_main(argv: Sequence[str], settings: ServiceSettings) -> int:
    """``kubeguard jobs`` with its own argument list (``["list", "--state", "dead"]``, ``["retry", ID]``,
    ``["purge", "--older-than", "1d"]``)."""
    parser = argparse.ArgumentParser(prog="kubeguard jobs", description="the webhook's job queue")
    _register_jobs_commands(parser)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return run_jobs_command(args, settings)


def add_serve_arguments(subparsers: Any, handler_factory: HandlerFactory) -> argparse.ArgumentParser:
    """Register ``serve`` on an argparse subparsers object; ``handler_factory(settings)`` gives the job handler."""
    parser = subparsers.add_parser(
        "serve", help="run the GitHub App's webhook service and its workers",
        description="Environment: KUBEGUARD_WEBHOOK_SECRET, KUBEGUARD_APP_ID, KUBEGUARD_PRIVATE_KEY or "
                    "KUBEGUARD_PRIVATE_KEY_PATH, GITHUB_API_URL, KUBEGUARD_QUEUE_PATH, KUBEGUARD_WORKERS, "
                    "KUBEGUARD_REVIEW_DRAFTS, KUBEGUARD_JOB_ATTEMPTS, KUBEGUARD_JOB_TIMEOUT (seconds, default "
                    f"{DEFAULT_JOB_TIMEOUT}), KUBEGUARD_JOB_RETENTION (default 7d), KUBEGUARD_DEAD_JOB_RETENTION "
                    "(default 30d), KUBEGUARD_WRITE_INTERVAL, KUBEGUARD_READ_CONCURRENCY (default "
                    f"{DEFAULT_READ_CONCURRENCY}), KUBEGUARD_READS_PER_MINUTE (per installation, default "
                    f"{DEFAULT_READS_PER_MINUTE}, 0 for none), KUBEGUARD_REDIS_URL, KUBEGUARD_WEB_PROCESSES (Redis "
                    "only), KUBEGUARD_METRICS_TOKEN (GET /metrics needs it as a bearer token).")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (default $PORT, else 8080)")
    parser.add_argument("--dev", action="store_true", help="Flask's development server instead of gunicorn")

    def cmd_serve(args: argparse.Namespace) -> int:
        try:
            settings = ServiceSettings.from_env(os.environ)
        except SettingsError as exc:
            print(f"kubeguard: configuration error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        port = args.port
        if port is None:
            raw = os.environ.get("PORT", "").strip() or "8080"
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                print("kubeguard: configuration error: PORT must be a port number", file=sys.stderr)
                return EXIT_USAGE
            port = int(raw)
        return serve(settings, args.host, port, handler_factory(settings), dev=args.dev)

    parser.set_defaults(func=cmd_serve)
    return parser


def add_jobs_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``jobs`` (``list [--state S]``, ``retry DELIVERY_ID``, ``counts``, ``purge``) on a subparsers
    object."""
    parser = subparsers.add_parser("jobs", help="the webhook's job queue: list, retry dead jobs, purge",
                                   description="Opens the queue at KUBEGUARD_QUEUE_PATH "
                                               f"(default {DEFAULT_QUEUE_PATH}), or on KUBEGUARD_REDIS_URL.")
    _register_jobs_commands(parser)

    def cmd_jobs(args: argparse.Namespace) -> int:
        try:
            settings = ServiceSettings.from_env(os.environ, need_secrets=False)
        except SettingsError as exc:
            print(f"kubeguard: configuration error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return run_jobs_command(args, settings)

    parser.set_defaults(func=cmd_jobs)
    return parser
