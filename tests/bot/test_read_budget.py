"""The read budget shared by the jobs of one installation (bot.github_client.installation_budget): in one process
across threads and clients, in Redis across processes; and the settings that size it.

Windows are a fraction of a second so that waiting shows quickly; assertions on time only prove that a reader
waited (at least about a window), never that something was fast.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fake_github import FakeGitHub
from local_servers import free_port

from bot import github_client
from bot.github_client import GitHubClient, LocalBudget, RedisBudget, installation_budget, redis_budget_key
from bot.jobs import Job
from bot.serve import ServiceSettings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghs_" + "2" * 36
TINY = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  k: v\n"
EPS = 0.05  # seconds: timer and scheduling slack


def within_budget(times: list[float], limit: int, window: float) -> bool:
    """No ``limit + 1`` of ``times`` in any ``window`` (less the slack)."""
    times = sorted(times)
    return all(times[i + limit] - times[i] >= window - EPS for i in range(len(times) - limit))


def content_times(fake: FakeGitHub, repo: str | None = None) -> list[float]:
    return sorted(r.time for r in fake.requests if "/contents/" in r.path and (repo is None or repo in r.path))


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """The warnings of ``kubeguard.github``, whatever the logging configuration left by other tests."""
    got: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record.getMessage())

    logger = logging.getLogger("kubeguard.github")
    handler = Collect(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield got
    finally:
        logger.removeHandler(handler)


# ---- in one process -------------------------------------------------------------------------------------------


def test_an_installation_has_one_budget_per_process_and_others_have_their_own() -> None:
    base = "https://ghe.example/api/v3"
    first = installation_budget(base, 5, 3, window=0.5)
    assert installation_budget(base + "/", 5, 3, window=0.5) is first
    assert installation_budget(base, 6, 3, window=0.5) is not first
    assert installation_budget("https://api.github.com", 5, 3, window=0.5) is not first
    assert installation_budget(base, 5, 0) is None  # 0: no budget


def test_the_read_after_the_budget_waits_until_the_oldest_leaves_the_window() -> None:
    budget = LocalBudget(3, window=0.4)
    started = time.monotonic()
    for _ in range(3):
        budget.take()
    budget.take()
    assert time.monotonic() - started >= 0.4 - EPS


def test_two_clients_of_one_installation_share_its_budget_across_threads(fake_github: FakeGitHub) -> None:
    fake_github.add_token(TOKEN)
    files = {f"cm/{i:02d}.yaml": TINY.format(i=i) for i in range(6)}
    heads = {}
    for repo in ("deploy", "infra"):
        fake_github.add_repo("acme", repo)
        fake_github.add_pull("acme", repo, 1, base_files={}, head_files=files)
    limit, window = 4, 0.5
    clients = [GitHubClient(f"acme/{repo}", token=TOKEN, base_url=fake_github.url, write_interval=0,
                            read_budget=installation_budget(fake_github.url, 41, limit, window=window))
               for repo in ("deploy", "infra")]
    for c in clients:
        heads[c.repo_full_name] = c.pull_request(1).head_sha
    reads = [(c, path) for c in clients for path in files]
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(lambda r: r[0].file_content(r[1], heads[r[0].repo_full_name]), reads))
    times = content_times(fake_github)
    assert len(times) == 12
    assert within_budget(times, limit, window)  # 4 in any half second for both clients together
    # each client alone would have kept to its own 4: together they would have read 8 in the first window
    assert times[limit] - times[0] >= window - EPS


def test_another_installation_does_not_wait_for_a_spent_budget(fake_github: FakeGitHub) -> None:
    fake_github.add_token(TOKEN)
    fake_github.add_repo("acme", "deploy")
    files = {f"cm/{i}.yaml": TINY.format(i=i) for i in range(3)}
    fake_github.add_pull("acme", "deploy", 1, base_files={}, head_files=files)
    spent = installation_budget(fake_github.url, 51, 3, window=30.0)
    for _ in range(3):
        spent.take()  # installation 51 may not read again for 30 s
    other = GitHubClient("acme/deploy", token=TOKEN, base_url=fake_github.url, write_interval=0,
                         read_budget=installation_budget(fake_github.url, 52, 3, window=30.0))
    head = other.pull_request(1).head_sha
    reader = threading.Thread(target=lambda: [other.file_content(p, head) for p in files], daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "installation 52 waited for installation 51's budget"
    assert len(content_times(fake_github)) == 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_work_horse_starts_with_budgets_of_its_own() -> None:
    """RQ forks a work horse per job: a registry lock held by another thread at the fork must not be inherited
    (sharing across processes is Redis's job)."""
    parent = installation_budget("https://api.github.com", 61, 3, window=0.5)
    with github_client._registry_lock:  # held, as another thread might hold it, while forking
        pid = os.fork()
        if pid == 0:  # the child: exits 0 only if it got a fresh budget without waiting for the lock
            child = installation_budget("https://api.github.com", 61, 3, window=0.5)
            os._exit(0 if child is not parent else 1)
    deadline = time.monotonic() + 10
    while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    if waited[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child waited for the registry lock its parent held")
    assert os.waitstatus_to_exitcode(waited[1]) == 0


def test_a_client_without_a_shared_budget_keeps_one_of_its_own() -> None:
    """The CLI and the Action: one job at a time, a budget per client as before."""
    a = GitHubClient("acme/deploy", token=TOKEN, base_url="http://127.0.0.1:9", reads_per_minute=5)
    b = GitHubClient("acme/deploy", token=TOKEN, base_url="http://127.0.0.1:9", reads_per_minute=5)
    assert isinstance(a._read_budget, LocalBudget) and a._read_budget.limit == 5
    assert a._read_budget is not b._read_budget
    assert GitHubClient("acme/deploy", token=TOKEN, base_url="http://127.0.0.1:9",
                        reads_per_minute=0)._read_budget is None


def _service(fake: FakeGitHub, rsa_key: tuple[str, str], tmp_path: Path, **extra: object) -> ServiceSettings:
    private, public = rsa_key
    fake.register_app(4242, public, installations={77: ["acme/deploy"]}, slug="kubeguard")
    fake.add_repo("acme", "deploy")
    return ServiceSettings(webhook_secret="s", app_id=4242, private_key=private, github_api_url=fake.url,
                           queue_path=tmp_path / "q.sqlite3", write_interval=0, **extra)  # type: ignore[arg-type]


def _job(fake: FakeGitHub, number: int, files: dict[str, str]) -> Job:
    pull = fake.add_pull("acme", "deploy", number, base_files={}, head_files=files)
    return Job(f"d-{number}", "pull_request", "opened", 77, "acme", "deploy", number, pull["head"]["sha"])


def test_jobs_of_one_installation_run_at_once_share_the_reads_per_minute(
        fake_github: FakeGitHub, rsa_key: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.pipeline import run_job

    window, limit = 0.4, 3
    monkeypatch.setattr(github_client, "READ_BUDGET_WINDOW", window)  # a "minute" of 0.4 s
    settings = _service(fake_github, rsa_key, tmp_path, reads_per_minute=limit)
    jobs = [_job(fake_github, n, {f"n{n}/{i}.yaml": TINY.format(i=i) for i in range(3)}) for n in (1, 2)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda j: run_job(settings, j), jobs))
    times = content_times(fake_github)
    assert len(times) > 2 * limit  # per job: the configuration, and each added file at head
    assert within_budget(times, limit, window)  # per job alone, 6 could have gone in the first window


def test_run_job_reads_as_many_files_at_once_as_the_settings_say(
        fake_github: FakeGitHub, rsa_key: tuple[str, str], tmp_path: Path) -> None:
    from bot.pipeline import run_job

    settings = _service(fake_github, rsa_key, tmp_path, read_concurrency=3, reads_per_minute=0)
    job = _job(fake_github, 1, {f"cm/{i}.yaml": TINY.format(i=i) for i in range(9)})
    fake_github.latency = 0.15  # each file read takes a while: reads in flight overlap
    run_job(settings, job)
    assert fake_github.max_in_flight == 3


# ---- in Redis, across processes --------------------------------------------------------------------------------


@pytest.fixture
def url(redis_server: str) -> str:
    import redis

    redis.Redis.from_url(redis_server).flushall()
    return redis_server


_READER = """
import json, sys, time
from bot.github_client import RedisBudget, installation_budget
url, reads, limit, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
budget = installation_budget("https://api.github.com", 7, limit, redis_url=url, window=window)
assert isinstance(budget, RedisBudget), budget
print("ready", flush=True)
sys.stdin.readline()  # go
times = []
for _ in range(reads):
    budget.take()
    times.append(time.time())
print(json.dumps(times), flush=True)
"""


def test_processes_share_an_installation_budget_in_redis(url: str) -> None:
    import redis

    limit, window, reads = 3, 0.4, 4
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _READER, url, str(reads), str(limit), str(window)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              cwd=ROOT) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == b"ready\n", p.stderr.read() if p.stderr else ""
        outputs = [p.communicate(b"go\n", timeout=30) for p in procs]  # both begin together
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), [err.decode() for _, err in outputs]
    assert not any(err for _, err in outputs), [err.decode() for _, err in outputs]  # no fallback warning
    times = sorted(t for out, _ in outputs for t in json.loads(out))
    assert len(times) == 2 * reads
    assert within_budget(times, limit, window)  # 3 in any 0.4 s for the two processes together
    assert times[limit] - times[0] >= window - EPS  # the 4th read waited for the window
    assert redis.Redis.from_url(url).zcard(redis_budget_key("https://api.github.com", 7)) <= limit


