"""Bot service benchmark: webhook acknowledgement latency, and a large pull request end to end.

    python benchmarks/bot_service.py [--deliveries N] [--files M]

Prints figures; asserts nothing. Two parts:

* webhook: the Flask app from ``bot.webhook.create_app`` with a SQLite queue, served by werkzeug on
  loopback; N signed ``pull_request`` ``opened`` deliveries POSTed from 4 client threads with
  ``http.client``; acknowledgements per second, p50/p99/max latency, answers other than 202 (must be 0)
  and jobs queued (must equal N);
* pipeline: ``bot.pipeline.review_pull_request`` on a pull request of M copies of ``examples/unhealthy.yaml``
  against the GitHub stand-in of ``tests/bot/fake_github``; findings, inline comments, seconds, and the
  API requests made, by method and path pattern, and per file.
"""

from __future__ import annotations

import argparse
import collections
import copy
import http.client
import json
import logging
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bot"))

from werkzeug.serving import make_server  # noqa: E402

import bot.jobs  # noqa: E402
import bot.pipeline  # noqa: E402
import bot.webhook  # noqa: E402
from bot.github_client import GitHubClient  # noqa: E402

SECRET = "benchmark-webhook-secret"
TOKEN = "ghs_" + "2" * 36
CLIENT_THREADS = 4
PAYLOAD = ROOT / "tests" / "bot" / "data" / "webhooks" / "pull_request.opened.with-installation.json"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def bench_webhook(deliveries: int) -> None:
    print(f"== webhook acknowledgement: {deliveries} signed pull_request.opened deliveries, "
          f"{CLIENT_THREADS} client threads ==")
    template = json.loads(PAYLOAD.read_text(encoding="utf-8"))
    bodies = []
    for i in range(deliveries):
        payload = copy.deepcopy(template)
        payload["pull_request"]["number"] = 1000 + i
        payload["number"] = 1000 + i
        bodies.append(json.dumps(payload).encode("utf-8"))

    with tempfile.TemporaryDirectory() as tmp:
        queue = bot.jobs.SqliteQueue(Path(tmp) / "q.sqlite3")
        app = bot.webhook.create_app(secret=SECRET, queue=queue)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per delivery
        server = make_server("127.0.0.1", 0, app, threaded=True)
        port = server.server_port
        threading.Thread(target=server.serve_forever, daemon=True).start()

        latencies: list[float] = []
        statuses: collections.Counter[int] = collections.Counter()
        lock = threading.Lock()

        def client(chunk: list[bytes]) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine: list[float] = []
            codes: collections.Counter[int] = collections.Counter()
            for body in chunk:
                headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
                           "X-GitHub-Delivery": str(uuid.uuid4()),
                           "X-Hub-Signature-256": bot.webhook.signature(SECRET, body)}
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/webhook", body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                    if resp.getheader("Connection", "").lower() == "close" or resp.version == 10:
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                except (OSError, http.client.HTTPException):
                    status = -1
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                mine.append(time.perf_counter() - t0)
                codes[status] += 1
            conn.close()
            with lock:
                latencies.extend(mine)
                statuses.update(codes)

        chunks = [bodies[i::CLIENT_THREADS] for i in range(CLIENT_THREADS)]
        threads = [threading.Thread(target=client, args=(c,)) for c in chunks]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        server.shutdown()
        server.server_close()
        queued = queue.counts()["queued"]

    ms = [x * 1000 for x in latencies]
    print(f"acknowledgements/s: {deliveries / elapsed:.0f}  ({elapsed:.2f} s total)")
    print(f"latency ms: p50 {statistics.median(ms):.2f}  p99 {_percentile(ms, 0.99):.2f}  max {max(ms):.2f}")
    not_202 = sum(n for code, n in statuses.items() if code != 202)
    print(f"answers not 202: {not_202}" + (f"  {dict(statuses)}" if not_202 else "") + "  (must be 0)")
    print(f"jobs queued: {queued}  (must be {deliveries})")


def _pattern(path: str) -> str:
    path = path.split("?", 1)[0]
    path = re.sub(r"^/repos/[^/]+/[^/]+", "/repos/{repo}", path)
    path = re.sub(r"/contents/.*$", "/contents/{path}", path)
    path = re.sub(r"/git/(trees|blobs|commits)/[^/]+", r"/git/\1/{sha}", path)
    path = re.sub(r"/commits/[0-9a-f]{7,40}", "/commits/{sha}", path)
    path = re.sub(r"/statuses/[0-9a-f]{7,40}", "/statuses/{sha}", path)
    return re.sub(r"/\d+(?=/|$)", "/{n}", path)


def bench_pipeline(files: int) -> None:
    from fake_github import FakeGitHub

    print(f"== pipeline end to end: pull request of {files} manifests against the GitHub stand-in ==")
    config = (ROOT / "examples" / ".kubeguard.yaml").read_text(encoding="utf-8")
    manifest = (ROOT / "examples" / "unhealthy.yaml").read_text(encoding="utf-8")
    head_files = {".kubeguard.yaml": config}
    for i in range(files):
        head_files[f"manifests/app-{i:03d}.yaml"] = re.sub(r"(?m)^(\s*name:\s*)(\S+)", rf"\g<1>\g<2>-{i:03d}",
                                                           manifest, count=1)

    fake = FakeGitHub(strict=False).start()
    try:
        fake.add_repo("acme", "deploy")
        fake.add_token(TOKEN)
        fake.add_pull("acme", "deploy", 1, base_files={".kubeguard.yaml": config}, head_files=head_files)
        client = GitHubClient("acme/deploy", token=TOKEN, base_url=fake.url, write_interval=0)
        t0 = time.perf_counter()
        outcome = bot.pipeline.review_pull_request(client, 1, bot.pipeline.Options())
        elapsed = time.perf_counter() - t0
        requests = fake.requests
    finally:
        fake.stop()

    comments = len(outcome.plan.comments) if outcome.plan else 0
    print(f"files: {files}  findings: {outcome.findings}  inline comments posted: {comments}")
    print(f"seconds: {elapsed:.2f}")
    print(f"API requests: {len(requests)}  ({len(requests) / max(files, 1):.2f} per file)")
    by_kind = collections.Counter((r.method, _pattern(r.path)) for r in requests)
    for (method, pattern), n in sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:6d}  {method:6s} {pattern}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=500, help="webhook deliveries to POST (default 500)")
    parser.add_argument("--files", type=int, default=300, help="manifests in the large pull request (default 300)")
    args = parser.parse_args(argv)
    bench_webhook(args.deliveries)
    print()
    bench_pipeline(args.files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
