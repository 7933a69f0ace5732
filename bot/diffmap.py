"""Which head-side lines of a pull request a review comment may sit on.

GitHub accepts an inline comment only on a line inside one of the file's diff hunks (added lines and
the context lines around them, right side), and a multi-line comment only when its whole range lies
inside one hunk. The hunks come from the ``patch`` field of ``GET /pulls/{n}/files``, parsed with
``unidiff``. ``placement`` decides, per filter mode (reviewdog's), whether a finding may be an inline
comment, goes to the summary and the check run only, or is not reported for this pull request.

Pure: no network, no files.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

import unidiff

from bot.model import ChangedFile

_SOURCE = "a/file"  # headers for unidiff: the real path plays no part in line mapping (and may hold a tab)
_TARGET = "b/file"


@dataclass(frozen=True)
class Hunk:
    """One hunk, head side: lines ``start``..``end`` (1-based, inclusive), ``added`` the ``+`` lines."""

    start: int
    end: int
    added: frozenset[int] = frozenset()

    def __contains__(self, line: object) -> bool:
        return isinstance(line, int) and self.start <= line <= self.end


@dataclass(frozen=True)
class FileDiff:
    path: str
    status: str = "modified"
    hunks: tuple[Hunk, ...] = ()
    patch_missing: bool = False  # GitHub sent no patch (binary or too large), or it could not be read
    previous_path: str | None = None
    problem: str = ""  # why the patch is missing or could not be read

    @property
    def removed(self) -> bool:
        return self.status == "removed"

    def hunk_of(self, line: int) -> Hunk | None:
        for hunk in self.hunks:
            if line in hunk:
                return hunk
        return None

    def in_hunk(self, line: int) -> bool:
        return self.hunk_of(line) is not None

    def is_added(self, line: int) -> bool:
        hunk = self.hunk_of(line)
        return hunk is not None and line in hunk.added

    def same_hunk(self, a: int, b: int) -> bool:
        """Both lines, and so every line between them, inside one hunk."""
        hunk = self.hunk_of(a)
        return hunk is not None and b in hunk


def _headers(status: str) -> str:
    source = "/dev/null" if status == "added" else _SOURCE
    target = "/dev/null" if status == "removed" else _TARGET
    return f"--- {source}\n+++ {target}\n"


def parse_patch(path: str, patch: str | None, status: str = "modified", *, previous_path: str | None = None,
                changes: int | None = None) -> FileDiff:
    """The hunks of GitHub's ``patch`` field (hunks only, no ``---``/``+++`` headers). Never raises.

    ``changes`` (additions + deletions, when known) tells a file without a diff (a pure rename, a mode
    change) from one whose diff GitHub left out: ``patch`` None with changes is a missing patch.
    """
    if patch is None:
        if status == "removed" or (changes == 0) or (changes is None and status in ("renamed", "unchanged")):
            return FileDiff(path, status, (), False, previous_path)
        return FileDiff(path, status, (), True, previous_path,
                        "GitHub did not include the diff (binary, or too large to show)")
    if not patch.strip():
        return FileDiff(path, status, (), False, previous_path)
    text = patch if patch.endswith("\n") else patch + "\n"
    try:
        patched = unidiff.PatchSet(_headers(status) + text)
        if len(patched) != 1:
            raise unidiff.UnidiffParseError(f"expected the hunks of one file, read {len(patched)} files")
        # unidiff skips lines it does not expect between hunks: every line must belong to a hunk
        read, given = sum(1 + len(h) for h in patched[0]), text.count("\n")
        if read != given:
            raise unidiff.UnidiffParseError(f"{given - read} line(s) outside any hunk")
        hunks = []
        for h in patched[0]:
            if h.target_length == 0:  # only deletions: no head line to comment on
                continue
            start = h.target_start
            added = frozenset(line.target_line_no for line in h if line.is_added and line.target_line_no)
            hunks.append(Hunk(start, start + h.target_length - 1, added))
    except Exception as exc:  # a malformed patch is a missing patch, never an error that stops the review
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        return FileDiff(path, status, (), True, previous_path, f"the diff GitHub sent could not be read: {first}")
    if status == "removed":
        hunks = []
    return FileDiff(path, status, tuple(sorted(hunks, key=lambda h: h.start)), False, previous_path)


def file_diffs(files: Iterable[ChangedFile]) -> dict[str, FileDiff]:
    """The diff of every changed file, by head-side path."""
    out: dict[str, FileDiff] = {}
    for f in files:
        # GitHub's additions/deletions count only when they can say "no diff at all": a rename or a mode
        # change without content changes; a modified file without a patch is a missing patch
        changes = f.additions + f.deletions if f.status in ("renamed", "unchanged") else None
        out[f.path] = parse_patch(f.path, f.patch, f.status, previous_path=f.previous_path, changes=changes)
    return out


class FilterMode(str, enum.Enum):
    """Which findings a pull request reports (reviewdog's ``-filter-mode``)."""

    ADDED = "added"  # only on added lines
    DIFF_CONTEXT = "diff_context"  # anywhere inside a hunk
    FILE = "file"  # inline inside a hunk, the summary elsewhere in a changed file
    NOFILTER = "nofilter"  # like file, and unchanged files in the summary

    @classmethod
    def parse(cls, text: str) -> FilterMode:
        wanted = str(text).strip().lower().replace("-", "_")
        for member in cls:
            if member.value == wanted:
                return member
        raise ValueError(f"filter mode must be one of {', '.join(m.value for m in cls)}, not {text!r}")


class Placement(enum.Enum):
    INLINE = "inline"  # may be an inline review comment
    SUMMARY = "summary"  # in the summary comment and the check run, not inline
    DROPPED = "dropped"  # not reported for this pull request


def placement(diff: FileDiff | None, line: int, mode: FilterMode) -> Placement:
    """Where a finding at ``line`` of a head file goes; ``diff`` None: the pull request did not change it."""
    wide = mode in (FilterMode.FILE, FilterMode.NOFILTER)
    if diff is None:
        return Placement.SUMMARY if mode is FilterMode.NOFILTER else Placement.DROPPED
    if diff.removed:
        return Placement.DROPPED
    if diff.patch_missing:
        return Placement.SUMMARY if wide else Placement.DROPPED
    if mode is FilterMode.ADDED:
        return Placement.INLINE if diff.is_added(line) else Placement.DROPPED
    if diff.in_hunk(line):
        return Placement.INLINE
    return Placement.SUMMARY if wide else Placement.DROPPED
