"""Diffs the way GitHub shows them in ``GET .../pulls/{n}/files``: hunks only, 3 lines of context.

A ``patch`` is a string of hunks, each starting ``@@ -a,b +c,d @@`` (git's range format: the count is left out
when it is 1, an empty side is ``-0,0``), with no ``diff --git``/``---``/``+++`` header, lines joined by
``\\n``, and ``\\ No newline at end of file`` after a last line that has no newline. Each hunk also keeps its
rows as (left line number or None, right line number or None) so the review rules can ask "is this line in a
hunk, on this side" and "are these two lines in the same hunk".
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field

CONTEXT = 3
NO_NEWLINE = "\\ No newline at end of file"
_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")


def blob_sha(data: bytes) -> str:
    """Git's blob id: sha1 of ``blob <size>\\0<data>``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def as_bytes(content: str | bytes) -> bytes:
    return content if isinstance(content, bytes) else content.encode("utf-8")


def as_text(data: bytes) -> str | None:
    """The text of a blob, or None for binary content (not UTF-8, or containing NUL like git's heuristic)."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def split_lines(text: str) -> list[str]:
    """Lines with their ``\\n`` kept; only ``\\n`` ends a line (not ``\\r`` or form feeds as in splitlines)."""
    return _LINE.findall(text)


@dataclass
class Hunk:
    header: str
    rows: list[tuple[int | None, int | None]]  # (left, right) line numbers of each row below the header
    text: list[str]  # the header and the rows as they appear in the patch (no-newline markers included)
    first_position: int  # ``position`` (deprecated API) of the first row: counts from the first header

    def right_lines(self) -> set[int]:
        return {r for _, r in self.rows if r is not None}

    def left_lines(self) -> set[int]:
        return {left for left, _ in self.rows if left is not None}

    def row_index(self, line: int, side: str) -> int | None:
        for i, (left, right) in enumerate(self.rows):
            if (right if side == "RIGHT" else left) == line:
                return i
        return None


@dataclass
class FileDiff:
    hunks: list[Hunk] = field(default_factory=list)
    additions: int = 0
    deletions: int = 0

    @property
    def patch(self) -> str:
        return "\n".join(line for hunk in self.hunks for line in hunk.text)

    def find(self, line: int, side: str) -> tuple[Hunk, int] | None:
        """The hunk holding ``line`` on ``side`` and the row's index in it."""
        for hunk in self.hunks:
            index = hunk.row_index(line, side)
            if index is not None:
                return hunk, index
        return None

    def at_position(self, position: int) -> tuple[Hunk, int] | None:
        for hunk in self.hunks:
            index = position - hunk.first_position
            if 0 <= index < len(hunk.rows):
                return hunk, index
        return None

    def diff_hunk(self, hunk: Hunk, index: int) -> str:
        """GitHub's ``diff_hunk`` of a review comment: the hunk's header and rows down to the commented one."""
        out = [hunk.header]
        rows_seen = 0
        for line in hunk.text[1:]:
            if line == NO_NEWLINE:
                if rows_seen <= index + 1:
                    out.append(line)
                continue
            rows_seen += 1
            if rows_seen > index + 1:
                break
            out.append(line)
        return "\n".join(out)


def _range(start: int, stop: int) -> str:
    begin, length = start + 1, stop - start
    if length == 1:
        return str(begin)
    if length == 0:
        begin -= 1
    return f"{begin},{length}"


def diff_text(old: str, new: str) -> FileDiff:
    a, b = split_lines(old), split_lines(new)
    result = FileDiff()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    position = 0
    for group in matcher.get_grouped_opcodes(CONTEXT):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        header = f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@"
        if result.hunks:
            position += 1  # a later hunk's header counts as a position line
        hunk = Hunk(header, [], [header], position + 1)

        def emit(prefix: str, line: str, left: int | None, right: int | None, hunk: Hunk = hunk) -> None:
            hunk.text.append(prefix + line.rstrip("\n"))
            hunk.rows.append((left, right))
            if not line.endswith("\n"):
                hunk.text.append(NO_NEWLINE)

        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                for k in range(a2 - a1):
                    emit(" ", a[a1 + k], a1 + k + 1, b1 + k + 1)
                continue
            if tag in ("delete", "replace"):
                for k in range(a1, a2):
                    emit("-", a[k], k + 1, None)
                    result.deletions += 1
            if tag in ("insert", "replace"):
                for k in range(b1, b2):
                    emit("+", b[k], None, k + 1)
                    result.additions += 1
        position += len(hunk.rows)
        result.hunks.append(hunk)
    return result


def line_map(old: str, new: str) -> dict[int, int]:
    """Line numbers (1-based) of ``old`` that survive unchanged in ``new``, and where they are there."""
    a, b = split_lines(old), split_lines(new)
    mapping: dict[int, int] = {}
    for tag, a1, a2, b1, _b2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(a2 - a1):
                mapping[a1 + k + 1] = b1 + k + 1
    return mapping
