"""Load benchmark of the real service: signed deliveries at a fixed rate, kill -9 mid-load, nothing lost.

    python benchmarks/load_service.py [--rate R] [--seconds S] [--modes embedded,redis] [--no-kill]
                                      [--web-workers N] [--workers N] [--runs NAME,...] [--strict]
                                      [--simple-workers] [--keep-logs DIR] [--drain-timeout S]

Prints figures; asserts nothing. Exit 0, or 1 when a run lost an acknowledged job or posted a duplicate
(130 on Ctrl-C).

What runs, each on loopback only:

* the GitHub stand-in of ``tests/bot/fake_github`` in a thread of this process (every request validated
  against GitHub's OpenAPI description; ``--strict`` validates its answers too), with a GitHub App
  registered with a fresh RSA key, one installation, one repository and one pull request per fresh delivery
  (``.kubeguard.yaml`` and ``examples/unhealthy.yaml``: 12 findings, one review of 12 inline comments);
* the service as it is deployed, in its own process group:
  - embedded: ``kubeguard serve`` (gunicorn, one web process with the worker-pool threads, the SQLite queue);
  - redis: a ``redis-server`` started here on a free port (``--save '' --appendonly no``: Redis itself is never
    killed, so it needs no persistence for these runs), ``kubeguard serve`` with ``KUBEGUARD_REDIS_URL`` and
    ``--web-workers`` gunicorn web processes, and ``--workers`` ``kubeguard worker`` processes (RQ);
* the load: a separate process (so the stand-in's work in this process does not stretch its clock) with a
  few client threads, each delivery on a fresh connection as GitHub makes them. Open loop: delivery ``i`` is
  due at ``t0 + i/rate`` and its latency is measured from that due time, so a stall of the service shows as
  latency instead of silently lowering the rate. Every ``--redeliver-every``-th delivery repeats an earlier one
  exactly (same ``X-GitHub-Delivery``, same body): it must be answered as a duplicate and queue nothing.

Runs (``--runs``; the default is the first four, less what ``--modes``/``--no-kill`` leave out):
``embedded-steady``, ``embedded-kill`` (kill -9 of the whole service process tree mid-load, restart after
``--restart-after`` s), ``redis-steady``, ``redis-kill`` (kill -9 of the web processes and the worker
processes with their work-horses, restart; Redis stays up), ``redis-kill-workers`` (the workers only).

Figures per run: deliveries sent; acknowledged (2xx); refused (connection refused while the service was down)
and failed (reset, timeout, 5xx) -- not acknowledged, so GitHub would show them failed, counted apart from
losses; acknowledgements per second; p50/p99/max acknowledgement latency; jobs completed, by the stand-in
(pull requests with a completed check run and a summary comment) and by the queue's own ``/metrics``; jobs
lost (pull requests with an acknowledged delivery and no completed review after the drain timeout; must be
0); duplicates posted (a second review or summary comment, or an inline comment repeated, on a pull request;
must be 0); re-runs (extra check runs: the at-least-once queue ran a job again after a kill; the killed
attempt's check run stays in progress); peak memory of the service's processes (gunicorn master, web workers,
``kubeguard worker`` processes and their RQ scheduler and work horses): VmRSS and VmHWM from
``/proc/<pid>/status`` summed over the live processes at each sample, every 0.2 s -- forked processes share
pages, which that sum counts once per process, so Pss (``smaps_rollup``, shared pages split) is summed too;
downtime (kill to ``/healthz`` 200); time to drain (from the last answer until every acknowledged pull request
is reviewed and the queue's ``/metrics`` shows nothing queued or running); reviews per second (pull requests
reviewed over the load time plus the drain time: the service's review throughput when it falls behind).

Default rate, 10/s: acknowledging sustains far more (the web path is one committed insert), but the reviews
behind it cost ~0.15 s of CPU each between the service and the stand-in on the 2 shared cores this was written
on; at 10/s the embedded workers roughly keep pace, and the drain time shows by how much any mode falls behind.

``KUBEGUARD_WRITE_INTERVAL=0``: the stand-in has no secondary rate limit to respect, and the service paces
writes per job client (one per review), so the production default of 1 s would make every review sleep ~3 s
between its four writes and measure that sleep instead of the service.

This process makes itself a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``), reaps the killed service's
processes as an init (tini, systemd, a container runtime) does, and restarts only once they are gone, as a
supervisor would (the embedded queue gives a dead process's jobs back at restart by checking that its pid no
longer exists or is a zombie, so one reaped late would not hold them back either). Every process started here
gets ``PR_SET_PDEATHSIG`` and is stopped on exit, Ctrl-C or error: no orphan is left behind.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import ctypes
import dataclasses
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT), str(ROOT / "tests" / "bot")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from local_servers import free_port, redis_command, rsa_key_pair, wait_for_redis  # noqa: E402 (tests/bot)

SECRET = "load-benchmark-webhook-secret"
APP_ID = 4242
INSTALLATION_ID = 77
OWNER, REPO = "acme", "deploy"
PAYLOAD = ROOT / "tests" / "bot" / "data" / "webhooks" / "pull_request.opened.with-installation.json"
MANIFEST = ROOT / "examples" / "unhealthy.yaml"
CONFIG = ROOT / "examples" / ".kubeguard.yaml"
SAMPLE_INTERVAL = 0.2
_ACKED = frozenset({"queued", "duplicate", "ack_other"})  # the 2xx outcomes of _post
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
# Started in front of every service process: the kernel kills it when this process dies, however it dies.
_LAUNCH = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    f"    ctypes.CDLL(None, use_errno=True).prctl({PR_SET_PDEATHSIG}, int(signal.SIGKILL), 0, 0, 0)\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)  # the benchmark died before the prctl\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One run: the queue (``embedded`` or ``redis``) and what is killed mid-load (``none``, ``service``: every
    process of the service, ``workers``: the worker processes only)."""

    name: str
    mode: str
    kill: str