def test_a_reader_that_waited_max_wait_reads_anyway_and_is_counted(url: str, warnings: list[str]) -> None:
    import redis

    connection = redis.Redis.from_url(url)
    budget = RedisBudget(connection, "kubeguard:read-budget:test", 1, LocalBudget(1), window=30.0, max_wait=0.3)
    budget.take()
    started = time.monotonic()
    budget.take()  # the window is full for 30 s
    assert time.monotonic() - started >= 0.3 - EPS
    assert connection.zcard("kubeguard:read-budget:test") == 2
    assert any("reading anyway" in w for w in warnings)


def test_unreachable_redis_falls_back_to_the_process_budget_with_a_warning(warnings: list[str]) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    budget = installation_budget("https://api.github.com", 8, 2, redis_url=dead, window=0.4)
    assert isinstance(budget, RedisBudget)
    started = time.monotonic()
    for _ in range(3):
        budget.take()  # never raises; the third waits for the local window
    assert time.monotonic() - started >= 0.4 - EPS
    assert len([w for w in warnings if "Redis unreachable" in w]) == 1  # not tried again for a while


# ---- settings ---------------------------------------------------------------------------------------------------


def test_read_settings_default_to_the_clients_and_pipelines_defaults() -> None:
    from bot.pipeline import DEFAULT_READ_CONCURRENCY

    settings = ServiceSettings.from_env({}, need_secrets=False)
    assert settings.read_concurrency == DEFAULT_READ_CONCURRENCY == 8
    assert settings.reads_per_minute == github_client.DEFAULT_READS_PER_MINUTE == 800


