"""``FakeGitHub``: GitHub's REST API for a pull-request bot, served by werkzeug on 127.0.0.1 in a thread.

Each request to an API route goes: fault injection (``inject``) -> authentication (401 ``Bad credentials``)
-> primary rate limit -> request validation against GitHub's OpenAPI description (422 ``Invalid request``)
-> repository access (404) -> the handler, which applies the rules no schema can express (diff hunks,
pending reviews, annotation batches, ...). Every answer carries ``x-ratelimit-*`` headers and is logged in
``requests``; with ``strict=True`` every answer whose status the spec declares is validated against the spec
too, and an invalid one is turned into a 500 and kept in ``response_errors``. ``latency`` adds a delay to the
GETs whose path matches ``latency_path`` (the contents API by default), outside every lock, so concurrent
requests wait concurrently as they would on a real network.
"""

from __future__ import annotations

import itertools
import json
import math
import posixpath
import re
import secrets
import socket
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import jwt
from flask import Flask, Response, g, request
from openapi_core.contrib.flask import FlaskOpenAPIRequest, FlaskOpenAPIResponse
from werkzeug.serving import WSGIRequestHandler, make_server

from . import bodies, spec
from .diff import FileDiff, as_bytes, as_text, blob_sha, diff_text, line_map
from .state import (
    App,
    ChangedFile,
    CheckRun,
    Commit,
    Fault,
    IssueComment,
    Pull,
    RecordedRequest,
    Repo,
    Review,
    ReviewComment,
    Symlink,
    Token,
    tree_sha,
)

DEFAULT_BOT = "kubeguard[bot]"
SECONDARY_RATE_LIMIT = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
LINE_NOT_IN_DIFF = "Pull request review thread line must be part of the diff"
HUNK_BLANK = "Pull request review thread diff hunk can't be blank"
START_OTHER_HUNK = "Pull request review thread start line must be part of the same hunk as the line."
START_NOT_BEFORE = "Pull request review thread start line must precede the end line."
PATH_INVALID = "Pull request review thread path is invalid"
SIDE_INVALID = "Pull request review thread side is not included in the list"
ONE_PENDING = "User can only have one pending review per pull request"
PLACEHOLDER_PATH = "fake-github-placeholder"
CONTENTS_INLINE_LIMIT = 1024 * 1024  # the contents API inlines files up to 1 MB; up to 100 MB: encoding "none"
_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
_LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}
_ALNUM = string.ascii_letters + string.digits


