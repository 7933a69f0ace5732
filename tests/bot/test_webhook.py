"""The webhook service over real HTTP on loopback: signed deliveries built from GitHub's example payloads.

Payloads: ``tests/bot/data/webhooks/`` (sources in its SOURCES.md). The queue is a real SQLite file.
"""

from __future__ import annotations

import copy
import dataclasses
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from local_servers import free_port
from werkzeug.serving import make_server

from bot import logs
from bot.jobs import Job, SqliteQueue, WorkerPool
from bot.serve import ServiceSettings, SettingsError, format_jobs, jobs_main
from bot.webhook import create_app, decide, signature, verify_signature

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data" / "webhooks"
SECRET = "kubeguard-test-secret-Zq81"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def payload(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def rerequested(name: str = "kubeguard") -> dict[str, Any]:
    """GitHub's own check_run.rerequested example, made kubeguard's and an App's delivery."""
    p = payload("check_run.rerequested.openapi-webhooks.json")
    p["check_run"]["name"] = name
    p["installation"] = {"id": 42}
    return p


class Server:
    def __init__(self, app: Any, queue: SqliteQueue) -> None:
        self.queue = queue
        self.httpd = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        self.sent = 0

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any] | str, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
            kind = response.getheader("Content-Type", "")
            data: dict[str, Any] | str = json.loads(raw) if "json" in kind else raw.decode()
            return response.status, data, dict(response.getheaders())
        finally:
            conn.close()

    def deliver(self, event: str | None, body: dict[str, Any] | bytes, *, delivery: str | None = None,
                secret: str | None = SECRET, sign: bytes | None = None, content_type: str = "application/json",
                extra: dict[str, str] | None = None) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.sent += 1
        headers = {"Content-Type": content_type, "User-Agent": "GitHub-Hookshot/044aadd",
                   "X-GitHub-Delivery": delivery or f"72d3162e-cc78-11e3-81ab-{self.sent:012d}",
                   "X-GitHub-Hook-ID": "292430182"}
        if event is not None:
            headers["X-GitHub-Event"] = event
        if secret is not None:
            headers["X-Hub-Signature-256"] = signature(secret, raw if sign is None else sign)
        headers.update(extra or {})
        status, data, _ = self.request("POST", "/webhook", raw, headers)
        return status, data

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    logs.configure()
    servers: list[Server] = []

    def factory(**options: Any) -> Server:
        queue = SqliteQueue(tmp_path / f"queue{len(servers)}.sqlite3")
        server = Server(create_app(secret=SECRET, queue=queue, **options), queue)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.close()


@pytest.fixture
def server(make: Callable[..., Server]) -> Server:
    return make()


def test_signature_matches_githubs_published_test_vector() -> None:
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature("It's a Secret to Everybody", b"Hello, World!") == expected
    assert verify_signature("It's a Secret to Everybody", b"Hello, World!", expected)
    assert not verify_signature("It's a Secret to Everybody", b"Hello, World!!", expected)
    assert not verify_signature("It's a Secret to Everybody", b"Hello, World!", expected.replace("sha256", "sha1"))
    assert not verify_signature("It's a Secret to Everybody", b"Hello, World!", None)


@pytest.mark.parametrize("name", ["pull_request.opened.with-installation.json",
                                  "pull_request.synchronize.with-installation.json",
                                  "pull_request.reopened.with-installation.json",
                                  "pull_request.ready_for_review.with-installation.json"])
def test_a_review_delivery_is_queued_with_its_pull_request(server: Server, name: str) -> None:
    body = payload(name)
    status, data = server.deliver("pull_request", body, delivery="d-review")
    assert (status, data) == (202, {"queued": "d-review", "jobs": ["Codertocat/Hello-World#2"]})
    [record] = server.queue.list()
    assert record.state == "queued"
    assert record.job == Job("d-review", "pull_request", body["action"], 1, "Codertocat", "Hello-World", 2, HEAD)