def test_read_settings_from_the_environment() -> None:
    env = {"KUBEGUARD_READ_CONCURRENCY": " 3 ", "KUBEGUARD_READS_PER_MINUTE": "0"}
    settings = ServiceSettings.from_env(env, need_secrets=False)
    assert (settings.read_concurrency, settings.reads_per_minute) == (3, 0)
    assert ServiceSettings.from_env({"KUBEGUARD_READS_PER_MINUTE": "5000"}, need_secrets=False).reads_per_minute == 5000


@pytest.mark.parametrize(("name", "value", "message"), [
    ("KUBEGUARD_READ_CONCURRENCY", "0", "KUBEGUARD_READ_CONCURRENCY must be between 1 and 100"),
    ("KUBEGUARD_READ_CONCURRENCY", "101", "KUBEGUARD_READ_CONCURRENCY must be between 1 and 100"),
    ("KUBEGUARD_READ_CONCURRENCY", "eight", "KUBEGUARD_READ_CONCURRENCY must be an integer"),
    ("KUBEGUARD_READS_PER_MINUTE", "-1", "KUBEGUARD_READS_PER_MINUTE must be at least 0"),
    ("KUBEGUARD_READS_PER_MINUTE", "1.5", "KUBEGUARD_READS_PER_MINUTE must be an integer"),
])
def test_bad_read_settings_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        ServiceSettings.from_env({name: value}, need_secrets=False)
    assert str(error.value) == message
