"""The whole service: a signed delivery over HTTP into the Flask app, the durable queue, a worker thread that
authenticates as the GitHub App (JWT → installation token) and reviews the pull request on the fake GitHub."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from pathlib import Path

from fake_github import FakeGitHub
from werkzeug.serving import make_server

from bot import review
from bot.jobs import SqliteQueue, WorkerPool
from bot.pipeline import run_job
from bot.serve import ServiceSettings
from bot.webhook import create_app, signature

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data" / "webhooks"
SECRET = "s3cret-for-tests"


def test_a_signed_delivery_becomes_a_review_through_the_queue(fake_github: FakeGitHub, tmp_path: Path,
                                                               rsa_key: tuple[str, str]) -> None:
    private, public = rsa_key
    fake_github.register_app(4242, public, installations={77: ["acme/deploy"]}, slug="kubeguard")
    fake_github.add_repo("acme", "deploy")
    config = (ROOT / "examples" / ".kubeguard.yaml").read_text()
    pull = fake_github.add_pull("acme", "deploy", 3, base_files={".kubeguard.yaml": config},
                                head_files={".kubeguard.yaml": config,
                                            "app.yaml": (ROOT / "examples" / "unhealthy.yaml").read_text()})
    settings = ServiceSettings(webhook_secret=SECRET, app_id=4242, private_key=private,
                            github_api_url=fake_github.url, queue_path=tmp_path / "q.sqlite3", write_interval=0)
    queue = SqliteQueue(settings.queue_path)
    pool = WorkerPool(queue, lambda job: run_job(settings, job), threads=2, poll_interval=0.05)
    server = make_server("127.0.0.1", 0, create_app(secret=SECRET, queue=queue, on_enqueue=pool.notify),
                         threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pool.start()
    try:
        payload = json.loads((DATA / "pull_request.opened.with-installation.json").read_text())
        payload["pull_request"].update(number=3, draft=False, state="open",
                                       head={**payload["pull_request"]["head"], "sha": pull["head"]["sha"]})
        payload["repository"].update(name="deploy", full_name="acme/deploy",
                                     owner={**payload["repository"]["owner"], "login": "acme"})
        payload["installation"]["id"] = 77
        body = json.dumps(payload).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/webhook", body, method="POST",
                                         headers={"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
                                                  "X-GitHub-Delivery": str(uuid.uuid4()),
                                                  "X-Hub-Signature-256": signature(SECRET, body)})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 202
        assert pool.drain(timeout=60)
    finally:
        pool.stop()
        server.shutdown()
    assert queue.counts()["done"] == 1, queue.list()
    comments = fake_github.review_comments("acme", "deploy", 3)
    assert comments and all(c["user"]["login"] == "kubeguard[bot]" for c in comments)
    assert any(review.SUMMARY_MARKER in c["body"] for c in fake_github.issue_comments("acme", "deploy", 3))
    assert any(r.path.endswith("/access_tokens") and r.status == 201 for r in fake_github.requests)


def test_an_installation_token_refused_early_is_refreshed_and_the_request_repeated(
        fake_github: FakeGitHub, rsa_key: tuple[str, str]) -> None:
    from bot.github_client import AppCredentials, installation_client

    private, public = rsa_key
    fake_github.register_app(99, public, installations={5: ["acme/deploy"]}, slug="kubeguard")
    fake_github.add_repo("acme", "deploy")
    fake_github.add_pull("acme", "deploy", 1, base_files={"a.yaml": "a: 1\n"}, head_files={"a.yaml": "a: 2\n"})
    client = installation_client("acme/deploy", AppCredentials(99, private), 5, base_url=fake_github.url,
                                 write_interval=0)
    assert client.pull_request(1).number == 1
    fake_github.revoke_tokens()  # GitHub now refuses the token PyGithub still trusts
    assert [f.path for f in client.changed_files(1)] == ["a.yaml"]
    issued = [r for r in fake_github.requests if r.path.endswith("/access_tokens") and r.status == 201]
    refused = [r for r in fake_github.requests if r.status == 401]
    assert len(issued) == 2 and len(refused) == 1
