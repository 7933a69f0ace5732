"""What the fake GitHub stores: repositories with commits, pull requests, reviews, comments, checks, tokens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .diff import FileDiff


class Symlink(bytes):
    """A symbolic link in a commit's tree. Git stores it as a blob holding the target path (mode 120000), so it
    diffs as that one line; the contents API follows it only to a regular file of the repository."""

    @classmethod
    def to(cls, target: str) -> Symlink:
        return cls(target.encode("utf-8"))

    @property
    def target(self) -> str:
        return self.decode("utf-8")


@dataclass
class Commit:
    sha: str
    tree: dict[str, bytes]
    tree_sha: str
    parents: list[str]
    message: str
    date: float


@dataclass
class ChangedFile:
    filename: str
    status: str  # added | removed | modified | renamed
    blob_sha: str
    additions: int
    deletions: int
    diff: FileDiff | None  # None for binary content
    previous_filename: str | None = None
    omit_patch: bool = False

    @property
    def has_patch(self) -> bool:
        return self.diff is not None and not self.omit_patch and bool(self.diff.hunks)


@dataclass
class Pull:
    number: int
    id: int
    title: str
    body: str
    draft: bool
    author: str
    base_ref: str
    head_ref: str
    base_sha: str
    heads: list[str]  # every head the PR has had, oldest first; heads[-1] is the current one
    files: dict[str, dict[str, ChangedFile]]  # head sha -> path -> changed file (base..that head)
    created_at: float
    updated_at: float
    state: str = "open"

    @property
    def head_sha(self) -> str:
        return self.heads[-1]


@dataclass
class Review:
    id: int
    number: int
    user: str
    body: str
    state: str  # PENDING | APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED
    commit_id: str
    submitted_at: float | None


@dataclass
class ReviewComment:
    id: int
    review_id: int | None
    number: int
    path: str
    body: str
    user: str
    commit_id: str
    original_commit_id: str
    line: int | None
    original_line: int
    side: str
    start_line: int | None
    original_start_line: int | None
    start_side: str | None
    position: int | None
    original_position: int
    diff_hunk: str
    in_reply_to_id: int | None
    created_at: float
    updated_at: float


@dataclass
class IssueComment:
    id: int
    number: int
    body: str
    user: str
    created_at: float
    updated_at: float


@dataclass
class CheckRun:
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: float | None
    completed_at: float | None
    details_url: str | None
    external_id: str | None
    app_id: int
    suite_id: int
    output: dict[str, Any] = field(default_factory=dict)
    annotations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str
    created_at: float
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, tuple[str, str]] = field(default_factory=dict)  # tree sha -> (commit sha, dir prefix)
    pulls: dict[int, Pull] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def resolve(self, ref: str | None) -> str | None:
        """A commit sha for a branch name, ``refs/heads/<b>``, a full sha or a unique prefix of 7+ hex digits."""
        if ref is None:
            return self.branches.get(self.default_branch)
        ref = ref.removeprefix("refs/heads/")
        if ref in self.commits:
            return ref
        if ref in self.branches:
            return self.branches[ref]
        if len(ref) >= 7:
            matches = [sha for sha in self.commits if sha.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
        return None


@dataclass
class Token:
    value: str
    login: str
    repos: set[str] | None  # lower-case "owner/repo"; None = every repository
    expires_at: float | None = None
    installation_id: int | None = None
    app_id: int | None = None
    permissions: dict[str, str] = field(default_factory=dict)

    def can_see(self, full_name: str) -> bool:
        return self.repos is None or full_name.lower() in self.repos


@dataclass
class App:
    id: int
    slug: str
    name: str
    public_key: str
    installations: dict[int, list[str]]
    permissions: dict[str, str]
    created_at: float


@dataclass
class Fault:
    method: str
    path_regex: str
    status: int
    headers: dict[str, str] | None
    body: Any
    times: int
    skip: int = 0  # matching requests let through before the fault applies


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int
    time: float
    headers: dict[str, str] = field(default_factory=dict)


def tree_sha(entries: dict[str, str]) -> str:
    """A stable 40-hex id for a directory listing (name -> blob or subtree sha); not git's exact encoding."""
    text = "".join(f"{name}\0{sha}\n" for name, sha in sorted(entries.items()))
    return hashlib.sha1(b"tree " + text.encode("utf-8")).hexdigest()
