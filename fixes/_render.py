"""Render a fix for people: a GitHub suggestion (replace lines a..b with text) and a unified diff."""

from __future__ import annotations

import difflib
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


def suggestion(before: str, after: str) -> Suggestion | None:
    """The smallest line range of ``before`` whose replacement yields ``after``.

    A pure insertion replaces its anchor line (the line before it) with the anchor plus the
    new lines, as GitHub suggestions need at least one line to replace.
    """
    a, b = _lines(before), _lines(after)
    if a == b:
        return None
    ops = [op for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes() if op[0] != "equal"]
    a_lo, a_hi = ops[0][1], ops[-1][2]
    b_lo, b_hi = ops[0][3], ops[-1][4]
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


def unified_diff(path: str, before: str, after: str, context: int = 3) -> str:
    """A ``git apply``-able unified diff, marking a missing final newline as git does."""
    a, b = _lines(before), _lines(after)
    out = []
    name = path.lstrip("/")
    for number, line in enumerate(difflib.unified_diff(a, b, f"a/{name}", f"b/{name}", n=context)):
        if number < 2:  # the ---/+++ header (a removed `---` document separator is content)
            out.append(line.rstrip("\n") + "\n")
            continue
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
