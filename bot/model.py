"""The bot's data model: what it reads from a pull request and what it publishes on it.

Plain frozen dataclasses shared by the GitHub client (which fills and sends them), the review composer
(pure: builds what to publish) and the pipeline (which connects the two). Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# ---- read from GitHub --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullRequest:
    owner: str
    repo: str
    number: int
    head_sha: str
    base_sha: str
    base_ref: str  # branch name of the base, e.g. "main"
    head_ref: str
    draft: bool = False
    state: str = "open"
    title: str = ""
    changed_files: int | None = None  # as GitHub counts them; its list of files stops at 3,000

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


@dataclass(frozen=True)
class ChangedFile:
    """One entry of ``GET /repos/{owner}/{repo}/pulls/{n}/files``."""

    path: str  # head-side path ("filename")
    status: str  # added | removed | modified | renamed | copied | changed | unchanged
    patch: str | None  # None: binary, or too large for GitHub to include
    previous_path: str | None = None  # for renamed files
    additions: int = 0
    deletions: int = 0


@dataclass(frozen=True)
class PostedReviewComment:
    """An inline review comment already on the pull request."""

    id: int
    path: str
    line: int | None  # None when GitHub marks it outdated
    body: str
    author: str
    in_reply_to: int | None = None
    review_id: int | None = None
    start_line: int | None = None  # first line of a multi-line comment


@dataclass(frozen=True)
class PostedReview:
    id: int
    state: str  # COMMENTED | CHANGES_REQUESTED | APPROVED | DISMISSED | PENDING
    body: str
    author: str
    commit_id: str | None = None


@dataclass(frozen=True)
class PostedCheckRun:
    """A check run already on a commit (``GET .../commits/{ref}/check-runs``)."""

    id: int
    name: str
    head_sha: str
    status: str  # queued | in_progress | completed (GitHub Actions has more)
    conclusion: str | None
    external_id: str | None  # the integrator's reference: the bot sets it to its pull request's
    app_id: int | None
    annotations_count: int = 0  # annotations already on it: GitHub only ever appends to them


@dataclass(frozen=True)
class IssueComment:
    id: int
    body: str
    author: str


# ---- published on GitHub -----------------------------------------------------------------------------


class ReviewEvent(str, enum.Enum):
    COMMENT = "COMMENT"
    REQUEST_CHANGES = "REQUEST_CHANGES"  # never APPROVE


@dataclass(frozen=True)
class ReviewComment:
    """An inline comment to post, on the head side (``side: RIGHT``) of the diff."""

    path: str
    line: int  # last line the comment covers (1-based, head file)
    body: str
    fingerprint: str
    start_line: int | None = None  # first line of a multi-line comment (same hunk, < line)

    def as_api(self) -> dict[str, object]:
        """The ``comments[]`` item of ``POST /repos/{owner}/{repo}/pulls/{n}/reviews``."""
        item: dict[str, object] = {"path": self.path, "line": self.line, "side": "RIGHT", "body": self.body}
        if self.start_line is not None and self.start_line < self.line:
            item["start_line"] = self.start_line
            item["start_side"] = "RIGHT"
        return item


class AnnotationLevel(str, enum.Enum):
    NOTICE = "notice"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True)
class Annotation:
    """A check-run annotation (``output.annotations[]``)."""

    path: str
    start_line: int
    end_line: int
    level: AnnotationLevel
    message: str
    title: str = ""
    raw_details: str = ""

    def as_api(self) -> dict[str, object]:
        item: dict[str, object] = {"path": self.path, "start_line": self.start_line, "end_line": self.end_line,
                                   "annotation_level": self.level.value, "message": self.message}
        if self.title:
            item["title"] = self.title
        if self.raw_details:
            item["raw_details"] = self.raw_details
        return item


class Conclusion(str, enum.Enum):
    SUCCESS = "success"
    NEUTRAL = "neutral"
    FAILURE = "failure"


@dataclass(frozen=True)
class CheckOutput:
    conclusion: Conclusion
    title: str
    summary: str  # markdown, at most 65535 characters
    annotations: tuple[Annotation, ...] = ()


@dataclass(frozen=True)
class ReviewPlan:
    """Everything the bot publishes for one head commit, composed before anything is sent."""

    head_sha: str
    comments: tuple[ReviewComment, ...]  # new inline comments (already posted fingerprints left out)
    body: str  # the review body (overflow beyond the cap is listed here)
    event: ReviewEvent
    summary: str  # the one summary comment (markdown, with its hidden marker)
    check: CheckOutput
    current_fingerprints: frozenset[str] = field(default_factory=frozenset)  # every finding in the diff now
    blocking: bool = False  # a Deny finding is in the diff
    # the bot's earlier comments on findings still present whose suggestion is out of date (a fresh comment
    # is in ``comments``): deleted, or answered once where someone replied
    superseded: tuple[PostedReviewComment, ...] = ()