class HTTPError(Exception):
    def __init__(self, status: int, message: str, *, errors: list[Any] | None = None,
                 documentation_url: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors
        self.documentation_url, self.headers = documentation_url, headers or {}


@dataclass
class _Bucket:
    limit: int
    used: int
    reset: float


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _PlaceholderPathRequest(FlaskOpenAPIRequest):
    """The contents route: openapi-core cannot match a ``{path}`` holding ``/``, so validate a one-segment stand-in."""

    @property
    def path(self) -> str:
        prefix = self.request.path.split("/contents/", 1)[0]
        return f"{prefix}/contents/{PLACEHOLDER_PATH}"

    def __init__(self, req: Any) -> None:
        super().__init__(req)
        self.parameters.path = {**(req.view_args or {}), "path": PLACEHOLDER_PATH}


def _english(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _spec_null_gaps(pattern: str) -> tuple[str, ...]:
    """Optional keys GitHub answers as ``null`` where the spec has no ``nullable``: a review comment's
    ``line``/``position`` once outdated. Strict mode checks those bodies with these nulls left out."""
    if "/pulls/" in pattern and "comments" in pattern:
        return ("line", "position")
    return ()


def _drop_nulls(body: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(body, list):
        return [_drop_nulls(item, keys) for item in body]
    if isinstance(body, dict):
        return {k: _drop_nulls(v, keys) for k, v in body.items() if not (k in keys and v is None)}
    return body


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class FakeGitHub:
    """A GitHub REST API double on loopback. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(self, *, strict: bool = False, bot_login: str = DEFAULT_BOT, token_ttl: float = 3600,
                 rate_limit: int = 5000) -> None:
        self.strict = strict
        self.bot_login = bot_login
        self.token_ttl = token_ttl
        self.rate_limit = rate_limit
        self.latency = 0.0  # seconds added to each GET whose path matches ``latency_path`` (re.search)
        self.latency_path = r"/contents/"
        self.max_in_flight = 0  # the most requests it was answering at once
        self._in_flight = 0
        self.response_errors: list[str] = []
        self._lock = threading.RLock()
        self._validation_lock = threading.Lock()  # openapi-core is not documented as thread-safe
        self._ids = itertools.count(1001)
        self._clock_offset = 0.0
        self._repos: dict[str, Repo] = {}
        self._users: dict[str, tuple[int, str]] = {}
        self._tokens: dict[str, Token] = {}
        self._apps: dict[str, App] = {}
        self._reviews: dict[int, tuple[str, Review]] = {}
        self._review_comments: dict[int, tuple[str, ReviewComment]] = {}
        self._issue_comments: dict[int, tuple[str, IssueComment]] = {}
        self._check_runs: dict[int, tuple[str, CheckRun]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._faults: list[Fault] = []
        self._log: list[RecordedRequest] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.app = self._build_app()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeGitHub:
        spec.api()  # build (or reuse) the process-wide OpenAPI object before the first request
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-github", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ clock, users, tokens, apps

    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance_time(self, seconds: float) -> None:
        """Move the fake's clock (token and JWT expiry, timestamps) forward without sleeping."""
        with self._lock:
            self._clock_offset += seconds

    def _user(self, login: str, user_type: str | None = None) -> dict[str, Any]:
        with self._lock:
            if login not in self._users:
                self._users[login] = (next(self._ids), user_type or ("Bot" if login.endswith("[bot]") else "User"))
            user_id, kind = self._users[login]
            return bodies.user(self.url, login, user_id, kind)

    def revoke_tokens(self) -> None:
        """Forget every token issued so far (as GitHub does when an installation token is revoked)."""
        with self._lock:
            self._tokens.clear()

    def add_token(self, token: str, *, repos: Iterable[str] | None = None, login: str | None = None,
                  app_id: int | None = None) -> None:
        """A static token (``token``/``Bearer``); ``repos`` limits it to those ``owner/repo`` (default: all).
        It acts as ``login`` (default the bot login, type Bot; a login without ``[bot]`` is a User) and, for check
        runs, as the GitHub App ``app_id`` (default 1, the app the fake describes when none is registered)."""
        with self._lock:
            self._tokens[token] = Token(token, login or self.bot_login,
                                        None if repos is None else {r.lower() for r in repos}, app_id=app_id)
            self._user(login or self.bot_login)

    def register_app(self, app_id: int, public_key_pem: str | bytes, installations: dict[int, list[str]], *,
                     slug: str | None = None, permissions: dict[str, str] | None = None) -> None:
        """A GitHub App whose JWTs (RS256, ``iss`` = app id) are checked with ``public_key_pem``."""
        slug = slug or self.bot_login.removesuffix("[bot]")
        pem = public_key_pem.decode() if isinstance(public_key_pem, bytes) else public_key_pem
        perms = permissions or {"checks": "write", "contents": "read", "issues": "write", "metadata": "read",
                                "pull_requests": "write", "statuses": "write"}
        with self._lock:
            self._apps[str(app_id)] = App(int(app_id), slug, slug, pem,
                                          {int(k): list(v) for k, v in installations.items()}, perms, self.now())
            self._user(f"{slug}[bot]")

    # ------------------------------------------------------------------ repositories and pull requests

    def add_repo(self, owner: str, repo: str, default_branch: str = "main") -> dict[str, Any]:
        with self._lock:
            r = Repo(owner, repo, next(self._ids), default_branch, self.now())
            self._repos[r.full_name.lower()] = r
            self._user(owner)
            r.branches[default_branch] = self._commit(r, {}, [], "Initial commit")
            return self._repo_json(r)

    def _repo(self, owner: str, repo: str) -> Repo:
        r = self._repos.get(f"{owner}/{repo}".lower())
        if r is None:
            raise HTTPError(404, "Not Found", documentation_url="https://docs.github.com/rest/repos/repos#get-a-repository")
        return r

    def _commit(self, repo: Repo, files: dict[str, str | bytes], parents: list[str], message: str) -> str:
        tree = {path: as_bytes(content) for path, content in files.items()}
        for data in tree.values():
            repo.blobs[blob_sha(data)] = data
        dir_shas = self._tree_shas(tree)
        sha = blob_sha(f"commit {dir_shas['']} {parents} {message} {next(self._ids)} {secrets.token_hex(4)}".encode())
        repo.commits[sha] = Commit(sha, tree, dir_shas[""], parents, message, self.now())
        for directory, dsha in dir_shas.items():
            repo.trees.setdefault(dsha, (sha, directory))
        return sha

    @staticmethod
    def _tree_shas(tree: dict[str, bytes]) -> dict[str, str]:
        """The sha of every directory of ``tree`` ("" = root), computed bottom-up like ``_subtree``."""
        dirs: dict[str, dict[str, str]] = {"": {}}
        for path, data in tree.items():
            parts = path.split("/")
            for i in range(1, len(parts)):
                dirs.setdefault("/".join(parts[:i]), {})
            dirs["/".join(parts[:-1])][parts[-1]] = blob_sha(data)
        shas: dict[str, str] = {}
        for d in sorted(dirs, key=lambda p: -(p.count("/") + 1) if p else 1):
            shas[d] = tree_sha(dirs[d])
            if d:
                parent, _, name = d.rpartition("/")
                dirs[parent][name + "/"] = shas[d]
        return shas

    def add_pull(self, owner: str, repo: str, number: int, *, base_files: dict[str, str | bytes],
                 head_files: dict[str, str | bytes], draft: bool = False, title: str | None = None,
                 body: str = "", author: str = "octocat", renames: dict[str, str] | None = None,
                 omit_patch: set[str] | None = None, base_ref: str | None = None,
                 head_ref: str | None = None) -> dict[str, Any]:
        """A pull request from ``base_files`` to ``head_files`` (each a new commit); returns its JSON.
        ``renames`` maps new path -> old path; ``omit_patch`` paths get no ``patch`` (GitHub's large diffs)."""
        with self._lock:
            r = self._repo(owner, repo)
            base_ref = base_ref or r.default_branch
            parent = r.branches.get(base_ref)
            base_sha = self._commit(r, base_files, [parent] if parent else [], f"Base of #{number}")
            r.branches[base_ref] = base_sha
            head_sha = self._commit(r, head_files, [base_sha], title or f"Pull request #{number}")
            head_ref = head_ref or f"pr-{number}"
            r.branches[head_ref] = head_sha
            self._user(author)
            pull = Pull(number, next(self._ids), title or f"Pull request #{number}", body, draft, author, base_ref,
                        head_ref, base_sha, [head_sha], {}, self.now(), self.now())
            pull.files[head_sha] = self._changed_files(r, base_sha, head_sha, renames or {}, omit_patch or set())
            r.pulls[number] = pull
            return self._pull_json(r, pull)

    def push(self, owner: str, repo: str, number: int, head_files: dict[str, str | bytes], *,
             renames: dict[str, str] | None = None, omit_patch: set[str] | None = None) -> str:
        """A new head commit for the PR; files and patches are recomputed and review comments whose line
        left the diff become outdated (``line: null``). Returns the new head sha."""
        with self._lock:
            r = self._repo(owner, repo)
            pull = r.pulls[number]
            old = pull.head_sha
            new = self._commit(r, head_files, [old], f"Update #{number}")
            r.branches[pull.head_ref] = new
            pull.heads.append(new)
            pull.updated_at = self.now()
            pull.files[new] = self._changed_files(r, pull.base_sha, new, renames or {}, omit_patch or set())
            self._reposition(r, pull, new)
            return new

    def _changed_files(self, repo: Repo, base_sha: str, head_sha: str, renames: dict[str, str],
                       omit_patch: set[str]) -> dict[str, ChangedFile]:
        base, head = repo.commits[base_sha].tree, repo.commits[head_sha].tree
        renamed_from = set(renames.values())
        out: dict[str, ChangedFile] = {}
        for path in sorted(set(base) | set(head)):
            if path in renamed_from and path not in head:
                continue
            old_path = renames.get(path, path)
            old, new = base.get(old_path), head.get(path)
            if old is not None and new is not None and old == new and old_path == path:
                continue
            status = "added" if old is None else "removed" if new is None else (
                "renamed" if old_path != path else "modified")
            old_text = "" if old is None else as_text(old)
            new_text = "" if new is None else as_text(new)
            diff = None if old_text is None or new_text is None else diff_text(old_text, new_text)
            out[path] = ChangedFile(path, status, blob_sha(new if new is not None else old or b""),
                                    diff.additions if diff else 0, diff.deletions if diff else 0, diff,
                                    old_path if status == "renamed" else None, path in omit_patch)
        return out

    def _reposition(self, repo: Repo, pull: Pull, new_head: str) -> None:
        files = pull.files[new_head]
        for full_name, c in self._review_comments.values():
            if full_name != repo.full_name or c.number != pull.number or c.line is None:
                continue
            changed = files.get(c.path)
            diff = changed.diff if changed and changed.has_patch else None
            if c.side == "RIGHT":
                old = as_text(repo.commits[c.commit_id].tree.get(c.path, b"")) or ""
                new = as_text(repo.commits[new_head].tree.get(c.path, b"")) or ""
                mapping = line_map(old, new)
                line = mapping.get(c.line)
                start = mapping.get(c.start_line) if c.start_line is not None else None
            else:
                line, start = c.line, c.start_line
            found = diff.find(line, c.side) if diff and line else None
            if found is None:
                c.line, c.start_line, c.position = None, None, None
                continue
            c.line, c.commit_id = line, new_head
            c.start_line = start if c.start_line is not None else None
            c.position = found[0].first_position + found[1]

    # ------------------------------------------------------------------ humans, faults, assertions

    def add_review_comment(self, owner: str, repo: str, number: int, path: str, line: int, body: str,
                           author: str, in_reply_to: int | None = None, side: str = "RIGHT") -> dict[str, Any]:
        """A review comment written by a human (``author``) in its own COMMENTED review; raises ValueError
        if the line is not in the diff. With ``in_reply_to`` it answers that comment's thread."""
        with self._lock:
            r = self._repo(owner, repo)
            pull = r.pulls[number]
            self._user(author)
            review = Review(next(self._ids), number, author, "", "COMMENTED", pull.head_sha, self.now())
            if in_reply_to is not None:
                comment = self._reply(r, pull, review, self._review_comments[in_reply_to][1], body)
            else:
                errors, located = self._locate(pull, pull.head_sha, {"path": path, "line": line, "side": side})
                if errors:
                    raise ValueError(_english(errors))
                comment = self._new_comment(pull, review, located, body)
            self._reviews[review.id] = (r.full_name, review)
            self._review_comments[comment.id] = (r.full_name, comment)
            return self._comment_json(r, comment)

    def inject(self, method: str, path_regex: str, status: int, *, headers: dict[str, str] | None = None,
               body: Any = None, times: int = 1, skip: int = 0) -> None:
        """The next ``times`` requests with ``method`` (or ``*``) whose path matches ``path_regex``
        (``re.search``) get ``status`` before anything else happens, once ``skip`` of them went through.
        ``status=0`` closes the connection without an answer. 403/429 default to GitHub's secondary-rate-limit
        body with ``Retry-After: 1``."""
        with self._lock:
            self._faults.append(Fault(method.upper(), path_regex, status, headers, body, times, skip))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def reviews(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            r = self._repo(owner, repo)
            return [self._review_json(r, v) for v in self._user_reviews(r, number)]

    def review_comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        """Every stored review comment of the PR, pending ones included (the API lists submitted ones only)."""
        with self._lock:
            r = self._repo(owner, repo)
            return [self._comment_json(r, c) for k, c in self._review_comments.values()
                    if k == r.full_name and c.number == number]

    def issue_comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            r = self._repo(owner, repo)
            return [bodies.issue_comment(self.url, r, c, self._user(c.user)) for k, c in self._issue_comments.values()
                    if k == r.full_name and c.number == number]

    def check_runs(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """Check runs as the API shows them, plus ``annotations``: every annotation stored."""
        with self._lock:
            r = self._repo(owner, repo)
            return [{**self._check_run_json(r, run), "annotations": [bodies.annotation(self.url, r, run, a)
                                                                      for a in run.annotations]}
                    for k, run in self._check_runs.values() if k == r.full_name]

    def statuses(self, owner: str, repo: str, sha: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in self._repo(owner, repo).statuses.get(sha, [])]

    # ------------------------------------------------------------------ JSON helpers

    def _repo_json(self, r: Repo) -> dict[str, Any]:
        return bodies.repository(self.url, r, self._user(r.owner), max(c.date for c in r.commits.values()))

    def _pull_json(self, r: Repo, pull: Pull) -> dict[str, Any]:
        counts = {
            "comments": sum(1 for k, c in self._issue_comments.values()
                            if k == r.full_name and c.number == pull.number),
            "review_comments": sum(1 for k, c in self._review_comments.values()
                                   if k == r.full_name and c.number == pull.number),
        }
        return bodies.pull_request(self.url, r, pull, self._repo_json(r), self._user(pull.author), counts)

    def _review_json(self, r: Repo, review: Review) -> dict[str, Any]:
        return bodies.review(self.url, r, review, self._user(review.user))

    def _comment_json(self, r: Repo, c: ReviewComment) -> dict[str, Any]:
        return bodies.review_comment(self.url, r, c, self._user(c.user))

    def _app_for(self, app_id: int | None) -> App:
        for app in self._apps.values():
            if app.id == app_id:
                return app
        slug = self.bot_login.removesuffix("[bot]")
        return App(app_id or 1, slug, slug, "", {}, {"checks": "write"}, 0.0)  # a static token's app

    def _check_run_json(self, r: Repo, run: CheckRun) -> dict[str, Any]:
        app = self._app_for(run.app_id)
        pulls = [bodies.pull_request_minimal(self.url, r, p) for p in r.pulls.values() if p.head_sha == run.head_sha]
        return bodies.check_run(self.url, r, run, bodies.integration(self.url, app, self._user(r.owner)), pulls)

    def _file_json(self, r: Repo, pull: Pull, f: ChangedFile) -> dict[str, Any]:
        ref = pull.head_sha if f.status != "removed" else pull.base_sha
        body: dict[str, Any] = {
            "sha": f.blob_sha, "filename": f.filename, "status": f.status, "additions": f.additions,
            "deletions": f.deletions, "changes": f.additions + f.deletions,
            "blob_url": f"{self.url}/{r.full_name}/blob/{ref}/{f.filename}",
            "raw_url": f"{self.url}/{r.full_name}/raw/{ref}/{f.filename}",
            "contents_url": f"{self.url}/repos/{r.full_name}/contents/{f.filename}?ref={ref}",
        }
        if f.has_patch and f.diff is not None:
            body["patch"] = f.diff.patch
        if f.previous_filename:
            body["previous_filename"] = f.previous_filename
        return body

    # ------------------------------------------------------------------ the Flask app

    def _build_app(self) -> Flask:
        app = Flask("fake_github")
        app.before_request(self._before)
        app.after_request(self._after)
        app.teardown_request(self._teardown)

        @app.errorhandler(404)
        @app.errorhandler(405)
        def not_found(_: Exception) -> Response:
            return self._error_response(HTTPError(404, "Not Found", documentation_url="https://docs.github.com/rest"))

        rp = "/repos/<owner>/<repo>"
        routes: list[tuple[str, str, Callable[..., Any], str]] = [
            ("GET", "/app", self._get_app, "jwt"),
            ("POST", "/app/installations/<int:installation_id>/access_tokens", self._create_token, "jwt"),
            ("GET", f"{rp}/installation", self._get_installation, "jwt"),
            ("GET", "/rate_limit", self._get_rate_limit, "optional"),
            ("GET", rp, self._get_repo, "token"),
            ("GET", f"{rp}/pulls/<int:pull_number>", self._get_pull, "token"),
            ("GET", f"{rp}/pulls/<int:pull_number>/files", self._list_files, "token"),
            ("GET", f"{rp}/pulls/<int:pull_number>/commits", self._list_pull_commits, "token"),
            ("GET", f"{rp}/commits/<ref>", self._get_commit, "token"),
            ("GET", f"{rp}/contents/<path:path>", self._get_contents, "token"),
            ("GET", f"{rp}/git/blobs/<file_sha>", self._get_blob, "token"),
            ("GET", f"{rp}/git/trees/<tree_sha>", self._get_tree, "token"),
            ("GET", f"{rp}/pulls/<int:pull_number>/reviews", self._list_reviews, "token"),
            ("POST", f"{rp}/pulls/<int:pull_number>/reviews", self._create_review, "token"),
            ("GET", f"{rp}/pulls/<int:pull_number>/reviews/<int:review_id>", self._get_review, "token"),
            ("GET", f"{rp}/pulls/<int:pull_number>/reviews/<int:review_id>/comments", self._list_review_comments_of,
             "token"),
            ("POST", f"{rp}/pulls/<int:pull_number>/reviews/<int:review_id>/events", self._submit_review, "token"),
            ("PUT", f"{rp}/pulls/<int:pull_number>/reviews/<int:review_id>/dismissals", self._dismiss_review,
             "token"),
            ("GET", f"{rp}/pulls/<int:pull_number>/comments", self._list_review_comments, "token"),
            ("POST", f"{rp}/pulls/<int:pull_number>/comments", self._create_review_comment, "token"),
            ("POST", f"{rp}/pulls/<int:pull_number>/comments/<int:comment_id>/replies", self._create_reply, "token"),
            ("GET", f"{rp}/pulls/comments/<int:comment_id>", self._get_review_comment, "token"),
            ("PATCH", f"{rp}/pulls/comments/<int:comment_id>", self._edit_review_comment, "token"),
            ("DELETE", f"{rp}/pulls/comments/<int:comment_id>", self._delete_review_comment, "token"),
            ("GET", f"{rp}/issues/<int:issue_number>/comments", self._list_issue_comments, "token"),
            ("POST", f"{rp}/issues/<int:issue_number>/comments", self._create_issue_comment, "token"),
            ("PATCH", f"{rp}/issues/comments/<int:comment_id>", self._edit_issue_comment, "token"),
            ("DELETE", f"{rp}/issues/comments/<int:comment_id>", self._delete_issue_comment, "token"),
            ("POST", f"{rp}/check-runs", self._create_check_run, "token"),
            ("GET", f"{rp}/check-runs/<int:check_run_id>", self._get_check_run, "token"),
            ("PATCH", f"{rp}/check-runs/<int:check_run_id>", self._update_check_run, "token"),
            ("GET", f"{rp}/check-runs/<int:check_run_id>/annotations", self._list_annotations, "token"),
            ("GET", f"{rp}/commits/<ref>/check-runs", self._list_check_runs_for_ref, "token"),
            ("POST", f"{rp}/statuses/<sha>", self._create_status, "token"),
        ]
        for method, rule, handler, auth in routes:
            app.add_url_rule(rule, f"{method} {rule}", self._view(rule, handler, auth), methods=[method])
        app.add_url_rule("/<owner>/<repo>/raw/<ref>/<path:path>", "raw", self._raw_file, methods=["GET"])
        return app

    def _view(self, rule: str, handler: Callable[..., Any], auth: str) -> Callable[..., Response]:
        pattern = spec.flask_rule_to_pattern(rule)

        def view(**kwargs: Any) -> Response:
            g.pattern = pattern
            try:
                with self._lock:
                    self._authenticate(auth)
                    self._validate_request(pattern)
                    if "owner" in kwargs and auth == "token":
                        r = self._repo(kwargs["owner"], kwargs["repo"])
                        if not g.token.can_see(r.full_name):
                            raise HTTPError(404, "Not Found", documentation_url=spec.documentation_url(
                                request.method, pattern))
                    result = handler(**kwargs)
            except HTTPError as e:
                if e.documentation_url is None:
                    e.documentation_url = spec.documentation_url(request.method, pattern)
                return self._error_response(e)
            if isinstance(result, Response):
                return result
            status, body, *rest = result
            response = self._json(body, status)
            for key, value in (rest[0] if rest else {}).items():
                response.headers[key] = value
            return response

        view.__name__ = f"view_{handler.__name__}"
        return view

    @staticmethod
    def _json(body: Any, status: int) -> Response:
        if status == 204:
            return Response(status=204)
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def _error_response(self, e: HTTPError) -> Response:
        body: dict[str, Any] = {"message": e.message}
        if e.errors is not None:
            body["errors"] = e.errors
        body["documentation_url"] = e.documentation_url or "https://docs.github.com/rest"
        body["status"] = str(e.status)
        response = self._json(body, e.status)
        for key, value in e.headers.items():
            response.headers[key] = value
        return response

    # ---- before/after every request

    def _before(self) -> Response | None:
        g.start = time.time()
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        g.token = None
        g.bucket = None
        g.injected = False
        g.reset = False
        with self._lock:
            fault = next((f for f in self._faults if f.times > 0 and f.method in ("*", request.method)
                          and re.search(f.path_regex, request.path)), None)
            if fault is not None and fault.skip > 0:
                fault.skip -= 1
                fault = None
            elif fault is not None:
                fault.times -= 1
        self._delay()
        if fault is None:
            return None
        g.injected = True
        return self._fault_response(fault)

    def _teardown(self, _: BaseException | None) -> None:
        with self._lock:
            self._in_flight -= 1

    def _delay(self) -> None:
        if self.latency > 0 and request.method == "GET" and re.search(self.latency_path, request.path):
            time.sleep(self.latency)

    def _fault_response(self, fault: Fault) -> Response:
        if fault.status == 0:
            g.reset = True
            sock = request.environ.get("werkzeug.socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            return Response(status=500)
        headers = dict(fault.headers or {})
        body = fault.body
        if body is None:
            if fault.status in (403, 429):
                body = {"message": SECONDARY_RATE_LIMIT,
                        "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"}
                headers.setdefault("Retry-After", "1")
            else:
                body = {"message": "Server Error" if fault.status >= 500 else "Injected fault"}
        if isinstance(body, (dict, list)):
            response = self._json(body, fault.status)
        else:
            response = Response(body, status=fault.status)
        for key, value in headers.items():
            response.headers[key] = value
        return response

    def _after(self, response: Response) -> Response:
        bucket = g.get("bucket") or self._bucket("ip:127.0.0.1", 60)
        for key, value in {"x-ratelimit-limit": str(bucket.limit),
                           "x-ratelimit-remaining": str(max(0, bucket.limit - bucket.used)),
                           "x-ratelimit-used": str(bucket.used), "x-ratelimit-reset": str(int(bucket.reset)),
                           "x-ratelimit-resource": "core"}.items():
            response.headers.setdefault(key, value)
        response.headers.setdefault("x-github-request-id", secrets.token_hex(8).upper())
        response.headers.setdefault("x-github-api-version-selected", "2022-11-28")
        if self.strict and not g.get("injected") and not g.get("unchecked") and g.get("pattern"):
            response = self._check_response(response)
        with self._lock:
            self._log.append(RecordedRequest(
                request.method, request.path, request.args.to_dict(), request.get_json(silent=True),
                0 if g.get("reset") else response.status_code,
                g.get("start", time.time()), dict(request.headers)))
        return response

    def _openapi_request(self) -> FlaskOpenAPIRequest:
        if g.pattern.endswith("/contents/{path}"):
            return _PlaceholderPathRequest(request)
        return FlaskOpenAPIRequest(request)

    def _check_response(self, response: Response) -> Response:
        op = spec.operation(request.method, g.pattern)
        declared = (op or {}).get("responses", {}).get(str(response.status_code))
        if declared is None:
            return response
        declared = self._deref(declared)
        if response.status_code != 204 and response.mimetype not in declared.get("content", {}):
            return response
        checked = response
        gaps = _spec_null_gaps(g.pattern)
        if gaps and response.status_code != 204:
            body = _drop_nulls(json.loads(response.get_data()), gaps)
            checked = self._json(body, response.status_code)
        try:
            with self._validation_lock:
                spec.api().validate_response(self._openapi_request(), FlaskOpenAPIResponse(checked))
        except Exception as e:  # openapi-core raises one of many validation error types
            schema_errors = getattr(e.__cause__, "schema_errors", None) or []
            detail = "; ".join([se.message[:300] for se in schema_errors] or [str(e)[:1000]])
            message = f"{request.method} {request.path} -> {response.status_code}: {detail}"
            with self._lock:
                self.response_errors.append(message)
            return self._json({"message": "fake GitHub answered against the spec: " + message}, 500)
        return response

    @staticmethod
    def _deref(obj: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in obj:
            target: Any = spec.raw_spec()
            for part in obj["$ref"].split("/")[1:]:
                target = target[part]
            obj = target
        return obj

    # ---- auth, rate limit, request validation

    def _bucket(self, key: str, limit: int) -> _Bucket:
        with self._lock:
            bucket = self._buckets.get(key)
            now = self.now()
            if bucket is None or now >= bucket.reset:
                bucket = self._buckets[key] = _Bucket(limit, 0, now + 3600)
            return bucket

    def _authenticate(self, kind: str) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if kind == "optional" and not header:
            return
        if kind == "jwt":
            g.app = self._verify_jwt(scheme, credential)
            g.bucket = self._bucket(f"app:{g.app.id}", self.rate_limit)
            g.bucket.used += 1
            return
        token = self._tokens.get(credential) if scheme.lower() in ("token", "bearer") else None
        if token is None or (token.expires_at is not None and self.now() >= token.expires_at):
            raise HTTPError(401, "Bad credentials", documentation_url="https://docs.github.com/rest")
        g.token = token
        g.bucket = self._bucket(f"token:{credential}", self.rate_limit)
        if request.path == "/rate_limit":
            return
        if g.bucket.used >= g.bucket.limit:
            who = f"installation ID {token.installation_id}" if token.installation_id else f"user {token.login}"
            raise HTTPError(403, f"API rate limit exceeded for {who}. If you reach out to GitHub Support for help, "
                                 f"please include the request ID {secrets.token_hex(6).upper()}.",
                            documentation_url="https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api")
        g.bucket.used += 1

    def _verify_jwt(self, scheme: str, credential: str) -> App:
        docs = "https://docs.github.com/rest"
        if scheme.lower() != "bearer":
            raise HTTPError(401, "A JSON web token could not be decoded", documentation_url=docs)
        try:
            claims = jwt.decode(credential, options={"verify_signature": False})
        except jwt.PyJWTError as e:
            raise HTTPError(401, "A JSON web token could not be decoded", documentation_url=docs) from e
        app = self._apps.get(str(claims.get("iss")))
        if app is None:
            raise HTTPError(401, "Integration not found", documentation_url=docs)
        try:
            jwt.decode(credential, app.public_key, algorithms=["RS256"],
                       options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_iss": False,
                                "require": ["exp", "iat", "iss"]})
        except jwt.PyJWTError as e:
            raise HTTPError(401, "A JSON web token could not be decoded", documentation_url=docs) from e
        now = self.now()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, (int, float)) or exp <= now:
            raise HTTPError(401, "'Expiration time' claim ('exp') must be a numeric value representing the future "
                                 "time at which the assertion expires", documentation_url=docs)
        if exp > now + 600 + 60:
            raise HTTPError(401, "'Expiration time' claim ('exp') is too far in the future", documentation_url=docs)
        if not isinstance(iat, (int, float)) or iat > now + 60:
            raise HTTPError(401, "'Issued at' claim ('iat') must be an Integer representing the time that the "
                                 "assertion was issued", documentation_url=docs)
        return app

    def _validate_request(self, pattern: str) -> None:
        result = spec.api().unmarshal_request(self._openapi_request())
        if result.errors:
            raise HTTPError(422, spec.request_errors_message(result.errors),
                            documentation_url=spec.documentation_url(request.method, pattern))

    def _body(self) -> dict[str, Any]:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}

    def _unprocessable(self, *errors: str) -> HTTPError:
        return HTTPError(422, "Unprocessable Entity", errors=[_english(list(dict.fromkeys(errors)))])

    def _paginate(self, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        args = request.args
        per_page = int(args.get("per_page") or 30)
        per_page = 30 if per_page < 1 else min(per_page, 100)
        page = max(1, int(args.get("page") or 1))
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        if last == 1:
            return chunk, {}

        def link(p: int, rel: str) -> str:
            query = args.to_dict()
            query["page"] = str(p)
            return f'<{self.url}{request.path}?{urlencode(query)}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        return chunk, {"Link": ", ".join(links)}

    def _pull(self, owner: str, repo: str, number: int) -> tuple[Repo, Pull]:
        r = self._repo(owner, repo)
        pull = r.pulls.get(number)
        if pull is None:
            raise HTTPError(404, "Not Found")
        return r, pull

    def _login(self) -> str:
        return g.token.login

    # ------------------------------------------------------------------ apps and tokens

    def _get_app(self) -> tuple[int, Any]:
        owner = next(iter(self._repos.values())).owner if self._repos else "octocat"
        return 200, bodies.integration(self.url, g.app, self._user(owner))

    def _create_token(self, installation_id: int) -> tuple[int, Any]:
        app: App = g.app
        repos = app.installations.get(installation_id)
        if repos is None:
            raise HTTPError(404, "Not Found")
        body = self._body()
        permissions = dict(app.permissions)
        if body.get("permissions"):
            for name, level in body["permissions"].items():
                if _LEVELS.get(level, 9) > _LEVELS.get(app.permissions.get(name, "none"), 0):
                    raise HTTPError(422, "The permissions requested are not granted to this installation.")
            permissions = dict(body["permissions"])
        allowed = {r.lower() for r in repos}
        if body.get("repositories"):
            by_name = {r.split("/", 1)[1]: r for r in allowed}
            wanted = {by_name.get(name.lower(), "") for name in body["repositories"]}
            if "" in wanted:
                raise HTTPError(422, "There is at least one repository that does not exist or is not accessible "
                                     "to the parent installation.")
            allowed = wanted
        value = "ghs_" + "".join(secrets.choice(_ALNUM) for _ in range(36))
        expires = self.now() + self.token_ttl
        login = f"{app.slug}[bot]"
        self._tokens[value] = Token(value, login, allowed, expires, installation_id, app.id, permissions)
        return 201, {"token": value, "expires_at": bodies.iso(expires), "permissions": permissions,
                     "repository_selection": "selected"}

    def _get_installation(self, owner: str, repo: str) -> tuple[int, Any]:
        full = f"{owner}/{repo}".lower()
        for installation_id, repos in g.app.installations.items():
            if full in {r.lower() for r in repos}:
                return 200, bodies.installation(self.url, g.app, installation_id, self._user(owner))
        raise HTTPError(404, "Not Found")

    def _get_rate_limit(self) -> tuple[int, Any]:
        bucket = g.get("bucket") or self._bucket("ip:127.0.0.1", 60)
        core = {"limit": bucket.limit, "used": bucket.used, "remaining": max(0, bucket.limit - bucket.used),
                "reset": int(bucket.reset)}
        reset = int(self.now() + 60)
        search = {"limit": 30, "used": 0, "remaining": 30, "reset": reset}
        return 200, {"resources": {"core": core, "search": search,
                                   "graphql": {"limit": 5000, "used": 0, "remaining": 5000, "reset": reset}},
                     "rate": core}

    # ------------------------------------------------------------------ repository content

    def _get_repo(self, owner: str, repo: str) -> tuple[int, Any]:
        return 200, self._repo_json(self._repo(owner, repo))

    def _get_pull(self, owner: str, repo: str, pull_number: int) -> tuple[int, Any]:
        r, pull = self._pull(owner, repo, pull_number)
        return 200, self._pull_json(r, pull)

    def _list_files(self, owner: str, repo: str, pull_number: int) -> tuple[int, Any, dict[str, str]]:
        r, pull = self._pull(owner, repo, pull_number)
        # GitHub lists at most 3000 files of a pull request (``changed_files`` still counts them all)
        files = [self._file_json(r, pull, f) for f in list(pull.files[pull.head_sha].values())[:3000]]
        chunk, headers = self._paginate(files)
        return 200, chunk, headers

    def _list_pull_commits(self, owner: str, repo: str, pull_number: int) -> tuple[int, Any, dict[str, str]]:
        r, pull = self._pull(owner, repo, pull_number)
        chunk, headers = self._paginate([bodies.commit(self.url, r, r.commits[s], self._user(pull.author))
                                         for s in pull.heads])
        return 200, chunk, headers

    def _get_commit(self, owner: str, repo: str, ref: str) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        sha = r.resolve(ref)
        if sha is None:
            raise HTTPError(422, f"No commit found for SHA: {ref}")
        c = r.commits[sha]
        body = bodies.commit(self.url, r, c, self._user(r.owner))
        if c.parents:
            files = self._changed_files(r, c.parents[0], sha, {}, set())
            entries = []
            for f in files.values():
                entry = {"sha": f.blob_sha, "filename": f.filename, "status": f.status, "additions": f.additions,
                         "deletions": f.deletions, "changes": f.additions + f.deletions,
                         "blob_url": f"{self.url}/{r.full_name}/blob/{sha}/{f.filename}",
                         "raw_url": f"{self.url}/{r.full_name}/raw/{sha}/{f.filename}",
                         "contents_url": f"{self.url}/repos/{r.full_name}/contents/{f.filename}?ref={sha}"}
                if f.has_patch and f.diff is not None:
                    entry["patch"] = f.diff.patch
                entries.append(entry)
            body["files"] = entries
            body["stats"] = {"additions": sum(f.additions for f in files.values()),
                             "deletions": sum(f.deletions for f in files.values()),
                             "total": sum(f.additions + f.deletions for f in files.values())}
        return 200, body

    def _content_entry(self, r: Repo, ref: str, path: str, kind: str, sha: str, size: int) -> dict[str, Any]:
        blob = kind in ("file", "symlink")
        url = f"{self.url}/repos/{r.full_name}/contents/{path}?ref={ref}"
        git = f"{self.url}/repos/{r.full_name}/git/{'blobs' if blob else 'trees'}/{sha}"
        html = f"{self.url}/{r.full_name}/{'blob' if blob else 'tree'}/{ref}/{path}"
        return {"type": kind, "size": size, "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha, "url": url,
                "git_url": git, "html_url": html,
                "download_url": f"{self.url}/{r.full_name}/raw/{ref}/{path}" if blob else None,
                "_links": {"self": url, "git": git, "html": html}}

    @staticmethod
    def _link_target(path: str, link: Symlink, tree: dict[str, bytes]) -> str | None:
        """The regular file of the tree a symlink points to, or None (absolute, out of the repository, missing,
        a directory or another link): then GitHub describes the link instead of following it."""
        if link.target.startswith("/"):
            return None
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), link.target))
        if target == ".." or target.startswith("../"):
            return None
        data = tree.get(target)
        return target if data is not None and not isinstance(data, Symlink) else None

    def _get_contents(self, owner: str, repo: str, path: str) -> tuple[int, Any] | Response:
        r = self._repo(owner, repo)
        ref = request.args.get("ref")
        sha = r.resolve(ref)
        if sha is None:
            raise HTTPError(404, f"No commit found for the ref {ref}")
        tree = r.commits[sha].tree
        ref_name = ref or r.default_branch
        path = path.strip("/")
        if path in tree:
            data = tree[path]
            if isinstance(data, Symlink):
                target = self._link_target(path, data, tree)
                if target is None:
                    entry = self._content_entry(r, ref_name, path, "symlink", blob_sha(data), len(data))
                    return 200, {**entry, "target": data.target}
                path, data = target, tree[target]  # "the API responds with the content of the file"
            accept = request.headers.get("Accept", "")
            if "application/vnd.github.raw" in accept or "application/vnd.github.v3.raw" in accept:
                return Response(data, status=200, mimetype="application/vnd.github.raw")
            entry = self._content_entry(r, ref_name, path, "file", blob_sha(data), len(data))
            if len(data) > CONTENTS_INLINE_LIMIT:  # GitHub: the blob API (or the raw media type) has the bytes
                return 200, {**entry, "encoding": "none", "content": ""}
            return 200, {**entry, "encoding": "base64", "content": bodies.b64_lines(data)}
        prefix = path + "/"
        children: dict[str, tuple[str, str, int]] = {}
        for p, data in tree.items():
            if p.startswith(prefix):
                rest = p[len(prefix):]
                name = rest.split("/", 1)[0]
                if "/" in rest:
                    children.setdefault(name, ("dir", "", 0))
                else:
                    children[name] = ("symlink" if isinstance(data, Symlink) else "file", blob_sha(data), len(data))
        if not children:
            raise HTTPError(404, "Not Found")
        listing = []
        for name, (kind, bsha, size) in sorted(children.items()):
            child = prefix + name
            if kind == "dir":
                bsha = self._subtree(r, sha, child)[0]
            listing.append(self._content_entry(r, ref_name, child, kind, bsha, size))
        # The spec's ``oneOf`` for this answer has a ``type`` discriminator, which an array cannot carry, so no
        # directory listing validates (the README notes its own directory example fails): not checked.
        g.unchecked = True
        return 200, listing[:1000]

    def _subtree(self, r: Repo, commit_sha: str, prefix: str) -> tuple[str, dict[str, bytes]]:
        tree = r.commits[commit_sha].tree
        if not prefix:
            return r.commits[commit_sha].tree_sha, tree
        sub = {p[len(prefix) + 1:]: d for p, d in tree.items() if p.startswith(prefix + "/")}
        entries: dict[str, str] = {}
        nested: dict[str, dict[str, bytes]] = {}
        for p, d in sub.items():
            if "/" in p:
                nested.setdefault(p.split("/", 1)[0], {})
            else:
                entries[p] = blob_sha(d)
        for name in nested:
            entries[name + "/"] = self._subtree(r, commit_sha, f"{prefix}/{name}")[0]
        return tree_sha(entries), sub

    def _get_blob(self, owner: str, repo: str, file_sha: str) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        data = r.blobs.get(file_sha)
        if data is None:
            raise HTTPError(404, "Not Found")
        return 200, {"sha": file_sha, "node_id": bodies.node_id("B", int(file_sha[:8], 16)), "size": len(data),
                     "url": f"{self.url}/repos/{r.full_name}/git/blobs/{file_sha}",
                     "content": bodies.b64_lines(data), "encoding": "base64"}

    def _get_tree(self, owner: str, repo: str, tree_sha: str) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        commit_sha = r.resolve(tree_sha)
        if commit_sha is not None:
            prefix, sha = "", r.commits[commit_sha].tree_sha
        elif tree_sha in r.trees:
            commit_sha, prefix = r.trees[tree_sha]
            sha = tree_sha
        else:
            raise HTTPError(404, "Not Found")
        _, files = self._subtree(r, commit_sha, prefix)
        recursive = request.args.get("recursive") not in (None, "", "0", "false")
        entries: dict[str, dict[str, Any]] = {}
        base = f"{self.url}/repos/{r.full_name}/git"
        for p, data in sorted(files.items()):
            parts = p.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in entries and (recursive or i == 1):
                    dsha = self._subtree(r, commit_sha, f"{prefix}/{d}" if prefix else d)[0]
                    entries[d] = {"path": d, "mode": "040000", "type": "tree", "sha": dsha,
                                  "url": f"{base}/trees/{dsha}"}
            if recursive or len(parts) == 1:
                bsha = blob_sha(data)
                entries[p] = {"path": p, "mode": "120000" if isinstance(data, Symlink) else "100644", "type": "blob",
                              "sha": bsha, "size": len(data),
                              "url": f"{base}/blobs/{bsha}"}
        return 200, {"sha": sha, "url": f"{base}/trees/{sha}", "tree": [entries[k] for k in sorted(entries)],
                     "truncated": False}

    def _raw_file(self, owner: str, repo: str, ref: str, path: str) -> Response:
        g.pattern = None
        with self._lock:
            r = self._repos.get(f"{owner}/{repo}".lower())
            sha = r.resolve(ref) if r else None
            data = r.commits[sha].tree.get(path) if r and sha else None
        if data is None:
            return Response("404: Not Found", status=404, mimetype="text/plain")
        return Response(data, status=200, mimetype="text/plain")

    # ------------------------------------------------------------------ reviews

    def _locate(self, pull: Pull, commit_id: str, c: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        """Check one review comment against the diff of base..commit_id; (errors, where it lands)."""
        side = c.get("side") or "RIGHT"
        start_side = c.get("start_side") or side
        if side not in ("LEFT", "RIGHT") or start_side not in ("LEFT", "RIGHT"):
            return [SIDE_INVALID], {}
        changed = pull.files[commit_id].get(c.get("path", ""))
        if changed is None:
            return [PATH_INVALID, LINE_NOT_IN_DIFF, HUNK_BLANK], {}
        diff: FileDiff | None = changed.diff if changed.has_patch else None
        found = None
        if diff is not None and c.get("line") is not None:
            found = diff.find(c["line"], side)
        elif diff is not None and c.get("position") is not None:
            found = diff.at_position(c["position"])
            if found:
                left, right = found[0].rows[found[1]]
                side = "RIGHT" if right is not None else "LEFT"
                c = {**c, "line": right if right is not None else left}
        if found is None or diff is None:
            return [LINE_NOT_IN_DIFF, HUNK_BLANK], {}
        hunk, index = found
        start = None
        if c.get("start_line") is not None:
            start = diff.find(c["start_line"], start_side)
            if start is None or start[0] is not hunk:
                return [START_OTHER_HUNK], {}
            if start[1] >= index:
                return [START_NOT_BEFORE], {}
        return [], {"path": changed.filename, "line": c["line"], "side": side, "commit_id": commit_id,
                    "start_line": c.get("start_line"), "start_side": start_side if start else None,
                    "position": hunk.first_position + index, "diff_hunk": diff.diff_hunk(hunk, index)}

    def _new_comment(self, pull: Pull, review: Review, at: dict[str, Any], body: str) -> ReviewComment:
        now = self.now()
        return ReviewComment(next(self._ids), review.id, pull.number, at["path"], body, review.user, at["commit_id"],
                             at["commit_id"], at["line"], at["line"], at["side"], at["start_line"],
                             at["start_line"], at["start_side"], at["position"], at["position"], at["diff_hunk"],
                             None, now, now)

    def _reply(self, r: Repo, pull: Pull, review: Review, parent: ReviewComment, body: str) -> ReviewComment:
        root = parent.in_reply_to_id or parent.id
        now = self.now()
        return ReviewComment(next(self._ids), review.id, pull.number, parent.path, body, review.user,
                             parent.commit_id, parent.original_commit_id, parent.line, parent.original_line,
                             parent.side, parent.start_line, parent.original_start_line, parent.start_side,
                             parent.position, parent.original_position, parent.diff_hunk, root, now, now)

    def _user_reviews(self, r: Repo, number: int) -> list[Review]:
        return [v for k, v in self._reviews.values() if k == r.full_name and v.number == number]

    def _create_review(self, owner: str, repo: str, pull_number: int) -> tuple[int, Any]:
        r, pull = self._pull(owner, repo, pull_number)
        body = self._body()
        login = self._login()
        commit_id = body.get("commit_id") or pull.head_sha
        if commit_id not in pull.heads:
            raise self._unprocessable("Pull request review commit_id is not part of the pull request")
        event = body.get("event")
        text = body.get("body") or ""
        if event in ("REQUEST_CHANGES", "COMMENT") and not text.strip():
            raise self._unprocessable("Body can't be blank")
        if any(v.user == login and v.state == "PENDING" for v in self._user_reviews(r, pull_number)):
            raise self._unprocessable(ONE_PENDING)
        errors: list[str] = []
        placed: list[tuple[dict[str, Any], str]] = []
        for c in body.get("comments") or []:
            problems, at = self._locate(pull, commit_id, c)
            errors += problems
            placed.append((at, c["body"]))
        if errors:
            raise self._unprocessable(*errors)
        now = self.now()
        review = Review(next(self._ids), pull_number, login, text, _EVENTS.get(event, "PENDING"), commit_id,
                        None if event is None else now)
        self._reviews[review.id] = (r.full_name, review)
        for at, comment_body in placed:
            comment = self._new_comment(pull, review, at, comment_body)
            self._review_comments[comment.id] = (r.full_name, comment)
        return 200, self._review_json(r, review)

    def _find_review(self, r: Repo, number: int, review_id: int) -> Review:
        found = self._reviews.get(review_id)
        if found is None or found[0] != r.full_name or found[1].number != number:
            raise HTTPError(404, "Not Found")
        return found[1]

    def _list_reviews(self, owner: str, repo: str, pull_number: int) -> tuple[int, Any, dict[str, str]]:
        r, _ = self._pull(owner, repo, pull_number)
        visible = [v for v in self._user_reviews(r, pull_number) if v.state != "PENDING" or v.user == self._login()]
        chunk, headers = self._paginate([self._review_json(r, v) for v in visible])
        return 200, chunk, headers

    def _get_review(self, owner: str, repo: str, pull_number: int, review_id: int) -> tuple[int, Any]:
        r, _ = self._pull(owner, repo, pull_number)
        return 200, self._review_json(r, self._find_review(r, pull_number, review_id))

    def _list_review_comments_of(self, owner: str, repo: str, pull_number: int,
                                 review_id: int) -> tuple[int, Any, dict[str, str]]:
        r, _ = self._pull(owner, repo, pull_number)
        self._find_review(r, pull_number, review_id)
        items = []
        for k, c in self._review_comments.values():
            if k == r.full_name and c.review_id == review_id:
                item = self._comment_json(r, c)
                for key in ("line", "original_line", "start_line", "original_start_line", "start_side", "side",
                            "subject_type"):
                    item.pop(key, None)
                items.append(item)
        chunk, headers = self._paginate(items)
        return 200, chunk, headers

    def _submit_review(self, owner: str, repo: str, pull_number: int, review_id: int) -> tuple[int, Any]:
        r, _ = self._pull(owner, repo, pull_number)
        review = self._find_review(r, pull_number, review_id)
        body = self._body()
        if review.state != "PENDING" or review.user != self._login():
            raise self._unprocessable("Can not submit a non-pending pull request review")
        text = body.get("body") or review.body
        if body["event"] in ("REQUEST_CHANGES", "COMMENT") and not text.strip():
            raise self._unprocessable("Body can't be blank")
        review.state, review.body, review.submitted_at = _EVENTS[body["event"]], text, self.now()
        return 200, self._review_json(r, review)

    def _dismiss_review(self, owner: str, repo: str, pull_number: int, review_id: int) -> tuple[int, Any]:
        r, _ = self._pull(owner, repo, pull_number)
        review = self._find_review(r, pull_number, review_id)
        if review.state not in ("APPROVED", "CHANGES_REQUESTED"):
            raise HTTPError(422, f"Can not dismiss a {review.state.lower().replace('_', ' ')} pull request review")
        review.state = "DISMISSED"
        return 200, self._review_json(r, review)

    # ---- review comments

    def _visible_comments(self, r: Repo, number: int) -> list[ReviewComment]:
        pending = {v.id for v in self._user_reviews(r, number) if v.state == "PENDING"}
        return [c for k, c in self._review_comments.values()
                if k == r.full_name and c.number == number and c.review_id not in pending]

    def _sorted(self, items: list[Any], default_direction: str = "asc") -> list[Any]:
        sort = request.args.get("sort", "created")
        key = (lambda c: (c.updated_at, c.id)) if sort == "updated" else (lambda c: (c.created_at, c.id))
        since = request.args.get("since")
        if since:
            threshold = _parse_time(since)
            items = [c for c in items if c.updated_at >= threshold]
        direction = request.args.get("direction", default_direction)
        return sorted(items, key=key, reverse=direction == "desc")

    def _list_review_comments(self, owner: str, repo: str, pull_number: int) -> tuple[int, Any, dict[str, str]]:
        r, _ = self._pull(owner, repo, pull_number)
        comments = self._sorted(self._visible_comments(r, pull_number))
        chunk, headers = self._paginate([self._comment_json(r, c) for c in comments])
        return 200, chunk, headers

    def _comment(self, r: Repo, comment_id: int) -> ReviewComment:
        found = self._review_comments.get(comment_id)
        if found is None or found[0] != r.full_name:
            raise HTTPError(404, "Not Found")
        return found[1]

    def _create_review_comment(self, owner: str, repo: str, pull_number: int) -> tuple[int, Any]:
        r, pull = self._pull(owner, repo, pull_number)
        body = self._body()
        review = Review(next(self._ids), pull_number, self._login(), "", "COMMENTED", pull.head_sha, self.now())
        if body.get("in_reply_to") is not None:
            comment = self._reply(r, pull, review, self._comment(r, body["in_reply_to"]), body["body"])
        else:
            if body["commit_id"] not in pull.heads:
                raise self._field_error("pull_request_review_thread.end_commit_oid",
                                        "pull_request_review_thread.end_commit_oid is not part of the pull request")
            problems, at = self._locate(pull, body["commit_id"], body)
            if problems:
                field = "start_line" if problems[0] in (START_OTHER_HUNK, START_NOT_BEFORE) else "line"
                message = {START_OTHER_HUNK: "must be part of the same hunk as the line.",
                           START_NOT_BEFORE: "must precede the end line."}.get(problems[0], "must be part of the diff")
                raise self._field_error(f"pull_request_review_thread.{field}",
                                        f"pull_request_review_thread.{field} {message}")
            comment = self._new_comment(pull, review, at, body["body"])
        review.commit_id = comment.commit_id
        self._reviews[review.id] = (r.full_name, review)
        self._review_comments[comment.id] = (r.full_name, comment)
        return 201, self._comment_json(r, comment)

    @staticmethod
    def _field_error(field: str, message: str) -> HTTPError:
        return HTTPError(422, "Validation Failed", errors=[{"resource": "PullRequestReviewComment", "code": "custom",
                                                            "field": field, "message": message}])

    def _create_reply(self, owner: str, repo: str, pull_number: int, comment_id: int) -> tuple[int, Any]:
        r, pull = self._pull(owner, repo, pull_number)
        parent = self._comment(r, comment_id)
        if parent.number != pull_number:
            raise HTTPError(404, "Not Found")
        review = Review(next(self._ids), pull_number, self._login(), "", "COMMENTED", parent.commit_id, self.now())
        comment = self._reply(r, pull, review, parent, self._body()["body"])
        self._reviews[review.id] = (r.full_name, review)
        self._review_comments[comment.id] = (r.full_name, comment)
        return 201, self._comment_json(r, comment)

    def _get_review_comment(self, owner: str, repo: str, comment_id: int) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        return 200, self._comment_json(r, self._comment(r, comment_id))

    def _edit_review_comment(self, owner: str, repo: str, comment_id: int) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        comment = self._comment(r, comment_id)
        comment.body, comment.updated_at = self._body()["body"], self.now()
        return 200, self._comment_json(r, comment)

    def _delete_review_comment(self, owner: str, repo: str, comment_id: int) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        self._comment(r, comment_id)
        del self._review_comments[comment_id]
        return 204, None

    # ---- issue comments

    def _issue_comment(self, r: Repo, comment_id: int) -> IssueComment:
        found = self._issue_comments.get(comment_id)
        if found is None or found[0] != r.full_name:
            raise HTTPError(404, "Not Found")
        return found[1]

    def _list_issue_comments(self, owner: str, repo: str, issue_number: int) -> tuple[int, Any, dict[str, str]]:
        r, _ = self._pull(owner, repo, issue_number)
        comments = self._sorted([c for k, c in self._issue_comments.values()
                                 if k == r.full_name and c.number == issue_number])
        chunk, headers = self._paginate([bodies.issue_comment(self.url, r, c, self._user(c.user)) for c in comments])
        return 200, chunk, headers

    def _create_issue_comment(self, owner: str, repo: str, issue_number: int) -> tuple[int, Any]:
        r, _ = self._pull(owner, repo, issue_number)
        now = self.now()
        comment = IssueComment(next(self._ids), issue_number, self._body()["body"], self._login(), now, now)
        self._issue_comments[comment.id] = (r.full_name, comment)
        return 201, bodies.issue_comment(self.url, r, comment, self._user(comment.user))

    def _edit_issue_comment(self, owner: str, repo: str, comment_id: int) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        comment = self._issue_comment(r, comment_id)
        comment.body, comment.updated_at = self._body()["body"], self.now()
        return 200, bodies.issue_comment(self.url, r, comment, self._user(comment.user))

    def _delete_issue_comment(self, owner: str, repo: str, comment_id: int) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        self._issue_comment(r, comment_id)
        del self._issue_comments[comment_id]
        return 204, None

    # ------------------------------------------------------------------ checks and statuses

    def _check_app_token(self) -> None:
        _, kind = self._users[self._login()]
        if kind != "Bot":
            raise HTTPError(403, "You must authenticate via a GitHub App.")

    def _apply_check(self, run: CheckRun, body: dict[str, Any]) -> None:
        output = body.get("output")
        if output is not None:
            missing = [k for k in ("title", "summary") if not output.get(k) and not run.output.get(k)]
            if missing:
                raise HTTPError(422, "Invalid request.\n\n" + "\n".join(f'"{k}" wasn\'t supplied.' for k in missing))
        if body.get("conclusion") == "stale":
            raise HTTPError(422, "Invalid request.\n\nOnly GitHub can set a check run conclusion to stale.")
        status = body.get("status")
        if (status == "completed" or body.get("completed_at")) and not body.get("conclusion") and not run.conclusion:
            raise HTTPError(422, "Invalid request.\n\n\"conclusion\" wasn't supplied.")
        for key in ("name", "details_url", "external_id"):
            if key in body:
                setattr(run, key, body[key])
        if body.get("started_at"):
            run.started_at = _parse_time(body["started_at"])
        if status:
            run.status = status
            if status == "in_progress" and run.started_at is None:
                run.started_at = self.now()
        if body.get("conclusion"):
            run.conclusion, run.status = body["conclusion"], "completed"
        if run.status == "completed":
            run.completed_at = _parse_time(body["completed_at"]) if body.get("completed_at") else (
                run.completed_at or self.now())
        if output is not None:
            for key in ("title", "summary", "text"):
                if key in output:
                    run.output[key] = output[key]
            run.annotations += [dict(a) for a in output.get("annotations") or []]

    def _create_check_run(self, owner: str, repo: str) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        self._check_app_token()
        body = self._body()
        if body["head_sha"] not in r.commits:
            raise HTTPError(422, f"No commit found for SHA: {body['head_sha']}")
        run = CheckRun(next(self._ids), body["name"], body["head_sha"], "queued", None, self.now(), None, None, None,
                       g.token.app_id or 1, int(body["head_sha"][:6], 16))
        self._apply_check(run, body)
        self._check_runs[run.id] = (r.full_name, run)
        return 201, self._check_run_json(r, run)

    def _run(self, r: Repo, check_run_id: int) -> CheckRun:
        found = self._check_runs.get(check_run_id)
        if found is None or found[0] != r.full_name:
            raise HTTPError(404, "Not Found")
        return found[1]

    def _get_check_run(self, owner: str, repo: str, check_run_id: int) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        return 200, self._check_run_json(r, self._run(r, check_run_id))

    def _update_check_run(self, owner: str, repo: str, check_run_id: int) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        self._check_app_token()
        run = self._run(r, check_run_id)
        app_id = g.token.app_id or 1
        if run.app_id != app_id:
            raise HTTPError(403, f"Invalid app_id `{app_id}` - check run can only be modified by the GitHub App "
                                 "that created it.")
        self._apply_check(run, self._body())
        return 200, self._check_run_json(r, run)

    def _list_annotations(self, owner: str, repo: str, check_run_id: int) -> tuple[int, Any, dict[str, str]]:
        r = self._repo(owner, repo)
        run = self._run(r, check_run_id)
        chunk, headers = self._paginate([bodies.annotation(self.url, r, run, a) for a in run.annotations])
        return 200, chunk, headers

    def _list_check_runs_for_ref(self, owner: str, repo: str, ref: str) -> tuple[int, Any, dict[str, str]]:
        r = self._repo(owner, repo)
        sha = r.resolve(ref)
        if sha is None:
            raise HTTPError(422, f"No commit found for SHA: {ref}")
        runs = [run for k, run in self._check_runs.values() if k == r.full_name and run.head_sha == sha]
        if request.args.get("check_name"):
            runs = [run for run in runs if run.name == request.args["check_name"]]
        if request.args.get("status"):
            runs = [run for run in runs if run.status == request.args["status"]]
        if request.args.get("app_id"):
            runs = [run for run in runs if run.app_id == int(request.args["app_id"])]
        if request.args.get("filter", "latest") == "latest":
            latest: dict[str, CheckRun] = {}
            for run in runs:
                latest[run.name] = run
            runs = list(latest.values())
        chunk, headers = self._paginate([self._check_run_json(r, run) for run in runs])
        return 200, {"total_count": len(runs), "check_runs": chunk}, headers

    def _create_status(self, owner: str, repo: str, sha: str) -> tuple[int, Any]:
        r = self._repo(owner, repo)
        if sha not in r.commits:
            raise HTTPError(422, f"No commit found for SHA: {sha}")
        body = self._body()
        now = bodies.iso(self.now())
        status_id = next(self._ids)
        creator = self._user(self._login())
        status = {"url": f"{self.url}/repos/{r.full_name}/statuses/{sha}", "avatar_url": creator["avatar_url"],
                  "id": status_id, "node_id": bodies.node_id("SC", status_id), "state": body["state"],
                  "description": body.get("description"), "target_url": body.get("target_url"),
                  "context": body.get("context") or "default", "created_at": now, "updated_at": now,
                  "creator": creator}
        r.statuses.setdefault(sha, []).append(status)
        return 201, status