def test_form_encoded_deliveries_are_accepted(server: Server) -> None:
    raw = urllib.parse.urlencode({"payload": json.dumps(payload("pull_request.opened.with-installation.json"))})
    status, data = server.deliver("pull_request", raw.encode(), content_type="application/x-www-form-urlencoded")
    assert status == 202 and "queued" in data
    assert len(server.queue.list()) == 1


def test_signature_failures_are_401_and_queue_nothing(server: Server) -> None:
    body = payload("pull_request.opened.with-installation.json")
    raw = json.dumps(body).encode()
    assert server.deliver("pull_request", body, secret=None)[0] == 401
    status, data = server.deliver("pull_request", body, secret="not-the-secret")
    assert status == 401 and data == {"error": "signature does not match"}
    assert server.deliver("pull_request", body, sign=raw + b" ")[0] == 401  # a signature of another body
    assert server.deliver("pull_request", body, extra={"X-Hub-Signature-256": "sha256=" + "0" * 64})[0] == 401
    assert server.deliver("pull_request", body, extra={"X-Hub-Signature-256": "sha256=zz"})[0] == 401
    assert server.queue.list() == []
    assert server.queue.counts()["queued"] == 0


def test_unreadable_payloads_are_400_with_a_reason(server: Server) -> None:
    status, data = server.deliver("pull_request", b'{"action": "opened", ')
    assert status == 400 and data["error"].startswith("malformed JSON")
    status, data = server.deliver("pull_request", b"[1, 2]")
    assert status == 400 and "not a JSON object" in data["error"]
    broken = payload("pull_request.opened.with-installation.json")
    del broken["pull_request"]["head"]
    status, data = server.deliver("pull_request", broken)
    assert (status, data) == (400, {"error": "missing field pull_request.head"})
    broken = payload("pull_request.synchronize.with-installation.json")
    broken["pull_request"]["head"]["sha"] = "not a sha"
    assert server.deliver("pull_request", broken)[1] == {"error": "missing or invalid field pull_request.head.sha"}
    status, data = server.deliver(None, payload("pull_request.opened.with-installation.json"))
    assert (status, data) == (400, {"error": "missing X-GitHub-Event header"})
    status, data = server.deliver("pull_request", {"zen": "x"}, extra={"X-GitHub-Delivery": ""})
    assert status == 400
    assert server.queue.list() == []


