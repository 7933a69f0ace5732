"""Properties every fix must have, checked over every golden input (``tests/fixes/<rule>/*.in.yaml``).

- effective: the rule's findings are gone from the output, except the ones reported manual;
- idempotent: fixing the output again changes nothing;
- minimal: each applied fix changes only the lines its edits touch, every other line is byte-identical,
  and no edit rewrites a whole line to itself;
- composable: fixing every rule at once equals single-rule passes in any order;
- verified: every fix offered is gone when its output is scanned again.

Plus ``fixes.suggestion``: line ranges, insertions and the fence.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import random
import zlib
from functools import cache

import pytest
from golden_cases import CASES, IDS, Case

import fixes
import rules
from fixes._plan import finding_key


@cache
def _fixed(case: Case, text: str, rule_id: str | None) -> str:
    return case.fix(text, None if rule_id is None else [rule_id]).after


@cache
def _together(case: Case) -> fixes.FileFix:
    return case.fix(rule_ids=None)


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _touched_lines(text: str, spans: list[tuple[int, int, bool]]) -> set[int]:
    """Lines of ``text`` that spans (start, end, joins) change: any of their characters (with the line
    break) lies inside, or a zero-width span sits inside the line and changes it (``joins``)."""
    starts = [0, *(i + 1 for i, ch in enumerate(text) if ch == "\n")]
    lines: set[int] = set()
    for start, end, joins in spans:
        first = bisect.bisect_right(starts, start) - 1
        if end > start:
            lines.update(range(first, bisect.bisect_right(starts, end - 1)))
        if joins:  # at the very end of a text with a final newline, the change is to the last line
            lines.add(first - 1 if start == len(text) and text.endswith("\n") and first > 0 else first)
    return lines


def assert_minimal(before: str, after: str, edits: tuple[fixes.Edit, ...]) -> None:
    """Only the lines the edits touch change; every other line is byte-identical, in the same order."""
    assert edits, "a fix without edits"
    assert fixes.apply(before, edits) == after
    old_spans, new_spans, delta = [], [], 0
    for edit in sorted(edits):
        old, new = before[edit.start:edit.end], edit.text
        assert old != new, f"an edit that changes nothing: {edit}"
        old_lines, new_lines = _lines(old), _lines(new)
        # tight: an edit never rewrites a whole line at either end of its span to itself
        if old_lines and new_lines and (edit.start == 0 or before[edit.start - 1] == "\n"):
            assert not (old_lines[0] == new_lines[0] and old_lines[0].endswith("\n")), f"loose start: {edit}"
        if old_lines and new_lines and (edit.end == len(before) or before[edit.end - 1] == "\n"):
            assert not (old_lines[-1] == new_lines[-1] and old_lines[-1].endswith("\n")), f"loose end: {edit}"
        at_line_start = edit.start == 0 or before[edit.start - 1] == "\n"
        whole_lines = at_line_start and (not new or new.endswith("\n")) and (not old or old.endswith("\n"))
        start = edit.start + delta
        old_spans.append((edit.start, edit.end, not whole_lines))
        new_spans.append((start, start + len(new), not whole_lines))
        delta += len(new) - len(old)
    a, b = _lines(before), _lines(after)
    touched, produced = _touched_lines(before, old_spans), _touched_lines(after, new_spans)
    kept = [line for i, line in enumerate(a) if i not in touched]
    assert kept == [line for j, line in enumerate(b) if j not in produced], "lines outside the edits changed"
    # cross-check with difflib: a line it calls changed is one an edit touched (or a twin of one:
    # difflib may align a removal or insertion with an identical neighbouring line instead)
    twins = {a[i] for i in touched} | {b[j] for j in produced}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            outside = [i + 1 for i in range(i1, i2) if i not in touched and a[i] not in twins]
            outside += [j + 1 for j in range(j1, j2) if j not in produced and b[j] not in twins]
            assert not outside, f"lines {outside} changed outside the edits {edits}"


def test_the_minimality_check_refuses_edits_that_rewrite_whole_lines() -> None:
    before = "a: 1\nb: 2\nc: 3\n"
    assert_minimal(before, "a: 1\nb: 9\nc: 3\n", (fixes.Edit(8, 9, "9"),))
    with pytest.raises(AssertionError, match="loose end"):
        assert_minimal(before, "a: 1\nb: 9\nc: 3\n", (fixes.Edit(5, 15, "b: 9\nc: 3\n"),))
    with pytest.raises(AssertionError, match="loose start"):
        assert_minimal(before, "a: 1\nb: 9\nc: 3\n", (fixes.Edit(0, 9, "a: 1\nb: 9"),))
    with pytest.raises(AssertionError, match="changes nothing"):
        assert_minimal(before, before, (fixes.Edit(0, 1, "a"),))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_effective(case: Case) -> None:
    remaining = case.findings(case.fixed.after, case.rule)
    manual = [r for r in case.fixed.results if not r.fixed]
    assert len(remaining) == len(manual), [(f.line, f.message) for f in remaining]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_idempotent(case: Case) -> None:
    assert case.fix(case.fixed.after, [case.rule]).after == case.fixed.after
    together = _together(case).after
    again = case.fix(together)
    assert again.after == together
    assert not [r for r in again.results if r.fixed]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_minimal(case: Case) -> None:
    results = [r for r in (*case.fixed.results, *_together(case).results) if r.fixed]
    assert results or not case.fixed.changed
    for r in results:
        assert_minimal(r.before, r.after, r.edits)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_verified(case: Case) -> None:
    for r in (*case.fixed.results, *_together(case).results):
        if not r.fixed:
            assert r.reason and not r.edits
            continue
        assert r.safety is not None and r.summary
        assert fixes.apply(r.before, r.edits) == r.after
        before, after = case.findings(r.before), case.findings(r.after)
        where = (r.finding.rule.id, r.finding.document, r.finding.resource)
        same = [f for f in after if (f.rule.id, f.document, f.resource) == where]
        # one finding fewer of that rule on that resource; its exact path is gone unless a removal may
        # have moved a later list item onto it
        assert len(same) < sum((f.rule.id, f.document, f.resource) == where for f in before), r.finding.message
        if all(e.text for e in r.edits):
            assert finding_key(r.finding) not in {finding_key(f) for f in same}
        assert {f.rule.id for f in after} <= {f.rule.id for f in before}, "a fix introduced a rule's first finding"


def _orders(case: Case) -> list[tuple[str, ...]]:
    relevant = sorted({f.rule.id for f in case.findings(case.text)})
    rest = tuple(r for r in rules.rule_ids() if r not in relevant)
    if len(relevant) <= 4:
        return [(*order, *rest) for order in itertools.permutations(relevant)]
    rng = random.Random(zlib.crc32(case.id.encode()))
    return [(*rng.sample(relevant, len(relevant)), *rest) for _ in range(5)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_composable(case: Case) -> None:
    """All rules at once == one rule at a time, in several orders (repeated until nothing changes)."""
    together = _together(case).after
    for order in _orders(case):
        text = case.text
        for _ in range(20):
            previous = text
            for rule_id in order:
                text = _fixed(case, text, rule_id)
            if text == previous:
                break
        assert text == together, f"order {order} gives another result"


# ---- suggestions -------------------------------------------------------------------------------------------

def test_suggestion_replaces_the_changed_lines() -> None:
    before = "a: 1\nb: true\nc: 3\nd: 4\n"
    after = "a: 1\nb: false\nc: 3\nd: 5\n"
    s = fixes.suggestion(before, after)
    assert (s.start_line, s.end_line, s.replacement) == (2, 4, "b: false\nc: 3\nd: 5")
    assert fixes.suggestion(before, before) is None


def test_suggestion_for_a_removal() -> None:
    s = fixes.suggestion("a: 1\nb: 2\nc: 3\n", "a: 1\nc: 3\n")
    assert (s.start_line, s.end_line, s.replacement) == (2, 2, "")


def test_a_deletion_is_an_empty_block_and_a_blank_line_is_not() -> None:
    deletion = fixes.suggestion("a: 1\nb: 2\nc: 3\n", "a: 1\nc: 3\n")
    assert deletion.block() == "```suggestion\n```"
    blank = fixes.suggestion("a: 1\nb: 2\nc: 3\n", "a: 1\n\nc: 3\n")  # widened to keep it apart from a deletion
    assert (blank.start_line, blank.end_line, blank.replacement) == (1, 2, "a: 1\n")
    assert blank.block() == "```suggestion\na: 1\n\n```"


def test_pure_insertion_is_anchored_on_the_line_before() -> None:
    s = fixes.suggestion("spec:\n  a: 1\n  c: 3\n", "spec:\n  a: 1\n  b: 2\n  c: 3\n")
    assert (s.start_line, s.end_line, s.replacement) == (2, 2, "  a: 1\n  b: 2")


def test_insertion_at_line_one_is_anchored_on_the_line_after() -> None:
    s = fixes.suggestion("b: 2\nc: 3\n", "a: 1\nb: 2\nc: 3\n")
    assert (s.start_line, s.end_line, s.replacement) == (1, 1, "a: 1\nb: 2")


def test_suggestion_keeps_lines_as_github_counts_them() -> None:
    crlf = fixes.suggestion("a: 1\r\nb: 2\r\n", "a: 1\r\nb: 3\r\n")
    assert (crlf.start_line, crlf.end_line, crlf.replacement) == (2, 2, "b: 3")
    no_final_newline = fixes.suggestion("a: 1\nb: 2", "a: 1\nb: 2\nc: 3")
    assert (no_final_newline.start_line, no_final_newline.end_line) == (2, 2)
    assert no_final_newline.replacement == "b: 2\nc: 3"
    form_feed = fixes.suggestion("a: '\x0c'\nb: 2\n", "a: '\x0c'\nb: 3\n")  # not a line break for git
    assert (form_feed.start_line, form_feed.end_line) == (2, 2)


@pytest.mark.parametrize(("text", "fence"), [
    ("x: 1", "```"), ("x: '``'", "```"), ("x: '```'", "````"), ("a: '`'\nb: '`````'", "``````"),
])
def test_fence_grows_past_backtick_runs(text: str, fence: str) -> None:
    block = fixes.Suggestion(1, 1, text).block()
    assert block == f"{fence}suggestion\n{text}\n{fence}"


def test_suggestion_of_every_golden_applies() -> None:
    """Replacing the suggested lines of the input with the replacement gives the output."""
    for case in CASES:
        s = fixes.suggestion(case.text, case.fixed.after)
        if s is None:
            assert not case.fixed.changed
            continue
        a = _lines(case.text.replace("\r\n", "\n"))
        new = s.replacement + "\n" if s.replacement else ""
        rebuilt = "".join(a[:s.start_line - 1]) + new + "".join(a[s.end_line:])
        expected = case.fixed.after.replace("\r\n", "\n")
        assert rebuilt == expected or (rebuilt[:-1] == expected and not expected.endswith("\n")), case.id


def test_unified_diff_applies_like_git() -> None:
    diff = fixes.unified_diff("x.yaml", "a: 1\n---\nb: 2", "a: 1\nb: 3")
    assert diff.splitlines()[:2] == ["--- a/x.yaml", "+++ b/x.yaml"]
    assert "\n----\n" in diff and diff.endswith("+b: 3\n\\ No newline at end of file\n")
