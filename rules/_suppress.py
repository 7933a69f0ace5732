"""Suppressions: an annotation on the object, or a ``# kubeguard:ignore`` comment at the line.

A suppression must give a reason; without one it does not suppress and is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rules._model import Problem, Suppression

ANNOTATION = "kubeguard.io/ignore"
REASON_ANNOTATION = "kubeguard.io/ignore-reason"
_COMMENT = re.compile(r"#\s*kubeguard:ignore\b(?P<body>.*)$")


@dataclass(frozen=True)
class CommentSuppression:
    line: int  # 1-based line the comment applies to
    rules: frozenset[str]
    reason: str


def split_ids(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def parse_comments(file: str, text: str, known: frozenset[str]) -> tuple[list[CommentSuppression], list[Problem]]:
    """Comment suppressions keyed to the line they cover: their own line (trailing) or the next code line."""
    if "kubeguard:ignore" not in text:
        return [], []
    lines = text.splitlines()
    found: list[CommentSuppression] = []
    problems: list[Problem] = []
    for index, raw in enumerate(lines):
        match = _COMMENT.search(raw)
        if not match:
            continue
        body = match.group("body")
        ids_text, sep, reason = body.partition("--")
        ids = split_ids(ids_text.replace(" ", ","))
        reason = reason.strip()
        line = index + 1
        column = match.start() + 1
        unknown = sorted(ids - known)
        if unknown:  # the known ids still apply, as with the annotation
            problems.append(Problem(file, line, column, f"kubeguard:ignore comment names unknown rule(s) "
                                    f"{', '.join(unknown)}", "suppression"))
            ids = ids & known
        if not ids:
            if not unknown:
                problems.append(Problem(file, line, column, "kubeguard:ignore comment names no rule id",
                                        "suppression"))
            continue
        if not sep or not reason:
            problems.append(Problem(file, line, column, "kubeguard:ignore comment without a reason "
                                    "(write `# kubeguard:ignore <rule> -- <reason>`); not applied", "suppression"))
            continue
        if raw[: match.start()].strip():
            found.append(CommentSuppression(line, ids, reason))
        else:  # a full-line comment covers the next line that is neither blank nor itself a comment
            target = index + 1
            while target < len(lines) and (not lines[target].strip() or lines[target].lstrip().startswith("#")):
                target += 1
            found.append(CommentSuppression(target + 1, ids, reason))
    return found, problems


def comment_suppression(suppressions: list[CommentSuppression], rule_id: str, line: int) -> Suppression | None:
    for s in suppressions:
        if s.line == line and rule_id in s.rules:
            return Suppression("comment", s.reason)
    return None
