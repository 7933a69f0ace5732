"""The GitHub App's webhook endpoint: verify, decide, queue, answer.

Order of checks on ``POST /webhook`` (each one before the next is looked at):

1. size: a ``Content-Length`` above ``max_body`` is refused with 413 before a byte is read; a body without
   one (chunked) is read at most ``max_body + 1`` bytes;
2. ``X-Hub-Signature-256`` over the raw bytes (HMAC-SHA256, constant-time compare): missing or wrong → 401;
3. content type (``application/json``, or GitHub's ``application/x-www-form-urlencoded`` with ``payload=``)
   → 415 otherwise; the headers ``X-GitHub-Event`` / ``X-GitHub-Delivery`` → 400 when missing;
4. the JSON and the fields the event needs → 400 with the reason;
5. the decision: one SQLite insert for the deliveries that ask for a review (202), nothing for the rest.

The answer never waits for the review: the worker pool (``bot.jobs.WorkerPool``) runs it later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import flask

from bot import logs
from bot.jobs import Job, QueueError

log = logging.getLogger("kubeguard.webhook")

CHECK_NAME = "kubeguard"
REVIEW_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
_DELIVERY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_EVENT_RE = re.compile(r"^[a-z_]{1,64}$")
_READ_CHUNK = 64 * 1024


class DeliveryQueue(Protocol):
    """What the webhook needs of a queue: ``bot.jobs.SqliteQueue`` and ``bot.rq_queue.RedisQueue`` are both one.

    Each method raises ``QueueError`` when the queue cannot be reached.
    """

    def enqueue_delivery(self, delivery_id: str, jobs: list[Job]) -> bool:
        """Record the delivery and queue its jobs before returning; False if the delivery was seen before."""
        ...

    def ping(self) -> None:
        """Return if the queue can be used (``/healthz``)."""
        ...

    def counts(self) -> dict[str, int]:
        """Jobs per state (``/metrics``)."""
        ...


class BadDelivery(Exception):
    """A delivery that cannot be used: answered with ``status`` and the message as the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature(secret: str | bytes, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``body``: the value GitHub sends in ``X-Hub-Signature-256``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """Constant-time check of an ``X-Hub-Signature-256`` header against the raw body."""
    if not header or not header.startswith("sha256="):
        return False
    expected = signature(secret, body)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii", "replace"))


class Metrics:
    """Counters for ``/metrics`` (Prometheus text format), kept in the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.deliveries: Counter[tuple[str, str]] = Counter()
        self.signature_failures = 0

    def delivery(self, event: str, outcome: str) -> None:
        with self._lock:
            self.deliveries[(event, outcome)] += 1

    def signature_failure(self) -> None:
        with self._lock:
            self.signature_failures += 1

    def render(self, job_counts: dict[str, int] | None) -> str:
        with self._lock:
            deliveries = sorted(self.deliveries.items())
            failures = self.signature_failures
        out = ["# HELP kubeguard_webhook_deliveries_total Webhook deliveries received, by event and outcome.",
               "# TYPE kubeguard_webhook_deliveries_total counter"]
        out += [f'kubeguard_webhook_deliveries_total{{event="{_label(e)}",outcome="{_label(o)}"}} {n}'
                for (e, o), n in deliveries]
        out += ["# HELP kubeguard_webhook_signature_failures_total Deliveries refused for a missing or wrong "
                "signature.",
                "# TYPE kubeguard_webhook_signature_failures_total counter",
                f"kubeguard_webhook_signature_failures_total {failures}"]
        if job_counts is not None:
            out += ["# HELP kubeguard_jobs Jobs in the queue, by state.", "# TYPE kubeguard_jobs gauge"]
            out += [f'kubeguard_jobs{{state="{_label(s)}"}} {n}' for s, n in sorted(job_counts.items())]
        out += ["# HELP kubeguard_queue_up Whether the queue database could be read.",
                "# TYPE kubeguard_queue_up gauge", f"kubeguard_queue_up {int(job_counts is not None)}"]
        return "\n".join(out) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def create_app(*, secret: str, queue: DeliveryQueue, review_drafts: bool = False, max_body: int = 25 * 1024 * 1024,
               on_enqueue: Callable[[], None] | None = None, metrics_token: str | None = None) -> flask.Flask:
    """The webhook service as a WSGI app.

    ``metrics_token``: when set, ``/metrics`` answers only requests with ``Authorization: Bearer <token>``
    (Prometheus's ``authorization`` setting), 401 otherwise; the counters name repositories' events and the
    queue's depth, which an endpoint reachable from outside the pod network should not show to anyone.

    ``on_enqueue`` is called after jobs were committed (``WorkerPool.notify`` wakes idle workers at once).
    ``review_drafts=False`` skips draft pull requests here; the pipeline also honours a repository's
    ``review.drafts``, which only takes effect when the service lets drafts through.
    """
    if not secret:
        raise ValueError("the webhook secret must not be empty")
    logs.register_secret(secret)
    if metrics_token:
        logs.register_secret(metrics_token)
    app = flask.Flask("kubeguard.webhook")
    app.config["MAX_CONTENT_LENGTH"] = max_body  # werkzeug's own guard as well, for chunked bodies
    metrics = Metrics()
    app.extensions["kubeguard.metrics"] = metrics
    app.extensions["kubeguard.queue"] = queue

    def answer(status: int, body: dict[str, Any], event: str, outcome: str, **extra: Any) -> flask.Response:
        metrics.delivery(event, outcome)
        level = logging.INFO if status < 400 else logging.WARNING
        log.log(level, f"delivery {outcome}", extra=logs.fields(status=status, **extra))
        response = flask.jsonify(body)
        response.status_code = status
        return response

    @app.post("/webhook")
    def webhook() -> flask.Response:
        started = time.monotonic()
        delivery = flask.request.headers.get("X-GitHub-Delivery", "")
        event = flask.request.headers.get("X-GitHub-Event", "")
        safe_delivery = delivery if _DELIVERY_RE.match(delivery) else None
        safe_event = event if _EVENT_RE.match(event) else None
        with logs.context(delivery_id=safe_delivery, event=safe_event):
            try:
                raw = _read_body(max_body)
            except BadDelivery as exc:
                response = answer(exc.status, {"error": exc.reason}, safe_event or "unknown", "too_large")
                response.headers["Connection"] = "close"
                return response
            if not verify_signature(secret, raw, flask.request.headers.get("X-Hub-Signature-256")):
                metrics.signature_failure()
                missing = "X-Hub-Signature-256" not in flask.request.headers
                reason = "missing X-Hub-Signature-256" if missing else "signature does not match"
                return answer(401, {"error": reason}, safe_event or "unknown", "bad_signature")
            try:
                payload = _parse(raw, flask.request.mimetype)
                if not event:
                    raise BadDelivery(400, "missing X-GitHub-Event header")
                if safe_event is None:
                    raise BadDelivery(400, "malformed X-GitHub-Event header")
                if not delivery:
                    raise BadDelivery(400, "missing X-GitHub-Delivery header")
                if safe_delivery is None:
                    raise BadDelivery(400, "malformed X-GitHub-Delivery header")
                decision = decide(event, delivery, payload, review_drafts=review_drafts)
            except BadDelivery as exc:
                outcome = "unsupported_media_type" if exc.status == 415 else "bad_request"
                return answer(exc.status, {"error": exc.reason}, safe_event or "unknown", outcome)
            if isinstance(decision, str):
                if event == "ping":
                    return answer(200, {"pong": True}, event, "ping")
                return answer(202, {"ignored": decision}, event, "ignored", reason=decision)
            first = decision[0]
            with logs.context(repo=f"{first.owner}/{first.repo}", pr=first.number if len(decision) == 1 else None):
                try:
                    fresh = queue.enqueue_delivery(delivery, decision)
                except QueueError as exc:
                    log.error("cannot queue the delivery", extra=logs.fields(error=str(exc)))
                    return answer(503, {"error": "the job queue is unavailable"}, event, "queue_error")
                if not fresh:
                    return answer(200, {"duplicate": delivery}, event, "duplicate")
                if on_enqueue is not None:
                    on_enqueue()
                return answer(202, {"queued": delivery, "jobs": [j.key for j in decision]}, event, "queued",
                              jobs=[j.delivery_id for j in decision], head_sha=first.head_sha,
                              ms=round((time.monotonic() - started) * 1000, 1))

    @app.get("/healthz")
    def healthz() -> flask.Response:
        try:
            queue.ping()
        except QueueError as exc:
            log.error("health check failed", extra=logs.fields(error=str(exc)))
            response = flask.jsonify({"status": "unavailable", "error": "the job queue cannot be opened"})
            response.status_code = 503
            return response
        return flask.jsonify({"status": "ok"})

    @app.get("/metrics")
    def metrics_endpoint() -> flask.Response:
        if metrics_token and not _bearer_matches(flask.request.headers.get("Authorization", ""), metrics_token):
            response = flask.Response("metrics need the bearer token (KUBEGUARD_METRICS_TOKEN)\n", status=401,
                                      mimetype="text/plain")
            response.headers["WWW-Authenticate"] = 'Bearer realm="kubeguard metrics"'
            return response
        try:
            counts: dict[str, int] | None = queue.counts()
        except QueueError:
            counts = None
        return flask.Response(metrics.render(counts), mimetype="text/plain; version=0.0.4")

    return app


def _bearer_matches(header: str, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _read_body(max_body: int) -> bytes:
    """The raw body, refusing (413) more than ``max_body`` bytes without reading them when announced."""
    length = flask.request.content_length
    if length is not None and length > max_body:
        raise BadDelivery(413, f"body larger than {max_body} bytes")
    stream = flask.request.environ.get("wsgi.input")
    if stream is None:
        return b""
    if length is not None:
        budget = length
    elif flask.request.environ.get("wsgi.input_terminated"):
        budget = max_body + 1  # chunked: read one byte more than allowed to know it is too much
    else:
        return b""  # no length and an unterminated stream: WSGI gives no safe way to find the end
    chunks: list[bytes] = []
    total = 0
    while total < budget:
        chunk = stream.read(min(_READ_CHUNK, budget - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_body:
        raise BadDelivery(413, f"body larger than {max_body} bytes")
    return b"".join(chunks)


def _parse(raw: bytes, mimetype: str) -> dict[str, Any]:
    if mimetype == "application/json":
        text = raw
    elif mimetype == "application/x-www-form-urlencoded":
        try:
            form = urllib.parse.parse_qs(raw.decode("utf-8"), strict_parsing=False, max_num_fields=100)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadDelivery(400, f"malformed form body: {exc}") from None
        values = form.get("payload")
        if not values:
            raise BadDelivery(400, "form body without a payload field")
        text = values[0].encode("utf-8")
    else:
        raise BadDelivery(415, f"unsupported content type {mimetype or '(none)'!r}: expected application/json")
    try:
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadDelivery(400, f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadDelivery(400, "the payload is not a JSON object")
    return payload


def decide(event: str, delivery: str, payload: dict[str, Any], *, review_drafts: bool = False) -> list[Job] | str:
    """The jobs a delivery asks for, or why it asks for none. Raises ``BadDelivery`` (400) on missing fields."""
    action = payload.get("action")
    if event == "ping":
        return "ping"
    if event == "pull_request":
        if action not in REVIEW_ACTIONS:
            return f"pull_request action {action!r} needs no review"
        pr = _obj(payload, "pull_request")
        owner, repo = _repository(payload)
        number = _int(pr, "number", "pull_request.number")
        if pr.get("state") == "closed":
            return "pull request is closed"
        if pr.get("draft") is True and not review_drafts:
            return "draft pull request (set KUBEGUARD_REVIEW_DRAFTS=true to review drafts)"
        sha = _sha(_obj(pr, "head", "pull_request.head"), "sha", "pull_request.head.sha")
        return [Job(delivery, event, str(action), _installation(payload), owner, repo, number, sha)]
    if event == "check_run":
        if action != "rerequested":
            return f"check_run action {action!r} needs no review"
        run = _obj(payload, "check_run")
        if run.get("name") != CHECK_NAME:
            return f"check run {str(run.get('name'))[:100]!r} is not kubeguard's"
        owner, repo = _repository(payload)
        pulls = run.get("pull_requests")
        if not isinstance(pulls, list):
            raise BadDelivery(400, "missing field check_run.pull_requests")
        if not pulls:
            return "check run names no pull request (a fork's pull request is not listed by GitHub)"
        installation = _installation(payload)
        jobs = []
        for i, pull in enumerate(pulls):
            where = f"check_run.pull_requests[{i}]"
            if not isinstance(pull, dict):
                raise BadDelivery(400, f"{where} is not an object")
            number = _int(pull, "number", f"{where}.number")
            head = pull.get("head")
            if isinstance(head, dict) and isinstance(head.get("sha"), str):
                sha = _sha(head, "sha", f"{where}.head.sha")
            else:
                sha = _sha(run, "head_sha", "check_run.head_sha")
            job_id = delivery if len(pulls) == 1 else f"{delivery}:{number}"
            jobs.append(Job(job_id, event, "rerequested", installation, owner, repo, number, sha))
        return jobs
    return f"event {event!r} needs no review"


def _obj(parent: dict[str, Any], key: str, where: str | None = None) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise BadDelivery(400, f"missing field {where or key}")
    return value


def _int(parent: dict[str, Any], key: str, where: str) -> int:
    value = parent.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadDelivery(400, f"missing or invalid field {where}")
    return value


def _sha(parent: dict[str, Any], key: str, where: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", value):
        raise BadDelivery(400, f"missing or invalid field {where}")
    return value


def _repository(payload: dict[str, Any]) -> tuple[str, str]:
    repo = _obj(payload, "repository")
    owner = repo.get("owner")
    login = owner.get("login") if isinstance(owner, dict) else None
    name = repo.get("name")
    if isinstance(login, str) and login and isinstance(name, str) and name:
        return login, name
    full = repo.get("full_name")
    if isinstance(full, str) and full.count("/") == 1 and all(full.split("/")):
        first, second = full.split("/")
        return first, second
    raise BadDelivery(400, "missing field repository.owner.login / repository.name")


def _installation(payload: dict[str, Any]) -> int | None:
    inst = payload.get("installation")
    if inst is None:
        return None
    if not isinstance(inst, dict) or not isinstance(inst.get("id"), int) or isinstance(inst.get("id"), bool):
        raise BadDelivery(400, "invalid field installation.id")
    return int(inst["id"])