SCENARIOS = {s.name: s for s in (
    Scenario("embedded-steady", "embedded", "none"),
    Scenario("embedded-kill", "embedded", "service"),
    Scenario("redis-steady", "redis", "none"),
    Scenario("redis-kill", "redis", "service"),
    Scenario("redis-kill-workers", "redis", "workers"),
)}
DEFAULT_RUNS = ("embedded-steady", "embedded-kill", "redis-steady", "redis-kill")


@dataclasses.dataclass(frozen=True)
class LoadOptions:
    """The knobs of a run; the defaults are the benchmark's."""

    rate: float = 10.0
    seconds: float = 15.0
    clients: int = 4
    web_workers: int = 2  # Redis only: embedded has one web process by design
    workers: int = 2  # embedded: worker threads (KUBEGUARD_WORKERS); Redis: `kubeguard worker` processes
    redeliver_every: int = 10
    kill_at: float = 0.5  # fraction of the load's duration
    restart_after: float = 1.0
    drain_timeout: float = 60.0
    request_timeout: float = 10.0  # GitHub gives up on a delivery after 10 s
    strict: bool = False
    simple_workers: bool = False  # `kubeguard worker --simple`: no fork per job
    redeliver_failed: bool = True  # after the load, redeliver what was not acknowledged (see _redeliver_failed)
    keep_logs: Path | None = None  # copy the service's logs there (they live in a temporary directory)


@dataclasses.dataclass
class RunResult:
    """The figures of one run (see the module's docstring)."""

    scenario: Scenario
    options: LoadOptions
    sent: int = 0
    redeliveries: int = 0
    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    redelivery_outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    recovery_outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    load_seconds: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)
    expected_prs: int = 0
    completed_prs: int = 0
    lost_prs: list[int] = dataclasses.field(default_factory=list)
    queue_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    duplicate_reviews: int = 0
    duplicate_summaries: int = 0
    duplicate_comments: int = 0
    extra_check_runs: int = 0
    stale_check_runs: int = 0
    peak_rss_kb: int = 0
    peak_hwm_kb: int = 0
    peak_pss_kb: int = 0
    peak_roles: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)  # role -> (processes, kB)
    peak_processes: int = 0
    redis_hwm_kb: int = 0
    downtime: float | None = None
    drain_seconds: float = 0.0
    drained: bool = False
    api_requests: int = 0
    leftover_processes: list[int] = dataclasses.field(default_factory=list)  # alive after the run: must be none
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome in _ACKED)

    @property
    def refused(self) -> int:
        return self.outcomes.get("refused", 0)

    @property
    def failed(self) -> int:
        return self.sent - self.acknowledged - self.refused

    @property
    def lost(self) -> int:
        return len(self.lost_prs)

    @property
    def duplicates(self) -> int:
        return self.duplicate_reviews + self.duplicate_summaries + self.duplicate_comments

    @property
    def review_rate(self) -> float:
        """Pull requests reviewed per second, from the first delivery until drained (load plus drain time)."""
        elapsed = self.load_seconds + self.drain_seconds
        return self.completed_prs / elapsed if elapsed > 0 else 0.0

    @property
    def ack_rate(self) -> float:
        return self.acknowledged / self.load_seconds if self.load_seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile in seconds (nearest rank), 0 without acknowledgements."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- processes ---------------------------------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) of every process, from ``/proc/<pid>/stat``."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()  # the command name may hold spaces and parentheses
        if len(fields) >= 2:
            table[int(entry)] = (int(fields[1]), fields[0])
    return table


def descendants(roots: Sequence[int], table: dict[int, tuple[int, str]] | None = None) -> set[int]:
    """``roots`` that are alive and all their live (not zombie) descendants."""
    table = _proc_table() if table is None else table
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    found: set[int] = set()
    todo = [pid for pid in roots if pid in table]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        if table[pid][1] != "Z":
            found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def memory_kb(pid: int) -> tuple[int, int, int]:
    """(VmRSS, VmHWM, Pss) of a process in kB; zeros once it is gone. Pss (``smaps_rollup``) shares each
    page among the processes that map it, so it can be summed over forked processes; RSS cannot."""
    rss = hwm = pss = 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
    except (OSError, ValueError, IndexError):
        return rss, hwm, pss
    return rss, hwm, pss


