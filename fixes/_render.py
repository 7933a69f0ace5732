"""Render a fix for people: a GitHub suggestion (replace lines a..b with text) and a unified diff."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Suggestion:
    start_line: int  # 1-based, inclusive, in the file before the fix
    end_line: int
    replacement: str  # the new text of those lines (without the final line break)

    def block(self) -> str:
        """A ```suggestion fence longer than any backtick run inside."""
        longest = run = 0
        for ch in self.replacement:
            run = run + 1 if ch == "`" else 0
            longest = max(longest, run)
        fence = "`" * max(3, longest + 1)
        return f"{fence}suggestion\n{self.replacement}\n{fence}"


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


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
    text = "".join(b[b_lo:b_hi])
    if text.endswith("\n"):
        text = text[:-1]
    return Suggestion(a_lo + 1, a_hi, text.replace("\r\n", "\n").replace("\r", "\n"))


def unified_diff(path: str, before: str, after: str, context: int = 3) -> str:
    """A ``git apply``-able unified diff, marking a missing final newline as git does."""
    a, b = _lines(before), _lines(after)
    out = []
    name = path.lstrip("/")
    for line in difflib.unified_diff(a, b, f"a/{name}", f"b/{name}", n=context):
        if line.startswith(("---", "+++")):
            out.append(line.rstrip("\n") + "\n")
            continue
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
