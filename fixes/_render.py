"""Render a fix for people: a GitHub suggestion (replace lines a..b with text) and a unified diff."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Suggestion:
    start_line: int  # 1-based, inclusive, in the file before the fix
    end_line: int
    replacement: str  # the new text of those lines (without the final line break); "" deletes them

    def block(self) -> str:
        """A ```suggestion fence longer than any backtick run inside."""
        longest = run = 0
        for ch in self.replacement:
            run = run + 1 if ch == "`" else 0
            longest = max(longest, run)
        fence = "`" * max(3, longest + 1)
        if not self.replacement:  # an empty block deletes the lines (one empty line would replace them)
            return f"{fence}suggestion\n{fence}"
        return f"{fence}suggestion\n{self.replacement}\n{fence}"


def _lines(text: str) -> list[str]:
    """Lines as git and GitHub count them: split after each ``\n`` only (``\r``, form feeds, U+2028 and
    the other characters ``str.splitlines`` breaks at are content)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


# above this many lines between the common ends the exact line diff (quadratic where lines repeat) is not run
_DIFF_LINES = 1_000


def _common_ends(a: list[str], b: list[str]) -> tuple[int, int]:
    """How many lines ``a`` and ``b`` share at the start, and then at the end (never overlapping).

    Linear, where a line diff (``difflib``) is quadratic in the lines that repeat: a file of a few
    thousand identical comment lines took seconds per suggestion, a hostile one minutes.
    """
    shortest = min(len(a), len(b))
    prefix = 0
    while prefix < shortest and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return prefix, suffix


def _middle(a: list[str], b: list[str], margin: int) -> tuple[int, list[str], list[str]]:
    """The lines of ``a`` and ``b`` between their common ends, with ``margin`` shared lines kept on each
    side, and how many lines were left out at the start."""
    prefix, suffix = _common_ends(a, b)
    skip, keep = max(0, prefix - margin), max(0, suffix - margin)
    return skip, a[skip:len(a) - keep], b[skip:len(b) - keep]


def suggestion(before: str, after: str) -> Suggestion | None:
    """The smallest line range of ``before`` whose replacement yields ``after``.

    Only the lines between the texts' common start and end (with a few shared lines of margin, where
    the line diff may place an insertion) are diffed.

    A pure insertion replaces its anchor line (the line before it) with the anchor plus the
    new lines, as GitHub suggestions need at least one line to replace.
    """
    a, b = _lines(before), _lines(after)
    if a == b:
        return None
    skip, a_mid, b_mid = _middle(a, b, 3)
    if max(len(a_mid), len(b_mid)) <= _DIFF_LINES:
        ops = [op for op in difflib.SequenceMatcher(a=a_mid, b=b_mid, autojunk=False).get_opcodes()
               if op[0] != "equal"]
        a_lo, a_hi = skip + ops[0][1], skip + ops[-1][2]
        b_lo, b_hi = skip + ops[0][3], skip + ops[-1][4]
    else:  # a huge span between the first and last change: the common ends alone (linear)
        prefix, suffix = _common_ends(a, b)
        a_lo, a_hi = prefix, len(a) - suffix
        b_lo, b_hi = prefix, len(b) - suffix
    if a_lo == a_hi:  # insertion only
        if a_lo == 0:
            a_hi, b_hi = a_hi + 1, b_hi + 1  # anchor on the following line instead
        else:
            a_lo, b_lo = a_lo - 1, b_lo - 1
    if b_hi > b_lo and not "".join(b[b_lo:b_hi]).strip("\r\n"):  # new empty lines only: "" would delete
        if a_lo > 0:
            a_lo, b_lo = a_lo - 1, b_lo - 1
        elif a_hi < len(a):
            a_hi, b_hi = a_hi + 1, b_hi + 1
    text = "".join(line[:-2] + "\n" if line.endswith("\r\n") else line for line in b[b_lo:b_hi])
    if text.endswith("\n"):
        text = text[:-1]
    return Suggestion(a_lo + 1, a_hi, text)  # lines joined by \n whatever the file's line breaks


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def unified_diff(path: str, before: str, after: str, context: int = 3) -> str:
    """A ``git apply``-able unified diff, marking a missing final newline as git does.

    Only the lines between the common start and end (plus the context) are diffed; the hunk
    headers are shifted back to the whole file's line numbers.
    """
    a, b = _lines(before), _lines(after)
    skip, a_mid, b_mid = _middle(a, b, context)
    autojunk = max(len(a_mid), len(b_mid)) > _DIFF_LINES
    out = []
    name = path.lstrip("/")
    lines = difflib.unified_diff(a_mid, b_mid, f"a/{name}", f"b/{name}", n=context)
    if not autojunk:  # the default; difflib.unified_diff itself takes autojunk=True
        lines = _unified(a_mid, b_mid, f"a/{name}", f"b/{name}", context)
    for number, line in enumerate(lines):
        if number < 2:  # the ---/+++ header (a removed `---` document separator is content)
            out.append(line.rstrip("\n") + "\n")
            continue
        if skip and line.startswith("@@"):
            line = _HUNK.sub(lambda m: f"@@ -{int(m[1]) + skip}{m[2] or ''} +{int(m[3]) + skip}{m[4] or ''} @@",
                             line, count=1)
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _unified(a: list[str], b: list[str], old: str, new: str, context: int) -> list[str]:
    """``difflib.unified_diff`` with ``autojunk=False`` (exact on small inputs: no line is treated as junk)."""
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    groups = list(matcher.get_grouped_opcodes(context))
    if not groups:
        return []
    out = [f"--- {old}\n", f"+++ {new}\n"]
    for group in groups:
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in a[i1:i2]]
                continue
            out += ["-" + line for line in a[i1:i2]]
            out += ["+" + line for line in b[j1:j2]]
    return out


def _range(start: int, stop: int) -> str:
    """A hunk range as unified diffs write it (difflib's ``_format_range_unified``)."""
    length = stop - start
    if length == 1:
        return f"{start + 1}"
    return f"{start if not length else start + 1},{length}"
