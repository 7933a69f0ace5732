"""The GitHub client: the one module that imports PyGithub.

A narrow interface over the REST API for what the bot reads and publishes on a pull request. It
honours ``GITHUB_API_URL`` (GitHub Enterprise Server, the test double), retries 5xx, connection
errors and 429 with exponential backoff and jitter (urllib3's ``Retry`` under PyGithub's
``GithubRetry``, which also waits out primary and secondary rate limits: ``Retry-After``,
``x-ratelimit-reset``), paces content-creating requests (``write_interval`` seconds apart), and
paginates. With GitHub App credentials it exchanges the app's JWT for installation tokens, which
PyGithub refreshes before they expire; a token refused as expired is refreshed once and the request
repeated.

``file_content`` may be called from several threads at once (the pipeline reads files concurrently). A PyGithub
``Github`` must not be shared by threads: its one connection object keeps the verb, URL and headers of a request
between ``request()`` and ``getresponse()``, so two threads can swap requests (observed: a thread got another
file's content). Reads therefore go through a pool of PyGithub instances, one per concurrent caller, each with
its own requests session (and urllib3 pool, used by one thread at a time: never "Connection pool is full"),
sharing one authentication whose token refresh is serialised. Reads are also kept under GitHub's secondary
limit of 900 points a minute (a GET is one): at most ``reads_per_minute`` in any minute. That limit is per
installation, not per client: the service gives every client of an installation the same budget
(``installation_budget``: one per process, or one in Redis for all the worker processes); a client without
one (the CLI, the Action: one job at a time) has a budget of its own.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

import github
from github import Auth, GithubException, GithubRetry
from github.Requester import Requester, WithRequester

from bot.github_limits import DEFAULT_API_URL, DEFAULT_READS_PER_MINUTE
from bot.model import (
    Annotation,
    AnnotationLevel,
    ChangedFile,
    CheckOutput,
    IssueComment,
    PostedCheckRun,
    PostedReview,
    PostedReviewComment,
    PullRequest,
    ReviewComment,
    ReviewEvent,
)

ANNOTATIONS_PER_REQUEST = 50  # GitHub's maxItems for output.annotations
READ_BUDGET_WINDOW = 60.0  # seconds: the "minute" of ``reads_per_minute``
_T = TypeVar("_T")
log = logging.getLogger("kubeguard.github")


class GitHubError(Exception):
    """A request GitHub answered with an error (after retries)."""

    def __init__(self, status: int, message: str, errors: Sequence[Any] = ()) -> None:
        super().__init__(f"GitHub answered {status}: {message}" + (f" ({'; '.join(map(str, errors))})"
                                                                    if errors else ""))
        self.status = status
        self.message = message
        self.errors = tuple(errors)


class NotFound(GitHubError):
    pass


class ReviewRejected(GitHubError):
    """422 on creating a review: GitHub posted nothing of it."""


class NotAFile(Exception):
    """The path is a symlink or a submodule, not a regular file. GitHub answers a symlink to a file of the
    repository with that file (at the target's path), anything else with a description of the link; either way
    the bot reads no content through it."""

    def __init__(self, path: str, kind: str, target: str | None = None) -> None:
        super().__init__(f"{path} is a {kind}" + (f" (to {target})" if target else ""))
        self.path, self.kind, self.target = path, kind, target


def _error(exc: GithubException) -> GitHubError:
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message", exc.data if isinstance(exc.data, str) else ""))
    errors = data.get("errors") or ()
    cls = NotFound if exc.status == 404 else GitHubError
    return cls(exc.status, message, errors if isinstance(errors, list) else [errors])


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App's id and private key (PEM). Never printed: ``repr`` hides the key."""

    app_id: int
    private_key: str

    def __repr__(self) -> str:
        return f"AppCredentials(app_id={self.app_id}, private_key=<hidden>)"


class _SerialAuth(Auth.Auth, WithRequester["_SerialAuth"]):
    """One installation's authentication shared by the client's PyGithub instances. PyGithub refreshes an
    installation token inside ``token`` without a lock, through one ``GithubIntegration``; here one thread at a
    time reads (and so refreshes) it, and the inner auth is bound to the first requester only."""

    def __init__(self, inner: Auth.AppInstallationAuth) -> None:
        WithRequester.__init__(self)
        self._inner = inner
        self._lock = threading.Lock()
        self._bound = False

    def withRequester(self, requester: Requester) -> _SerialAuth:
        with self._lock:
            if not self._bound:
                self._inner.withRequester(requester)
                self._bound = True
        super().withRequester(requester)
        return self

    @property
    def token_type(self) -> str:
        return self._inner.token_type

    @property
    def token(self) -> str:
        with self._lock:
            return self._inner.token

    @property
    def _masked_token(self) -> str:
        return "token (installation token removed)"


class ReadBudget(Protocol):
    """Where a client takes a slot before each read: ``take`` returns once one more read fits."""

    def take(self) -> None: ...


class LocalBudget:
    """At most ``limit`` requests in any ``window`` seconds (default ``READ_BUDGET_WINDOW``) in this process;
    ``take`` blocks until one is free. Thread-safe."""

    def __init__(self, limit: int, window: float | None = None) -> None:
        if limit < 1:
            raise ValueError("the budget must allow at least one request")
        self.limit, self.window = limit, READ_BUDGET_WINDOW if window is None else window
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def take(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._times and now - self._times[0] >= self.window:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                wait = self.window - (now - self._times[0])
            time.sleep(wait)


# Lua, so that trimming, counting and adding are one atomic step for every process. The clock is the Redis
# server's (TIME), so workers on machines whose clocks disagree still share one window. Microseconds: exact in a
# double. Returns 0 when the read was counted, else the microseconds until the oldest read leaves the window.
_REDIS_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if ARGV[4] ~= '1' and redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
return 0
"""


class RedisBudget:
    """At most ``limit`` reads in any ``window`` seconds across every process that uses the same Redis key: a
    sliding-window log (a sorted set of read times, trimmed, counted and added to by one Lua script).

    A reader that does not fit sleeps until the oldest read in the window ages out (plus a little jitter, so the
    sleepers do not all retry at once), then tries again; after ``max_wait`` seconds (default two windows) it
    reads anyway, counted, with a warning: a review is never stalled for good. When Redis cannot be reached the
    reads go through ``fallback`` (this process's budget) with a warning, and Redis is tried again
    ``retry_after`` seconds later: the budget never fails a review.
    """

    def __init__(self, connection: Any, key: str, limit: int, fallback: ReadBudget, *,
                 window: float | None = None, max_wait: float | None = None, retry_after: float = 30.0) -> None:
        if limit < 1:
            raise ValueError("the budget must allow at least one request")
        self.key, self.limit = key, limit
        self.window = READ_BUDGET_WINDOW if window is None else window
        self.max_wait = 2 * self.window if max_wait is None else max_wait
        self._connection, self._fallback, self._retry_after = connection, fallback, retry_after
        self._script = connection.register_script(_REDIS_TAKE)
        self._down_until = 0.0  # time.monotonic() before which Redis is not tried again

    def take(self) -> None:
        if time.monotonic() < self._down_until:
            self._fallback.take()
            return
        deadline = time.monotonic() + self.max_wait
        while True:
            force = time.monotonic() >= deadline
            try:
                wait = self._try(force)
            except Exception as exc:  # redis.RedisError, socket errors, a bad URL: never a failed review
                self._unreachable(exc)
                self._fallback.take()
                return
            if wait <= 0:
                if force:
                    log.warning("read budget %s: waited %.0f s for a slot, reading anyway", self.key, self.max_wait)
                return
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())) + random.uniform(0, min(0.05, wait)))

    def _try(self, force: bool) -> float:
        """One atomic attempt: 0 if the read was counted, else the seconds until a slot frees."""
        micros = int(self._script(keys=[self.key], args=[int(self.window * 1_000_000), self.limit,
                                                          uuid.uuid4().hex, "1" if force else "0"]))
        return micros / 1_000_000

    def _unreachable(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + self._retry_after
        log.warning("read budget: Redis unreachable (%s: %s); this process's own budget is used for %.0f s, so "
                    "processes may together exceed it", type(exc).__name__, exc, self._retry_after)


_registry_lock = threading.Lock()
_local_budgets: dict[tuple[str, int, int, float], LocalBudget] = {}
_redis_budgets: dict[tuple[str, str, int, int, float], RedisBudget] = {}
_redis_connections: dict[str, Any] = {}


def _forget_budgets() -> None:
    """In a forked child: budgets and connections of its own (a lock another thread held at the fork would
    never be released; sharing across processes is Redis's job)."""
    global _registry_lock
    _registry_lock = threading.Lock()
    _local_budgets.clear()
    _redis_budgets.clear()
    _redis_connections.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_budgets)


def shared_budget(base_url: str, installation_id: int, limit: int, window: float | None = None) -> LocalBudget:
    """The one in-process budget of an installation: every client of it in this process takes from it."""
    window = READ_BUDGET_WINDOW if window is None else window
    key = (base_url.rstrip("/"), installation_id, limit, window)
    with _registry_lock:
        if key not in _local_budgets:
            _local_budgets[key] = LocalBudget(limit, window)
        return _local_budgets[key]


def redis_budget_key(base_url: str, installation_id: int) -> str:
    """The sorted set that holds an installation's recent reads."""
    return f"kubeguard:read-budget:{base_url.rstrip('/')}:{installation_id}"


def installation_budget(base_url: str, installation_id: int, reads_per_minute: int, *,
                        redis_url: str | None = None, window: float | None = None) -> ReadBudget | None:
    """The read budget that all jobs of an installation share (GitHub's secondary limit is per installation):
    kept in Redis when ``redis_url`` is given (every worker process, every host), else in this process.
    ``None`` when ``reads_per_minute`` is 0 (no budget)."""
    if reads_per_minute <= 0:
        return None
    local = shared_budget(base_url, installation_id, reads_per_minute, window)
    if redis_url is None:
        return local
    key = (redis_url, base_url.rstrip("/"), installation_id, reads_per_minute, local.window)
    with _registry_lock:
        if key not in _redis_budgets:
            try:
                connection = _redis_connection(redis_url)
            except Exception as exc:  # a URL redis-py refuses: the local budget, never a failed review
                log.warning("read budget: cannot use Redis (%s: %s); this process's own budget is used",
                            type(exc).__name__, exc)
                return local
            _redis_budgets[key] = RedisBudget(connection, redis_budget_key(base_url, installation_id),
                                              reads_per_minute, local, window=local.window)
        return _redis_budgets[key]


def _redis_connection(url: str) -> Any:
    """One client per Redis URL in this process (called under ``_registry_lock``); short timeouts, so an
    unreachable Redis costs a read seconds, not the socket's default minutes."""
    if url not in _redis_connections:
        import redis

        _redis_connections[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return _redis_connections[url]


@dataclass
class _Reader:
    generation: int
    gh: Any
    repo: Any


def retry_policy(total: int = 6, backoff: float = 0.5, secondary_wait: float = 60.0,
                 max_wait: float | None = 900.0) -> GithubRetry:
    """Retries of 5xx, 429, rate-limit 403s and connection errors, exponential with jitter."""
    return GithubRetry(total=total, backoff_factor=backoff, backoff_jitter=backoff, backoff_max=60,
                       secondary_rate_wait=secondary_wait, max_rate_limit_wait=max_wait,
                       status_forcelist=[*range(500, 600), 429])


def api_url(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return (env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")


class GitHubClient:
    """One repository, through one token (a static token or an installation's refreshed tokens)."""

    def __init__(self, repo_full_name: str, *, token: str | None = None, app: AppCredentials | None = None,
                 installation_id: int | None = None, base_url: str | None = None,
                 retry: GithubRetry | None = None, write_interval: float = 1.0, timeout: int = 30,
                 reads_per_minute: int | None = DEFAULT_READS_PER_MINUTE,
                 read_budget: ReadBudget | None = None) -> None:
        if token is None and (app is None or installation_id is None):
            raise ValueError("a token, or app credentials and an installation id, are needed")
        self.repo_full_name = repo_full_name
        self.base_url = (base_url or api_url()).rstrip("/")
        self._retry = retry if retry is not None else retry_policy()
        self._kwargs: dict[str, Any] = {"base_url": self.base_url, "timeout": timeout, "retry": self._retry,
                                        "per_page": 100, "seconds_between_requests": None,
                                        "seconds_between_writes": write_interval or None}
        self._token, self._app, self._installation_id = token, app, installation_id
        # ``read_budget``: shared by the jobs of an installation (``installation_budget``); without it a budget of
        # this client's own, which is right for one job at a time (the CLI, the Action)
        self._read_budget: ReadBudget | None = (
            read_budget if read_budget is not None
            else LocalBudget(reads_per_minute) if reads_per_minute else None)
        self._lock = threading.Lock()  # guards the connection generation and the idle readers
        self._generation = 0
        self._idle: list[_Reader] = []
        self._connect()

    @property
    def app_id(self) -> int | None:
        """The GitHub App this client acts as, when it has the app's credentials (a bare token does not say)."""
        return self._app.app_id if self._app is not None else None

    def _connect(self) -> None:
        if self._token is not None:
            auth: Auth.Auth = Auth.Token(self._token)
        else:
            assert self._app is not None and self._installation_id is not None
            auth = _SerialAuth(Auth.AppAuth(self._app.app_id, self._app.private_key).get_installation_auth(
                self._installation_id))
        self._auth = auth
        self._gh = github.Github(auth=auth, **self._kwargs)
        self._repo: Any = None
        self._pulls: dict[int, Any] = {}  # one GET of a pull request per client (a client serves one job)

    def _reconnect(self, generation: int) -> None:
        """New credentials after a 401 seen on connection ``generation`` (once, however many threads saw it)."""
        with self._lock:
            if generation != self._generation:
                return
            self._generation += 1
            stale, self._idle = self._idle, []
            self._connect()
        for reader in stale:
            reader.gh.close()

    def close(self) -> None:
        """Close the connections (the client stays usable: it reconnects on the next request)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for reader in idle:
            reader.gh.close()
        self._gh.close()

    @property
    def repo(self) -> Any:
        if self._repo is None:
            self._repo = self._call(lambda: self._gh.get_repo(self.repo_full_name))
        return self._repo

    def _call(self, fn: Callable[[], _T]) -> _T:
        """Run a request; a 401 on an installation token (expired early, revoked) refreshes it once."""
        generation = self._generation
        try:
            return fn()
        except GithubException as exc:
            if exc.status == 401 and self._app is not None:
                self._reconnect(generation)
                try:
                    return fn()
                except GithubException as again:
                    raise _error(again) from again
            raise _error(exc) from exc

    @contextlib.contextmanager
    def _reader(self) -> Iterator[_Reader]:
        """A PyGithub instance (and a lazy repository: no GET) for this thread alone, until the block ends."""
        with self._lock:
            reader = self._idle.pop() if self._idle else None
            generation, auth = self._generation, self._auth
        if reader is None:
            gh = github.Github(auth=auth, lazy=True, **self._kwargs)
            reader = _Reader(generation, gh, gh.get_repo(self.repo_full_name))
        try:
            yield reader
        finally:
            with self._lock:
                keep = reader.generation == self._generation
                if keep:
                    self._idle.append(reader)
            if not keep:
                reader.gh.close()

    def _read(self, fn: Callable[[Any], _T]) -> _T:
        """``fn(repository)`` on a reader of this thread's own (every PyGithub object it touches stays in ``fn``:
        a lazy attribute read later could send a request on a reader another thread has taken); 401 as ``_call``."""
        for attempt in (1, 2):
            with self._reader() as reader:
                self._pace()  # once the reader is ready: a slot is taken as the request goes out, not before
                try:
                    return fn(reader.repo)
                except GithubException as exc:
                    if exc.status != 401 or self._app is None or attempt == 2:
                        raise _error(exc) from exc
            self._reconnect(reader.generation)
        raise AssertionError("unreachable")

    def _pace(self) -> None:
        """Wait, if need be, until one more read fits in the budget of ``reads_per_minute``."""
        if self._read_budget is not None:
            self._read_budget.take()

    # ---- requests without the PyGithub object model (endpoints it does not wrap, or wraps with extra GETs)

    @property
    def _requester(self) -> Requester:
        return self._gh.requester

    def _request(self, verb: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}/repos/{self.repo_full_name}{path}"
        return self._call(lambda: self._requester.requestJsonAndCheck(verb, url, input=body)[1])

    # ---- reading

    def _pull(self, number: int) -> Any:
        if number not in self._pulls:
            self._pulls[number] = self.repo.get_pull(number)
        return self._pulls[number]

    def pull_request(self, number: int) -> PullRequest:
        pr = self._call(lambda: self._pull(number))
        owner, _, name = self.repo_full_name.partition("/")
        return PullRequest(owner, name, pr.number, pr.head.sha, pr.base.sha, pr.base.ref, pr.head.ref,
                           bool(pr.draft), pr.state, pr.title or "", pr.changed_files)

    def changed_files(self, number: int) -> list[ChangedFile]:
        """Every file of the pull request (GitHub lists at most 3,000), paginated."""
        def fetch() -> list[ChangedFile]:
            pr = self._pull(number)
            return [ChangedFile(f.filename, f.status, f.patch, f.previous_filename, f.additions, f.deletions)
                    for f in pr.get_files()]
        return self._call(fetch)

    def file_content(self, path: str, ref: str) -> bytes | None:
        """The bytes of a file at a ref, or None when it does not exist there (or is a directory). A symlink or a
        submodule raises ``NotAFile``: its target is never read in its place. Safe to call from several threads."""
        return self._read(lambda repo: _content(repo, path, ref, self._pace))

    def tree_paths(self, ref: str) -> list[str]:
        """Paths of every file (blob) at a ref; for scanning files the pull request does not touch."""
        tree = self._call(lambda: self.repo.get_git_tree(ref, recursive=True))
        return [e.path for e in tree.tree if e.type == "blob"]

    def review_comments(self, number: int) -> list[PostedReviewComment]:
        def fetch() -> list[PostedReviewComment]:
            pr = self._pull(number)
            return [PostedReviewComment(c.id, c.path, c.line, c.body or "", c.user.login if c.user else "",
                                        c.in_reply_to_id, c.pull_request_review_id, c.start_line)
                    for c in pr.get_review_comments()]
        return self._call(fetch)

    def reviews(self, number: int) -> list[PostedReview]:
        def fetch() -> list[PostedReview]:
            pr = self._pull(number)
            return [PostedReview(r.id, r.state, r.body or "", r.user.login if r.user else "", r.commit_id)
                    for r in pr.get_reviews()]
        return self._call(fetch)

    def issue_comments(self, number: int) -> list[IssueComment]:
        out: list[IssueComment] = []
        page = 1
        while True:  # paged by hand: PyGithub reaches comments only through GET .../issues/{n}, one more request
            batch = self._request("GET", f"/issues/{number}/comments?per_page=100&page={page}")
            out += [IssueComment(c["id"], c.get("body") or "", (c.get("user") or {}).get("login", ""))
                    for c in batch]
            if len(batch) < 100:
                return out
            page += 1

    # ---- publishing

    def create_review(self, number: int, commit_sha: str, body: str, event: ReviewEvent,
                      comments: Sequence[ReviewComment]) -> int:
        """One review with all its inline comments, in one request. 422 raises ``ReviewRejected``."""
        payload = {"commit_id": commit_sha, "body": body, "event": event.value,
                   "comments": [c.as_api() for c in comments]}
        try:
            data = self._request("POST", f"/pulls/{number}/reviews", payload)
        except GitHubError as exc:
            if exc.status == 422:
                raise ReviewRejected(exc.status, exc.message, exc.errors) from exc
            raise
        return int(data["id"])

    def dismiss_review(self, number: int, review_id: int, message: str) -> None:
        self._request("PUT", f"/pulls/{number}/reviews/{review_id}/dismissals", {"message": message})

    def reply_to_review_comment(self, number: int, comment_id: int, body: str) -> int:
        data = self._request("POST", f"/pulls/{number}/comments/{comment_id}/replies", {"body": body})
        return int(data["id"])

    def delete_review_comment(self, comment_id: int) -> None:
        with contextlib.suppress(NotFound):  # already gone
            self._request("DELETE", f"/pulls/comments/{comment_id}")

    def upsert_issue_comment(self, number: int, marker: str, body: str) -> int:
        """Edit the comment that carries ``marker`` (the bot's own), or create it."""
        for comment in self.issue_comments(number):
            if marker in comment.body:
                if comment.body != body:
                    self._request("PATCH", f"/issues/comments/{comment.id}", {"body": body})
                return comment.id
        return int(self._request("POST", f"/issues/{number}/comments", {"body": body})["id"])

    def check_runs(self, name: str, head_sha: str) -> list[PostedCheckRun]:
        """Every check run called ``name`` on the commit, oldest first, with ``filter=all`` (the default, ``latest``,
        would hide an earlier attempt left in progress); only this app's when the client has the app's id."""
        query: dict[str, Any] = {"check_name": name, "filter": "all", "per_page": 100}
        if self._app is not None:
            query["app_id"] = self._app.app_id
        out: list[PostedCheckRun] = []
        page = 1
        while True:
            data = self._request("GET", f"/commits/{head_sha}/check-runs?{urlencode({**query, 'page': page})}")
            runs = data.get("check_runs") or []
            out += [PostedCheckRun(r["id"], r["name"], r["head_sha"], r["status"], r.get("conclusion"),
                                   r.get("external_id") or None, (r.get("app") or {}).get("id"),
                                   int((r.get("output") or {}).get("annotations_count") or 0)) for r in runs]
            if len(runs) < 100 or len(out) >= int(data.get("total_count") or 0):
                return sorted(out, key=lambda r: r.id)
            page += 1

    def check_run_annotations(self, check_run_id: int) -> list[Annotation]:
        out: list[Annotation] = []
        page = 1
        while True:
            batch = self._request("GET", f"/check-runs/{check_run_id}/annotations?per_page=100&page={page}")
            out += [Annotation(a["path"], a["start_line"], a["end_line"], AnnotationLevel(a["annotation_level"]),
                               a.get("message") or "", a.get("title") or "", a.get("raw_details") or "")
                    for a in batch]
            if len(batch) < 100:
                return out
            page += 1

    def create_check_run(self, name: str, head_sha: str, external_id: str | None = None) -> int:
        body: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": "in_progress"}
        if external_id:
            body["external_id"] = external_id
        return int(self._request("POST", "/check-runs", body)["id"])

    def adopt_check_run(self, check_run_id: int, external_id: str) -> None:
        """Set only the run's ``external_id``: GitHub refuses (403) a run of another app, and the run's status is
        left as it is (a completed run set back to in_progress would keep its old conclusion)."""
        self._request("PATCH", f"/check-runs/{check_run_id}", {"external_id": external_id})

    def complete_check_run(self, check_run_id: int, output: CheckOutput) -> None:
        """Complete the run; annotations go 50 per request (later PATCHes append)."""
        batches = list(_batches([a.as_api() for a in output.annotations], ANNOTATIONS_PER_REQUEST)) or [[]]
        for index, batch in enumerate(batches):
            body: dict[str, Any] = {"output": {"title": output.title, "summary": output.summary,
                                               "annotations": batch}}
            if index == len(batches) - 1:
                body["conclusion"] = output.conclusion.value
            self._request("PATCH", f"/check-runs/{check_run_id}", body)

    def create_status(self, sha: str, state: str, description: str, context: str = "kubeguard",
                      target_url: str | None = None) -> None:
        body: dict[str, Any] = {"state": state, "description": description[:140], "context": context}
        if target_url:
            body["target_url"] = target_url
        self._request("POST", f"/statuses/{sha}", body)


def _content(repo: Any, path: str, ref: str, pace: Callable[[], None]) -> bytes | None:
    """``GitHubClient.file_content`` on one reader's repository; ``pace`` comes before a second request."""
    try:
        content = repo.get_contents(path, ref=ref)
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise
    if isinstance(content, list):
        return None
    kind = getattr(content, "type", "file")
    if kind != "file":
        raise NotAFile(path, kind, content.raw_data.get("target"))
    if content.path != path.strip("/"):  # GitHub followed a symlink to a file of the repository
        raise NotAFile(path, "symlink", content.path)
    if content.encoding == "base64" and content.content is not None:
        return base64.b64decode(content.content)
    # over 1 MB the contents API sends no content: fetch the blob
    pace()
    blob = repo.get_git_blob(content.sha)
    return base64.b64decode(blob.content) if blob.encoding == "base64" else blob.content.encode()


def _batches(items: list[_T], size: int) -> Iterator[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def installation_client(repo_full_name: str, app: AppCredentials, installation_id: int,
                        base_url: str | None = None, **kwargs: Any) -> GitHubClient:
    return GitHubClient(repo_full_name, app=app, installation_id=installation_id, base_url=base_url, **kwargs)


def app_slug(app: AppCredentials, base_url: str | None = None) -> str:
    """The app's slug (its comments are authored by ``<slug>[bot]``), via ``GET /app`` with the app's JWT."""
    integration = github.GithubIntegration(auth=Auth.AppAuth(app.app_id, app.private_key),
                                           base_url=(base_url or api_url()).rstrip("/"))
    try:
        return integration.get_app().slug
    except GithubException as exc:
        raise _error(exc) from exc