def _become_subreaper() -> bool:
    """Orphans of our children come to us (and we reap them) instead of to pid 1, which may never reap them."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Processes:
    """The processes this benchmark started: spawned in their own session, killed as whole trees, reaped."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.popens: list[subprocess.Popen[bytes]] = []
        self.seen: set[int] = set()  # every service pid observed, so that only those are ever reaped
        self.lock = threading.Lock()
        self.subreaper = _become_subreaper()

    def spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 -- lives as long as the process
        try:
            proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, str(os.getpid()), *argv], env=env, cwd=cwd,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            log.close()
        with self.lock:
            self.popens.append(proc)
            self.seen.add(proc.pid)
        return proc

    def observe(self, pids: set[int]) -> None:
        with self.lock:
            self.seen |= pids

    def kill_trees(self, roots: Sequence[int]) -> set[int]:
        """SIGKILL ``roots`` and every descendant. They are stopped (SIGSTOP) first and the tree walked again
        until it stops growing, so a process forked during the kill (an RQ work-horse) is not left behind."""
        stopped: set[int] = set()
        while True:
            todo = descendants(roots) - stopped
            if not todo:
                break
            for pid in todo:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGSTOP)
            stopped |= todo
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.observe(stopped)
        self.reap(stopped)
        return stopped

    def reap(self, pids: set[int], timeout: float = 5.0) -> None:
        """Wait until none of ``pids`` exists any more, reaping those that are our children (or orphans
        handed to us as subreaper)."""
        mine = {p.pid: p for p in self.popens}
        deadline = time.monotonic() + timeout
        while True:
            table = _proc_table()
            left = [pid for pid in pids if pid in table]
            for pid in left:
                if pid in mine:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        mine[pid].wait(0.01)
                elif table[pid][0] == os.getpid() and table[pid][1] == "Z":
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, os.WNOHANG)
            if not left or time.monotonic() > deadline:
                return
            time.sleep(0.01)

    def reap_orphans(self) -> None:
        """Reap zombie service processes handed to us (only pids seen as the service's)."""
        table = _proc_table()
        mine = {p.pid for p in self.popens}
        for pid, (ppid, state) in table.items():
            if ppid == os.getpid() and state == "Z" and pid in self.seen and pid not in mine:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    def stop(self, procs: Sequence[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
        """SIGTERM (graceful: running jobs finish), then SIGKILL of whatever of their trees is left."""
        tree = descendants([p.pid for p in procs])
        self.observe(tree)
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
        self.kill_trees([p.pid for p in procs] + sorted(tree))
        self.reap(tree | {p.pid for p in procs})

    def stop_all(self) -> None:
        """Stop everything still running, orphans handed to us included (a work-horse whose worker died)."""
        with self.lock:
            procs = list(self.popens)
            seen = set(self.seen)
        self.stop([p for p in procs if p.poll() is None], timeout=10.0)
        table = _proc_table()
        orphans = [pid for pid in seen if pid in table and table[pid][0] == os.getpid() and table[pid][1] != "Z"
                   and pid not in {p.pid for p in procs}]
        if orphans:
            self.kill_trees(orphans)
        self.reap_orphans()


def _kubeguard() -> list[str]:
    script = Path(sys.executable).with_name("kubeguard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


# -- the stand-in ------------------------------------------------------------------------------------------


def start_github(public_key: str, pulls: int, *, strict: bool) -> tuple[Any, dict[int, str]]:
    """A started stand-in with the app, its installation and ``pulls`` pull requests; (fake, number -> head)."""
    from fake_github import FakeGitHub

    fake = FakeGitHub(strict=strict).start()
    fake.register_app(APP_ID, public_key, installations={INSTALLATION_ID: [f"{OWNER}/{REPO}"]}, slug="kubeguard")
    fake.add_repo(OWNER, REPO)
    config = CONFIG.read_text(encoding="utf-8")
    manifest = MANIFEST.read_text(encoding="utf-8")
    heads = {}
    for number in range(1, pulls + 1):
        pull = fake.add_pull(OWNER, REPO, number, base_files={".kubeguard.yaml": config},
                             head_files={".kubeguard.yaml": config, "deploy/app.yaml": manifest})
        heads[number] = pull["head"]["sha"]
    return fake, heads


_PR_PATH = re.compile(rf"^/repos/{OWNER}/{REPO}/(?:pulls|issues)/(\d+)/(reviews|comments)$")


class Ledger:
    """What the stand-in received, read from its request log: summaries, reviews and inline comments per PR."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.offset = 0
        self.summaries: collections.Counter[int] = collections.Counter()
        self.reviews: collections.Counter[int] = collections.Counter()
        self.fingerprints: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.requests = 0

    def update(self) -> None:
        from bot.markdown import SUMMARY_MARKER, fingerprint_of

        log = self.fake.requests
        new, self.offset = log[self.offset:], len(log)
        self.requests = len(log)
        for r in new:
            if r.method != "POST" or not 200 <= r.status < 300:
                continue
            match = _PR_PATH.match(r.path)
            if match is None:
                continue
            number, kind = int(match.group(1)), match.group(2)
            body = r.json if isinstance(r.json, dict) else {}
            if kind == "comments" and "/issues/" in r.path and SUMMARY_MARKER in str(body.get("body", "")):
                self.summaries[number] += 1
            elif kind == "reviews":
                self.reviews[number] += 1
                for comment in body.get("comments") or ():
                    fp = fingerprint_of(str(comment.get("body", "")))
                    if fp:
                        self.fingerprints[number][f"{comment.get('path')}:{fp}"] += 1


# -- the load (a separate process) -------------------------------------------------------------------------


def delivery_body(template: dict[str, Any], number: int, sha: str) -> bytes:
    """GitHub's ``pull_request.opened`` example made a delivery for PR ``number`` at ``sha`` of our repository."""
    payload = copy.deepcopy(template)
    pr = payload["pull_request"]
    pr.update(number=number, state="open", draft=False, head={**pr["head"], "sha": sha})
    payload["number"] = number
    payload["repository"].update(name=REPO, full_name=f"{OWNER}/{REPO}",
                                 owner={**payload["repository"]["owner"], "login": OWNER})
    payload["installation"] = {"id": INSTALLATION_ID, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNzc="}
    return json.dumps(payload).encode("utf-8")


def delivery_headers(delivery: str, body: bytes, secret: str) -> dict[str, str]:
    from bot.webhook import signature

    return {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/load",
            "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery, "X-GitHub-Hook-ID": "292430182",
            "X-Hub-Signature-256": signature(secret, body)}


def drive(port: int, plan: list[tuple[str, int, str]], template: str, secret: str, rate: float, clients: int,
          timeout: float, conn: Any) -> None:
    """The load generator, run in its own process: ``plan[i]`` = (delivery id, PR number, head sha) is POSTed
    at ``t0 + i/rate`` on a fresh connection. Sends ``"ready"``, receives t0 (``time.monotonic()``, the
    same clock in every process), sends back ``(i, outcome, status, latency)`` for every delivery."""
    base = json.loads(template)
    cache: dict[str, bytes] = {}

    def body_of(delivery: str, number: int, sha: str) -> bytes:
        if delivery not in cache:  # a redelivery sends the very same bytes
            cache[delivery] = delivery_body(base, number, sha)
        return cache[delivery]

    for delivery, number, sha in plan:
        body_of(delivery, number, sha)
    conn.send("ready")
    t0 = float(conn.recv())
    results: list[tuple[int, str, int, float]] = []
    lock = threading.Lock()
    counter = iter(range(len(plan)))

    def client() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            delivery, number, sha = plan[i]
            body = body_of(delivery, number, sha)
            headers = delivery_headers(delivery, body, secret)
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            outcome, status = _post(port, body, headers, timeout)
            latency = time.monotonic() - due
            with lock:
                results.append((i, outcome, status, latency))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conn.send(results)


def _post(port: int, body: bytes, headers: dict[str, str], timeout: float) -> tuple[str, int]:
    """One delivery: (outcome, HTTP status or 0). ``queued`` (202), ``duplicate`` (200 naming it), ``ack_other``
    (another 2xx), ``refused`` (nothing listening), ``timeout``, ``failed`` (reset, no answer), ``http_<n>``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/webhook", body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    except ConnectionRefusedError:
        return "refused", 0
    except TimeoutError:
        return "timeout", 0
    except (OSError, http.client.HTTPException):
        return "failed", 0
    finally:
        conn.close()
    if response.status == 202:
        return "queued", 202
    if response.status == 200 and b'"duplicate"' in raw:
        return "duplicate", 200
    if 200 <= response.status < 300:
        return "ack_other", response.status
    return f"http_{response.status}", response.status


def make_plan(deliveries: int, redeliver_every: int) -> tuple[list[tuple[str, int, str | None]], int]:
    """The deliveries in order, as (delivery id, PR number, None: head filled in later); every
    ``redeliver_every``-th repeats the one five places earlier. Returns the plan and the number of PRs."""
    plan: list[tuple[str, int, str | None]] = []
    pulls = 0
    for i in range(deliveries):
        if redeliver_every > 0 and i % redeliver_every == redeliver_every - 1 and i >= 5:
            plan.append(plan[i - 5])
        else:
            pulls += 1
            plan.append((str(uuid.uuid4()), pulls, None))
    return plan, pulls


# -- the service -------------------------------------------------------------------------------------------


class Service:
    """``kubeguard serve`` (and, on Redis, ``kubeguard worker`` processes) as subprocesses on one port."""

    def __init__(self, scenario: Scenario, options: LoadOptions, procs: Processes, env: dict[str, str],
                 workdir: Path) -> None:
        self.scenario = scenario
        self.options = options
        self.procs = procs
        self.env = env
        self.workdir = workdir
        self.port = free_port()
        self.web: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.generation = 0

    def roots(self) -> list[int]:
        return [p.pid for p in ([self.web] if self.web else []) + self.workers]

    def start_web(self) -> None:
        self.web = self.procs.spawn(f"serve-{self.generation}", [*_kubeguard(), "serve", "--host", "127.0.0.1",
                                                                 "--port", str(self.port)], self.env, self.workdir)

    def start_workers(self) -> None:
        if self.scenario.mode != "redis":
            return
        extra = ["--simple"] if self.options.simple_workers else []
        self.workers = [self.procs.spawn(f"worker-{self.generation}-{i}", [*_kubeguard(), "worker", *extra],
                                         self.env, self.workdir) for i in range(self.options.workers)]

    def start(self) -> None:
        self.start_web()
        self.start_workers()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until ``GET /healthz`` answers 200; raises RuntimeError with the log's tail if it does not."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.web is None or self.web.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kubeguard serve did not come up:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill(self, what: str) -> None:
        """kill -9: ``service`` = every process of the service, ``workers`` = the worker processes' trees."""
        roots = self.roots() if what == "service" else [p.pid for p in self.workers]
        self.procs.kill_trees(roots)
        self.generation += 1

    def restart(self, what: str) -> None:
        if what == "service":
            self.start()
        else:
            self.start_workers()

    def stop(self) -> None:
        self.procs.stop([p for p in ([self.web] if self.web else []) + self.workers if p.poll() is None])

    def metrics(self) -> dict[str, int] | None:
        """The queue's own counts from ``GET /metrics`` (None when it cannot be read)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            return None
        counts = {m.group(1): int(m.group(2)) for m in re.finditer(r'^kubeguard_jobs\{state="(\w+)"\} (\d+)$', text,
                                                                    re.MULTILINE)}
        return counts or None

    def log_tail(self, lines: int = 25) -> str:
        out = []
        for path in sorted(self.procs.logdir.glob("*.log")):
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


@contextlib.contextmanager
def redis_server(workdir: Path, procs: Processes) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server on a free loopback port, without persistence (it is never killed here)."""
    port = free_port()
    command = redis_command(port, "--dir", str(workdir), "--maxmemory-policy", "noeviction", "--loglevel", "warning")
    proc = procs.spawn("redis", command, dict(os.environ), workdir)
    wait_for_redis(proc, port)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        procs.stop([proc], timeout=5)


_ROLES = ("gunicorn master", "web worker", "kubeguard worker", "RQ scheduler/work horse", "other")


def _role(pid: int, table: dict[int, tuple[int, str]], web: int | None, workers: set[int]) -> str:
    if pid == web:
        return "gunicorn master"
    if pid in workers:
        return "kubeguard worker"
    parent = table.get(pid, (0, ""))[0]
    if parent == web:
        return "web worker"
    return "RQ scheduler/work horse" if parent in workers else "other"


class Sampler(threading.Thread):
    """Every ``SAMPLE_INTERVAL`` s: Σ VmRSS and Σ VmHWM over the service's live processes; keeps the peaks."""

    def __init__(self, service: Service, procs: Processes) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.service = service
        self.procs = procs
        self.stopping = threading.Event()
        self.peak_rss = self.peak_hwm = self.peak_pss = self.peak_processes = 0
        self.peak_roles: dict[str, tuple[int, int]] = {}

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_INTERVAL):
            self.sample()

    def sample(self) -> None:
        web = self.service.web.pid if self.service.web is not None else None
        workers = {p.pid for p in self.service.workers}
        table = _proc_table()
        pids = descendants([*([web] if web else []), *sorted(workers)], table)
        self.procs.observe(pids)
        rss = hwm = pss = 0
        roles: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        for pid in pids:
            r, h, p = memory_kb(pid)
            rss, hwm, pss = rss + r, hwm + h, pss + p
            role = roles[_role(pid, table, web, workers)]
            role[0] += 1
            role[1] += r
        if rss > self.peak_rss:
            self.peak_rss, self.peak_processes = rss, len(pids)
            self.peak_roles = {k: (roles[k][0], roles[k][1]) for k in _ROLES if k in roles}
        self.peak_hwm = max(self.peak_hwm, hwm)
        self.peak_pss = max(self.peak_pss, pss)
        self.procs.reap_orphans()

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self.sample()


# -- one run -----------------------------------------------------------------------------------------------


def _service_env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBEGUARD_", "GITHUB_", "RQ_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(settings)
    return env


def run(scenario: Scenario, options: LoadOptions, *, key: tuple[str, str] | None = None,
        verbose: bool = True) -> RunResult:
    """One run of ``scenario``: stand-in, service, load, kill and restart if asked, drain, ground truth."""
    result = RunResult(scenario, options)
    private, public = key or rsa_key_pair()
    deliveries = max(1, round(options.rate * options.seconds))
    plan, pulls = make_plan(deliveries, options.redeliver_every)
    result.sent, result.redeliveries = deliveries, deliveries - pulls
    with tempfile.TemporaryDirectory(prefix=f"kg-load-{scenario.name}-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        (workdir / "logs").mkdir()
        if options.keep_logs is not None:  # registered first: runs last, once every process has stopped
            stack.callback(shutil.copytree, workdir / "logs", options.keep_logs / scenario.name, dirs_exist_ok=True)
        fake, heads = start_github(public, pulls, strict=options.strict)
        stack.callback(fake.stop)
        procs = Processes(workdir / "logs")
        stack.callback(procs.stop_all)
        if not procs.subreaper:
            result.notes.append("could not become a child subreaper: killed processes may stay zombies")
        key_path = workdir / "app.pem"
        key_path.write_text(private, encoding="ascii")
        key_path.chmod(0o600)
        settings = {"KUBEGUARD_WEBHOOK_SECRET": SECRET, "KUBEGUARD_APP_ID": str(APP_ID),
                    "KUBEGUARD_PRIVATE_KEY_PATH": str(key_path), "GITHUB_API_URL": fake.url,
                    "KUBEGUARD_QUEUE_PATH": str(workdir / "queue.sqlite3"), "KUBEGUARD_WRITE_INTERVAL": "0",
                    "KUBEGUARD_LOG_LEVEL": "INFO"}
        redis_proc = None
        if scenario.mode == "redis":
            url, redis_proc = stack.enter_context(redis_server(workdir, procs))
            settings.update(KUBEGUARD_REDIS_URL=url, KUBEGUARD_WEB_PROCESSES=str(options.web_workers))
        else:
            settings["KUBEGUARD_WORKERS"] = str(options.workers)
        service = Service(scenario, options, procs, _service_env(settings), workdir)
        stack.callback(service.stop)
        service.start()
        service.wait_ready()
        sampler = Sampler(service, procs)
        sampler.start()
        stack.callback(sampler.stopping.set)

        full_plan = [(d, n, heads[n]) for d, n, _ in plan]
        answers, load_end = _load(result, service, full_plan, stack)
        acked_prs = _tally(result, plan, full_plan, answers)
        if options.redeliver_failed:
            acked_prs |= _redeliver_failed(result, service, full_plan, answers)
        result.expected_prs = len(acked_prs)
        ledger = Ledger(fake)
        counts = _drain(result, service, ledger, acked_prs, load_end)
        sampler.stop()
        result.peak_rss_kb, result.peak_hwm_kb = sampler.peak_rss, sampler.peak_hwm
        result.peak_processes, result.peak_pss_kb = sampler.peak_processes, sampler.peak_pss
        result.peak_roles = sampler.peak_roles
        if redis_proc is not None:
            result.redis_hwm_kb = memory_kb(redis_proc.pid)[1]
        result.queue_counts = counts or {}
        _ground_truth(result, fake, ledger, heads, acked_prs)
        if verbose and (result.lost or result.duplicates):
            print(service.log_tail(), file=sys.stderr)
    alive = _proc_table()
    result.leftover_processes = sorted(pid for pid in procs.seen if pid in alive and alive[pid][1] != "Z")
    if result.leftover_processes:
        result.notes.append(f"processes left running: {result.leftover_processes}")
    return result


def _load(result: RunResult, service: Service, plan: list[tuple[str, int, str]],
          stack: contextlib.ExitStack) -> tuple[list[tuple[int, str, int, float]], float]:
    """The load process runs the plan while this one kills and restarts the service if the scenario says so.
    Returns the answers and when the last one came."""
    import multiprocessing

    options, scenario = result.options, result.scenario
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no thread of ours forked into it
    parent_end, child_end = context.Pipe()
    client = context.Process(target=drive, name="load", daemon=True, args=(
        service.port, plan, PAYLOAD.read_text(encoding="utf-8"), SECRET, options.rate, options.clients,
        options.request_timeout, child_end))
    client.start()

    def stop_client() -> None:
        if client.is_alive():
            client.kill()
        client.join(5)

    stack.callback(stop_client)
    if not parent_end.poll(60) or parent_end.recv() != "ready":
        raise RuntimeError("the load generator did not start")
    t0 = time.monotonic() + 0.1
    parent_end.send(t0)
    if scenario.kill != "none":
        time.sleep(max(0.0, t0 + options.kill_at * options.seconds - time.monotonic()))
        killed_at = time.monotonic()
        service.kill(scenario.kill)
        time.sleep(options.restart_after)
        service.restart(scenario.kill)
        service.wait_ready()
        result.downtime = time.monotonic() - killed_at
    if not parent_end.poll(options.seconds + options.request_timeout + 120):
        raise RuntimeError("the load generator did not finish")
    answers = parent_end.recv()
    load_end = time.monotonic()
    result.load_seconds = load_end - t0
    stop_client()
    return answers, load_end


def _tally(result: RunResult, plan: list[tuple[str, int, str | None]], full_plan: list[tuple[str, int, str]],
           answers: list[tuple[int, str, int, float]]) -> set[int]:
    """Outcomes and latencies into ``result``; returns the pull requests with an acknowledged delivery."""
    seen: set[str] = set()
    redelivered = set()
    for i, (delivery, _, _) in enumerate(plan):
        if delivery in seen:
            redelivered.add(i)
        seen.add(delivery)
    acked: set[int] = set()
    for i, outcome, _status, latency in answers:
        result.outcomes[outcome] += 1
        if i in redelivered:
            result.redelivery_outcomes[outcome] += 1
        if outcome in _ACKED:
            result.latencies.append(latency)
            acked.add(full_plan[i][1])
    return acked


def _redeliver_failed(result: RunResult, service: Service, plan: list[tuple[str, int, str]],
                      answers: list[tuple[int, str, int, float]]) -> set[int]:
    """Redeliver, once, each delivery none of whose sends was acknowledged, as an operator (or a job reading
    GitHub's list of failed deliveries) would: GitHub does not redeliver by itself. A delivery that was
    committed before its answer was lost is answered as a duplicate, and its job must exist. Returns the
    pull requests acknowledged now."""
    acked_ids = {plan[i][0] for i, outcome, _, _ in answers if outcome in _ACKED}
    template = json.loads(PAYLOAD.read_text(encoding="utf-8"))
    todo = sorted({i for i, outcome, _, _ in answers if outcome not in _ACKED and plan[i][0] not in acked_ids})
    done: set[str] = set()
    acked: set[int] = set()
    for i in todo:
        delivery, number, sha = plan[i]
        if delivery in done:
            continue
        done.add(delivery)
        body = delivery_body(template, number, sha)
        outcome, _ = _post(service.port, body, delivery_headers(delivery, body, SECRET), result.options.request_timeout)
        result.recovery_outcomes[outcome] += 1
        if outcome in _ACKED:
            acked.add(number)
    return acked


def _drain(result: RunResult, service: Service, ledger: Ledger, acked: set[int],
           load_end: float) -> dict[str, int] | None:
    """Until every acknowledged pull request has its summary and the queue is idle, or the drain timeout."""
    counts: dict[str, int] | None = None
    while True:
        ledger.update()
        counts = service.metrics()
        idle = counts is not None and counts.get("queued", 0) == 0 and counts.get("running", 0) == 0
        if idle and acked <= set(ledger.summaries):
            result.drained = True
            break
        if time.monotonic() - load_end > result.options.drain_timeout:
            break
        time.sleep(0.1)
    result.drain_seconds = time.monotonic() - load_end
    return counts


def _ground_truth(result: RunResult, fake: Any, ledger: Ledger, heads: dict[int, str], acked: set[int]) -> None:
    """Completed, lost and duplicated, per pull request, from what the stand-in holds and received."""
    ledger.update()
    result.api_requests = ledger.requests
    runs = [r for r in fake.check_runs(OWNER, REPO) if r["name"] == "kubeguard"]
    by_sha: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in runs:
        by_sha[r["head_sha"]].append(r)
    completed = {n for n, sha in heads.items()
                 if any(r["status"] == "completed" for r in by_sha.get(sha, ())) and ledger.summaries[n] >= 1}
    result.completed_prs = len(completed)
    result.lost_prs = sorted(acked - completed)
    result.extra_check_runs = sum(max(0, len(v) - 1) for v in by_sha.values())
    result.stale_check_runs = sum(1 for r in runs if r["status"] != "completed")
    result.duplicate_reviews = sum(max(0, n - 1) for n in ledger.reviews.values())
    result.duplicate_summaries = sum(max(0, n - 1) for n in ledger.summaries.values())
    result.duplicate_comments = sum(max(0, c - 1) for fps in ledger.fingerprints.values() for c in fps.values())


# -- report ------------------------------------------------------------------------------------------------


def _mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MiB"


def describe(result: RunResult) -> str:
    """The figures of one run, as printed."""
    s, o = result.scenario, result.options
    if s.mode == "embedded":
        shape = f"kubeguard serve: 1 web process with {o.workers} worker threads, SQLite queue"
    else:
        kind = "simple" if o.simple_workers else "forking"
        shape = (f"kubeguard serve: {o.web_workers} web processes; {o.workers} kubeguard worker processes "
                 f"({kind}); Redis without persistence")
    kill = {"none": "steady", "service": "kill -9 of every service process", "workers": "kill -9 of the workers"}
    title = kill[s.kill] + (f" at {o.kill_at * o.seconds:.1f} s, restart after {o.restart_after:.1f} s"
                            if s.kill != "none" else "")
    ms = 1000.0
    failed = {k: v for k, v in result.outcomes.items() if k not in ("queued", "duplicate", "ack_other", "refused")}
    queue = result.queue_counts
    again = result.redelivery_outcomes
    unanswered = sum(again.values()) - again["duplicate"] - again["queued"]
    lines = [
        f"== {s.name}: {shape}; {title} ==",
        f"deliveries sent: {result.sent} at {o.rate:g}/s for {o.seconds:g} s ({result.redeliveries} exact "
        f"redeliveries), {o.clients} client threads",
        f"acknowledged (2xx): {result.acknowledged} ({result.outcomes['queued']} queued 202, "
        f"{result.outcomes['duplicate']} duplicate 200)   refused: {result.refused}   failed: {result.failed}"
        + (f" {dict(failed)}" if failed else ""),
        f"acknowledgements/s: {result.ack_rate:.1f}",
        f"ack latency from the due time: p50 {result.percentile(0.5) * ms:.1f} ms   "
        f"p99 {result.percentile(0.99) * ms:.1f} ms   max {result.percentile(1.0) * ms:.1f} ms",
        f"redeliveries: {result.redeliveries} sent, {again['duplicate']} answered duplicate, {again['queued']} queued "
        f"(the first delivery was not acknowledged), {unanswered} not acknowledged",
        f"redelivered after the load (each delivery never acknowledged, once): {sum(result.recovery_outcomes.values())}"
        f" -> {result.recovery_outcomes['queued']} queued 202, {result.recovery_outcomes['duplicate']} duplicate 200 "
        "(committed before the kill cut the answer)"
        + "".join(f", {n} {k}" for k, n in sorted(result.recovery_outcomes.items())
                  if k not in ("queued", "duplicate")),
        f"jobs completed: {result.completed_prs} pull requests reviewed at the stand-in (of {result.expected_prs} "
        f"acknowledged); queue: " + (", ".join(f"{k} {queue[k]}" for k in sorted(queue)) if queue else "unreadable"),
        f"jobs lost: {result.lost} (must be 0)" + (f"  PRs {result.lost_prs[:10]}" if result.lost else "")
        + f"   duplicates posted: {result.duplicates} (reviews {result.duplicate_reviews}, summaries "
        f"{result.duplicate_summaries}, inline comments {result.duplicate_comments}; must be 0)",
        f"re-runs: {result.extra_check_runs} extra check runs, {result.stale_check_runs} left in progress "
        f"(jobs killed mid-review and run again: at-least-once)",
        f"memory: peak Σ VmRSS {_mib(result.peak_rss_kb)} over {result.peak_processes} processes ("
        + ", ".join(f"{role} {n}× {_mib(kb)}" for role, (n, kb) in result.peak_roles.items())
        + f"), peak Σ VmHWM {_mib(result.peak_hwm_kb)}, peak Σ Pss {_mib(result.peak_pss_kb)}"
        + (f"; redis-server VmHWM {_mib(result.redis_hwm_kb)}" if result.redis_hwm_kb else ""),
    ]
    if result.downtime is not None:
        lines.append(f"down: {result.downtime:.2f} s from the kill to /healthz 200 again")
    lines.append(f"time to drain: {result.drain_seconds:.1f} s after the last answer"
                 + ("" if result.drained else f" (NOT drained: timeout {o.drain_timeout:g} s)")
                 + f"   reviews/s: {result.review_rate:.2f} (completed over load + drain, "
                 f"{result.load_seconds + result.drain_seconds:.1f} s)"
                 + f"   API requests at the stand-in: {result.api_requests}")
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def table(results: Sequence[RunResult]) -> str:
    head = ("run", "sent", "acked", "refused", "failed", "ack/s", "p50 ms", "p99 ms", "done", "lost", "dup",
            "rerun", "RSS MiB", "HWM MiB", "Pss MiB", "drain s", "rev/s")
    rows = [(r.scenario.name, str(r.sent), str(r.acknowledged), str(r.refused), str(r.failed), f"{r.ack_rate:.1f}",
             f"{r.percentile(0.5) * 1000:.1f}", f"{r.percentile(0.99) * 1000:.1f}", str(r.completed_prs),
             str(r.lost), str(r.duplicates), str(r.extra_check_runs), f"{r.peak_rss_kb / 1024:.0f}",
             f"{r.peak_hwm_kb / 1024:.0f}", f"{r.peak_pss_kb / 1024:.0f}",
             f"{r.drain_seconds:.1f}" + ("" if r.drained else "!"), f"{r.review_rate:.2f}")
            for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                                 strict=True)))
                     for row in (head, *rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    defaults = LoadOptions()
    parser.add_argument("--rate", type=float, default=defaults.rate, help="deliveries per second (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="load duration (default %(default)s)")
    parser.add_argument("--modes", default="embedded,redis", help="embedded,redis (default both)")
    parser.add_argument("--runs", help=f"runs by name, comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("--no-kill", action="store_true", help="only the steady runs")
    parser.add_argument("--web-workers", type=int, default=defaults.web_workers,
                        help="gunicorn web processes on Redis (default %(default)s)")
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="worker threads (embedded) / kubeguard worker processes (Redis) (default %(default)s)")
    parser.add_argument("--clients", type=int, default=defaults.clients, help="client threads (default %(default)s)")
    parser.add_argument("--redeliver-every", type=int, default=defaults.redeliver_every,
                        help="every N-th delivery is an exact redelivery (0: none; default %(default)s)")
    parser.add_argument("--restart-after", type=float, default=defaults.restart_after)
    parser.add_argument("--drain-timeout", type=float, default=defaults.drain_timeout)
    parser.add_argument("--strict", action="store_true", help="the stand-in validates its answers too")
    parser.add_argument("--simple-workers", action="store_true", help="kubeguard worker --simple (no fork per job)")
    parser.add_argument("--no-redeliver-failed", action="store_true",
                        help="do not redeliver, after the load, the deliveries that were not acknowledged")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR", help="copy the service's logs to DIR/<run>/")
    args = parser.parse_args(argv)
    modes = {m.strip() for m in args.modes.split(",") if m.strip()}
    if modes - {"embedded", "redis"}:
        parser.error("--modes: embedded, redis")
    if args.runs:
        names = [n.strip() for n in args.runs.split(",") if n.strip()]
        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            parser.error(f"--runs: unknown {', '.join(unknown)}")
    else:
        names = [n for n in DEFAULT_RUNS if SCENARIOS[n].mode in modes]
    if args.no_kill:
        names = [n for n in names if SCENARIOS[n].kill == "none"]
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    options = LoadOptions(rate=args.rate, seconds=args.seconds, clients=args.clients, web_workers=args.web_workers,
                          workers=args.workers, redeliver_every=args.redeliver_every,
                          restart_after=args.restart_after, drain_timeout=args.drain_timeout, strict=args.strict,
                          simple_workers=args.simple_workers, keep_logs=args.keep_logs,
                          redeliver_failed=not args.no_redeliver_failed)

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds through every run's cleanup

    signal.signal(signal.SIGTERM, terminate)
    print(f"load benchmark: {os.cpu_count()} CPUs, write interval 0, stand-in {'strict' if args.strict else 'checks'}"
          f" requests against the OpenAPI description, manifest {MANIFEST.relative_to(ROOT)}")
    key = rsa_key_pair()
    results = []
    try:
        for name in names:
            result = run(SCENARIOS[name], options, key=key)
            results.append(result)
            print(describe(result), flush=True)
            print()
    except KeyboardInterrupt:
        print("interrupted; every process started here has been stopped", file=sys.stderr)
        return 130
    if results:
        print(table(results))
    return 1 if any(r.lost or r.duplicates for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