def test_bodies_over_the_limit_are_refused_unread(make: Callable[..., Server]) -> None:
    server = make(max_body=1024)
    # announced too large: 413 from the headers alone (the client sends no body at all)
    status, data, headers = server.request("POST", "/webhook", None, {
        "Content-Type": "application/json", "Content-Length": str(10 * 1024 * 1024), "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "d-big", "X-Hub-Signature-256": signature(SECRET, b"")})
    assert status == 413 and "1024" in data["error"]
    assert headers.get("Connection") == "close"
    # within the limit: accepted
    assert server.deliver("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})[0] == 200


def test_chunked_bodies_over_the_limit_are_refused(make: Callable[..., Server]) -> None:
    server = make(max_body=1024)
    body = json.dumps({"zen": "x" * 1100, "hook_id": 1}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("POST", "/webhook")
        for key, value in {"Content-Type": "application/json", "Transfer-Encoding": "chunked",
                           "X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-chunked",
                           "X-Hub-Signature-256": signature(SECRET, body)}.items():
            conn.putheader(key, value)
        conn.endheaders()
        conn.send(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        response = conn.getresponse()
        assert response.status == 413
    finally:
        conn.close()


def test_other_content_types_are_415(server: Server) -> None:
    status, data = server.deliver("pull_request", payload("pull_request.opened.with-installation.json"),
                                  content_type="text/plain")
    assert status == 415 and "text/plain" in data["error"]
    assert server.queue.list() == []


def test_events_and_actions_that_need_no_review_are_ignored(server: Server) -> None:
    status, data = server.deliver("issues", {"action": "opened"})
    assert (status, data) == (202, {"ignored": "event 'issues' needs no review"})
    status, data = server.deliver("pull_request", payload("pull_request.closed.with-installation.json"))
    assert (status, data) == (202, {"ignored": "pull_request action 'closed' needs no review"})
    edited = payload("pull_request.opened.with-installation.json")
    edited["action"] = "edited"
    assert server.deliver("pull_request", edited)[0] == 202
    status, data = server.deliver("check_run", rerequested("Octocoders-linter"))
    assert (status, data) == (202, {"ignored": "check run 'Octocoders-linter' is not kubeguard's"})
    assert server.queue.list() == []


def test_a_replayed_delivery_is_a_duplicate_and_queues_one_job(server: Server) -> None:
    body = payload("pull_request.synchronize.with-installation.json")
    assert server.deliver("pull_request", body, delivery="d-same")[0] == 202
    assert server.deliver("pull_request", body, delivery="d-same") == (200, {"duplicate": "d-same"})
    assert [r.job.delivery_id for r in server.queue.list()] == ["d-same"]


def test_drafts_are_skipped_unless_asked_for(make: Callable[..., Server]) -> None:
    draft = payload("pull_request.opened.with-installation.json")
    draft["pull_request"]["draft"] = True
    server = make()
    status, data = server.deliver("pull_request", draft)
    assert status == 202 and "draft" in data["ignored"]
    assert server.queue.list() == []
    eager = make(review_drafts=True)
    assert eager.deliver("pull_request", draft)[0] == 202
    assert len(eager.queue.list("queued")) == 1


def test_a_rerequested_kubeguard_check_run_queues_each_of_its_pull_requests(server: Server) -> None:
    status, data = server.deliver("check_run", rerequested(), delivery="d-check")
    assert (status, data) == (202, {"queued": "d-check", "jobs": ["Codertocat/Hello-World#2"]})
    [record] = server.queue.list()
    assert record.job == Job("d-check", "check_run", "rerequested", 42, "Codertocat", "Hello-World", 2, HEAD)
    two = rerequested()
    second = copy.deepcopy(two["check_run"]["pull_requests"][0])
    second["number"], second["head"]["sha"] = 3, "a" * 40
    two["check_run"]["pull_requests"].append(second)
    status, data = server.deliver("check_run", two, delivery="d-two")
    assert status == 202 and data["jobs"] == ["Codertocat/Hello-World#2", "Codertocat/Hello-World#3"]
    ids = {r.job.delivery_id: r.job.head_sha for r in server.queue.list("queued")}
    assert ids == {"d-two:2": HEAD, "d-two:3": "a" * 40}
    empty = rerequested()
    empty["check_run"]["pull_requests"] = []
    assert "no pull request" in server.deliver("check_run", empty)[1]["ignored"]


def test_ping_answers_pong(server: Server) -> None:
    assert server.deliver("ping", {"zen": "Design for failure.", "hook_id": 292430182}) == (200, {"pong": True})


def test_healthz(server: Server, tmp_path: Path) -> None:
    assert server.request("GET", "/healthz")[:2] == (200, {"status": "ok"})
    broken = Server(create_app(secret=SECRET, queue=SqliteQueue(tmp_path / "missing" / "q.sqlite3")),
                    SqliteQueue(tmp_path / "unused.sqlite3"))
    try:
        status, data, _ = broken.request("GET", "/healthz")
        assert status == 503 and data["status"] == "unavailable"
        assert "kubeguard_queue_up 0" in broken.request("GET", "/metrics")[1]
    finally:
        broken.close()


def test_metrics_count_deliveries_jobs_and_signature_failures(server: Server) -> None:
    body = payload("pull_request.opened.with-installation.json")
    server.deliver("pull_request", body, delivery="m-1")
    server.deliver("pull_request", body, delivery="m-1")
    server.deliver("pull_request", body, secret="wrong")
    server.deliver("issues", {"action": "opened"})
    status, text, headers = server.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    lines = set(text.splitlines())
    assert {'kubeguard_webhook_deliveries_total{event="pull_request",outcome="queued"} 1',
            'kubeguard_webhook_deliveries_total{event="pull_request",outcome="duplicate"} 1',
            'kubeguard_webhook_deliveries_total{event="pull_request",outcome="bad_signature"} 1',
            'kubeguard_webhook_deliveries_total{event="issues",outcome="ignored"} 1',
            "kubeguard_webhook_signature_failures_total 1",
            'kubeguard_jobs{state="queued"} 1', 'kubeguard_jobs{state="dead"} 0',
            "# TYPE kubeguard_jobs gauge"} <= lines


def test_metrics_with_a_token_need_the_bearer_token(make: Callable[..., Server]) -> None:
    token = "metrics-token-0123456789"
    server = make(metrics_token=token)
    server.deliver("pull_request", payload("pull_request.opened.with-installation.json"), delivery="t-1")
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {token}"},
                    {"Authorization": f"Bearer {token}x"}):
        status, text, answer = server.request("GET", "/metrics", headers=headers)
        assert status == 401 and "kubeguard_jobs" not in str(text), headers
        assert answer["WWW-Authenticate"].startswith("Bearer")
    status, text, _ = server.request("GET", "/metrics", headers={"Authorization": f"bearer {token}"})
    assert status == 200 and 'kubeguard_jobs{state="queued"} 1' in str(text).splitlines()
    assert server.request("GET", "/healthz")[0] == 200  # probes need no token


def test_the_metrics_token_setting() -> None:
    base = {"KUBEGUARD_WEBHOOK_SECRET": SECRET}
    assert ServiceSettings.from_env(base, need_secrets=False).metrics_token is None
    settings = ServiceSettings.from_env({**base, "KUBEGUARD_METRICS_TOKEN": " abcdefghijklmnop0 "}, need_secrets=False)
    assert settings.metrics_token == "abcdefghijklmnop0" and "abcdefghijklmnop0" not in repr(settings)
    for bad in ("short", "has a space in the middle"):
        with pytest.raises(SettingsError, match="KUBEGUARD_METRICS_TOKEN"):
            ServiceSettings.from_env({**base, "KUBEGUARD_METRICS_TOKEN": bad}, need_secrets=False)


def test_logs_are_json_lines_with_the_delivery_and_never_the_secret(server: Server,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    body = payload("pull_request.opened.with-installation.json")
    raw = json.dumps(body).encode()
    server.deliver("pull_request", body, delivery="log-delivery-1")
    server.deliver("pull_request", body, delivery="log-delivery-2", secret="wrong")
    err = capsys.readouterr().err
    ours = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    queued = next(r for r in ours if r.get("delivery_id") == "log-delivery-1")
    assert queued["message"] == "delivery queued" and queued["level"] == "info"
    assert (queued["event"], queued["repo"], queued["pr"]) == ("pull_request", "Codertocat/Hello-World", 2)
    assert {"time", "level", "message"} <= set(queued)
    refused = next(r for r in ours if r.get("delivery_id") == "log-delivery-2")
    assert refused["status"] == 401 and refused["level"] == "warning"
    assert SECRET not in err
    assert signature(SECRET, raw)[7:] not in err and signature("wrong", raw)[7:] not in err
    assert body["pull_request"]["title"] not in err and "sha256=" not in err


def test_secrets_are_masked_even_if_code_logs_them(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    logs.configure()
    logs.register_secret("hunter2-very-secret")
    logging.getLogger("kubeguard.test").info("oops hunter2-very-secret",
                                             extra=logs.fields(token="ghs_abc", webhook_secret="x", ok=1))
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "oops [redacted]" and line["ok"] == 1
    assert "token" not in line and "webhook_secret" not in line


def test_the_answer_does_not_wait_for_the_work(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "q.sqlite3")
    release, started = threading.Event(), threading.Event()

    def slow(job: Job) -> None:
        started.set()
        release.wait(10)

    pool = WorkerPool(queue, slow, threads=1, poll_interval=0.01)
    server = Server(create_app(secret=SECRET, queue=queue, on_enqueue=pool.notify), queue)
    pool.start()
    try:
        t0 = time.monotonic()
        assert server.deliver("pull_request", payload("pull_request.opened.with-installation.json"))[0] == 202
        assert started.wait(5)
        assert server.deliver("pull_request", payload("pull_request.reopened.with-installation.json"))[0] == 202
        assert time.monotonic() - t0 < 5 and not release.is_set()
        release.set()
        assert pool.drain(5)
    finally:
        release.set()
        pool.stop(5)
        server.close()
    assert queue.counts()["done"] == 2


def test_decide_needs_a_repository() -> None:
    from bot.webhook import BadDelivery

    body = payload("pull_request.opened.with-installation.json")
    del body["repository"]
    with pytest.raises(BadDelivery, match="repository"):
        decide("pull_request", "d", body)


# -- settings and `kubeguard jobs` ----------------------------------------------------------------------------


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())  # fast; the loader check does not care which algorithm
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_settings_from_the_environment(tmp_path: Path) -> None:
    pem = _pem()
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)
    env = {"KUBEGUARD_WEBHOOK_SECRET": SECRET, "KUBEGUARD_APP_ID": "12345",
           "KUBEGUARD_PRIVATE_KEY_PATH": str(key_file), "KUBEGUARD_QUEUE_PATH": str(tmp_path / "q.sqlite3"),
           "KUBEGUARD_WORKERS": "4", "KUBEGUARD_REVIEW_DRAFTS": "true"}
    settings = ServiceSettings.from_env(env)
    assert (settings.app_id, settings.workers, settings.review_drafts) == (12345, 4, True)
    assert settings.github_api_url == "https://api.github.com"
    assert settings.private_key == pem.strip() + "\n"
    text = repr(settings)
    assert SECRET not in text and "PRIVATE KEY" not in text and "12345" in text
    inline = {**env, "KUBEGUARD_PRIVATE_KEY": pem.replace("\n", "\\n"), "GITHUB_API_URL": "https://ghe.example/api/v3/"}
    del inline["KUBEGUARD_PRIVATE_KEY_PATH"]
    again = ServiceSettings.from_env(inline)
    assert again.private_key == settings.private_key and again.github_api_url == "https://ghe.example/api/v3"
    assert settings.web_processes == 1
    scaled = ServiceSettings.from_env({**env, "KUBEGUARD_REDIS_URL": "redis://127.0.0.1:6379/0",
                                       "KUBEGUARD_WEB_PROCESSES": "3"})
    assert scaled.web_processes == 3
    assert (settings.job_timeout, settings.job_retention, settings.dead_job_retention) == (1800, 7 * 86400,
                                                                                           30 * 86400)


def test_the_job_timeout_and_retention_settings_reach_the_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """KUBEGUARD_JOB_RETENTION / KUBEGUARD_DEAD_JOB_RETENTION (the syntax of `jobs purge --older-than`) are the
    queue's retention, so the hourly purge and a bare `kubeguard jobs purge` use them."""
    from bot.cli import main

    env = {"KUBEGUARD_QUEUE_PATH": str(tmp_path / "q.sqlite3"), "KUBEGUARD_JOB_TIMEOUT": "3600",
           "KUBEGUARD_JOB_RETENTION": "12h", "KUBEGUARD_DEAD_JOB_RETENTION": "2"}  # a bare number is days
    settings = ServiceSettings.from_env(env, need_secrets=False)
    assert (settings.job_timeout, settings.job_retention, settings.dead_job_retention) == (3600, 43200, 172800)
    queue = settings.open_queue()
    assert isinstance(queue, SqliteQueue) and (queue.retention, queue.dead_retention) == (43200, 172800)
    from bot.serve import Service

    service = Service(dataclasses.replace(settings, webhook_secret="s"), handler=lambda job: None)
    assert service.pool is not None and service.pool.job_timeout == 3600
    for name, number in (("young", 1), ("old", 2)):
        queue.enqueue(Job(name, "pull_request", "opened", 1, "o", "r", number, "a" * 40))
        claimed = queue.claim("w")
        assert claimed is not None
        queue.complete(claimed)
    with queue._write() as conn:  # 13 hours ago: older than the retention, younger than the default 7 days
        conn.execute("UPDATE jobs SET updated = updated - 46800 WHERE id = 'old'")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KUBEGUARD_REDIS_URL", raising=False)
    assert main(["jobs", "purge"]) == 0
    assert "purged 1 job(s)" in capsys.readouterr().out
    assert [r.job.delivery_id for r in queue.list()] == ["young"]
    assert jobs_main(["purge", "--older-than", "0s"], settings) == 0  # `purge` is one of the jobs commands
    assert "purged 1 job(s)" in capsys.readouterr().out and queue.list() == []
    assert jobs_main(["purge", "--dead-older-than", "soon"], settings) == 2
    assert "not a duration" in capsys.readouterr().err


@pytest.mark.parametrize(("change", "variable"), [
    ({"KUBEGUARD_WEBHOOK_SECRET": ""}, "KUBEGUARD_WEBHOOK_SECRET"),
    ({"KUBEGUARD_APP_ID": "abc"}, "KUBEGUARD_APP_ID"),
    ({"KUBEGUARD_APP_ID": ""}, "KUBEGUARD_APP_ID"),
    ({"KUBEGUARD_PRIVATE_KEY": ""}, "KUBEGUARD_PRIVATE_KEY"),
    ({"KUBEGUARD_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nnot-base64-c2VjcmV0\n-----END PRIVATE KEY-----"},
     "KUBEGUARD_PRIVATE_KEY"),
    ({"KUBEGUARD_PRIVATE_KEY_PATH": "/nonexistent/app.pem"}, "KUBEGUARD_PRIVATE_KEY"),
    ({"KUBEGUARD_WORKERS": "0"}, "KUBEGUARD_WORKERS"),
    ({"KUBEGUARD_REVIEW_DRAFTS": "maybe"}, "KUBEGUARD_REVIEW_DRAFTS"),
    ({"GITHUB_API_URL": "ftp://x"}, "GITHUB_API_URL"),
    ({"KUBEGUARD_WEB_PROCESSES": "2"}, "KUBEGUARD_REDIS_URL"),  # the embedded queue's pool lives in one process
    ({"KUBEGUARD_WEB_PROCESSES": "0", "KUBEGUARD_REDIS_URL": "redis://r:6379/0"}, "KUBEGUARD_WEB_PROCESSES"),
    ({"KUBEGUARD_JOB_TIMEOUT": "30m"}, "KUBEGUARD_JOB_TIMEOUT"),  # whole seconds, as RQ takes them
    ({"KUBEGUARD_JOB_TIMEOUT": "5"}, "KUBEGUARD_JOB_TIMEOUT"),
    ({"KUBEGUARD_JOB_RETENTION": "soon"}, "KUBEGUARD_JOB_RETENTION"),
    ({"KUBEGUARD_DEAD_JOB_RETENTION": "-1d"}, "KUBEGUARD_DEAD_JOB_RETENTION"),
    ({"KUBEGUARD_DEAD_JOB_RETENTION": "nanh"}, "KUBEGUARD_DEAD_JOB_RETENTION"),
])
def test_bad_settings_name_the_variable_and_hide_the_value(change: dict[str, str], variable: str) -> None:
    env = {"KUBEGUARD_WEBHOOK_SECRET": SECRET, "KUBEGUARD_APP_ID": "1", "KUBEGUARD_PRIVATE_KEY": _pem(), **change}
    if "KUBEGUARD_PRIVATE_KEY_PATH" in change:
        del env["KUBEGUARD_PRIVATE_KEY"]
    with pytest.raises(SettingsError) as info:
        ServiceSettings.from_env(env)
    assert variable in str(info.value)
    assert SECRET not in str(info.value) and "c2VjcmV0" not in str(info.value)


def test_jobs_list_and_retry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = ServiceSettings.from_env({"KUBEGUARD_QUEUE_PATH": str(tmp_path / "q.sqlite3")}, need_secrets=False)
    queue = SqliteQueue(settings.queue_path, max_attempts=1)
    queue.enqueue(Job("d-ok", "pull_request", "opened", 1, "o", "r", 1, "a" * 40))
    queue.enqueue(Job("d-bad", "pull_request", "opened", 1, "o", "r", 2, "b" * 40))
    for _ in range(2):
        claimed = queue.claim("w")
        assert claimed is not None
        if claimed.delivery_id == "d-bad":
            queue.fail(claimed, "GithubException: 502\nBad gateway")
        else:
            queue.complete(claimed)
    assert jobs_main(["list"], settings) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["DELIVERY", "PR", "SHA", "STATE", "ATTEMPTS", "REASON"]
    assert out[2].split() == ["d-bad", "o/r#2", "b" * 12, "dead", "1", "GithubException:", "502", "Bad", "gateway"]
    assert jobs_main(["list", "--state", "done"], settings) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["DELIVERY", "d-ok"]
    assert jobs_main(["retry", "d-bad"], settings) == 0
    assert queue.get("d-bad").state == "queued"  # type: ignore[union-attr]
    assert jobs_main(["retry", "d-ok"], settings) == 1
    assert "not dead" in capsys.readouterr().err
    assert jobs_main(["list", "--state", "bogus"], settings) == 2
    assert format_jobs([]).split() == ["DELIVERY", "PR", "SHA", "STATE", "ATTEMPTS", "REASON"]


def test_the_argparse_helpers_register_serve_and_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from bot.serve import add_jobs_arguments, add_serve_arguments

    parser = argparse.ArgumentParser(prog="kubeguard")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_arguments(sub, lambda settings: lambda job: None)
    add_jobs_arguments(sub)
    args = parser.parse_args(["serve", "--host", "127.0.0.1", "--port", "9000", "--dev"])
    assert (args.host, args.port, args.dev) == ("127.0.0.1", 9000, True)
    monkeypatch.delenv("KUBEGUARD_WEBHOOK_SECRET", raising=False)
    assert args.func(args) == 2
    assert "KUBEGUARD_WEBHOOK_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("KUBEGUARD_QUEUE_PATH", str(tmp_path / "q.sqlite3"))
    args = parser.parse_args(["jobs", "list", "--state", "dead"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.split() == ["DELIVERY", "PR", "SHA", "STATE", "ATTEMPTS", "REASON"]


# -- the real thing: gunicorn, a worker process, the pool started after the fork -------------------------------

_SERVE = r"""
import sys
from pathlib import Path
from bot.serve import ServiceSettings, serve
port, queue_path, out_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
settings = ServiceSettings(webhook_secret=sys.argv[4], queue_path=Path(queue_path), workers=2)
def handler(job):
    with open(out_path, "a", encoding="utf-8") as out:
        out.write(f"{job.delivery_id} {job.key} {job.head_sha}\n")
sys.exit(serve(settings, "127.0.0.1", port, handler))
"""


def test_serve_runs_gunicorn_and_the_workers_review_what_the_webhook_queued(tmp_path: Path) -> None:
    port, out = free_port(), tmp_path / "handled.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(port), str(tmp_path / "q.sqlite3"), str(out), SECRET],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    assert json.loads(response.read()) == {"status": "ok"}
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("gunicorn did not come up")
                time.sleep(0.05)
        raw = (DATA / "pull_request.opened.with-installation.json").read_bytes()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/webhook", data=raw, method="POST", headers={
            "Content-Type": "application/json", "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "g-1",
            "X-Hub-Signature-256": signature(SECRET, raw)})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
        while not (out.exists() and out.read_text()):
            if time.monotonic() > deadline:
                pytest.fail("the worker pool did not run the job")
            time.sleep(0.02)
        assert out.read_text() == f"g-1 Codertocat/Hello-World#2 {HEAD}\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    text = err.decode()
    assert '"message": "workers started"' in text and SECRET not in text
    assert SqliteQueue(tmp_path / "q.sqlite3").counts()["done"] == 1
