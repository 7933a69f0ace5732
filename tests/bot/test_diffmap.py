"""bot/diffmap.py: GitHub's ``patch`` hunks to head-side lines, and placement per filter mode."""

from __future__ import annotations

import difflib

import pytest

from bot.diffmap import FileDiff, FilterMode, Hunk, Placement, file_diffs, parse_patch, placement
from bot.model import ChangedFile


def gh_patch(before: str, after: str, context: int = 3) -> str:
    """A patch as GitHub's ``files`` endpoint gives it: hunks only, no ``---``/``+++`` headers, no final newline."""
    def lines(text: str) -> list[str]:
        parts = text.split("\n")
        return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])

    out = []
    for number, line in enumerate(difflib.unified_diff(lines(before), lines(after), n=context)):
        if number < 2:
            continue
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out).rstrip("\n")


BEFORE = "".join(f"line {n}\n" for n in range(1, 31))
AFTER = BEFORE.replace("line 5\n", "line five\nline 5b\n").replace("line 25\n", "")


def test_hunks_are_head_side_ranges_with_their_added_lines() -> None:
    diff = parse_patch("a.yaml", gh_patch(BEFORE, AFTER))
    # head: old 5 is "line five" (5) plus "line 5b" (6), so old 22..24 are head 23..25; old 25 is removed and
    # old 26..28 are head 26..28: the second hunk is context only
    assert diff.hunks == (Hunk(2, 9, frozenset({5, 6})), Hunk(23, 28, frozenset()))
    assert not diff.patch_missing and diff.problem == ""
    assert [n for n in range(1, 31) if diff.in_hunk(n)] == [*range(2, 10), *range(23, 29)]
    assert [n for n in range(1, 31) if diff.is_added(n)] == [5, 6]
    assert diff.hunk_of(23) == Hunk(23, 28, frozenset())
    assert diff.hunk_of(15) is None
    assert diff.same_hunk(2, 9) and diff.same_hunk(9, 2)
    assert not diff.same_hunk(5, 23) and not diff.same_hunk(22, 23)
    assert not diff.same_hunk(9, 10) and not diff.same_hunk(15, 15)


def test_no_newline_at_end_of_file_on_either_side() -> None:
    diff = parse_patch("a.yaml", gh_patch("a\nb\nc", "a\nb\nC"))
    assert "\\ No newline at end of file" in gh_patch("a\nb\nc", "a\nb\nC")
    assert diff.hunks == (Hunk(1, 3, frozenset({3})),)
    gained = parse_patch("a.yaml", gh_patch("a\nb", "a\nb\nc\n"))
    assert gained.hunks == (Hunk(1, 3, frozenset({2, 3})),)


def test_crlf_content_maps_to_the_same_lines() -> None:
    crlf = parse_patch("a.yaml", gh_patch(BEFORE.replace("\n", "\r\n"), AFTER.replace("\n", "\r\n")))
    assert "\r\n" in gh_patch(BEFORE.replace("\n", "\r\n"), AFTER.replace("\n", "\r\n"))
    assert crlf.hunks == parse_patch("a.yaml", gh_patch(BEFORE, AFTER)).hunks


def test_a_patch_github_did_not_send_is_missing_not_empty() -> None:
    diff = parse_patch("big.yaml", None)
    assert diff.patch_missing and diff.hunks == () and "did not include" in diff.problem
    assert not diff.in_hunk(1) and not diff.is_added(1)
    for mode in FilterMode:
        expected = Placement.SUMMARY if mode in (FilterMode.FILE, FilterMode.NOFILTER) else Placement.DROPPED
        assert placement(diff, 1, mode) is expected, mode


def test_added_file_is_one_hunk_of_added_lines() -> None:
    text = "a: 1\nb: 2\nc: 3\n"
    patch = gh_patch("", text)
    assert patch.startswith("@@ -0,0 +1,3 @@")
    diff = parse_patch("new.yaml", patch, "added")
    assert diff.hunks == (Hunk(1, 3, frozenset({1, 2, 3})),)
    assert all(placement(diff, n, FilterMode.ADDED) is Placement.INLINE for n in (1, 2, 3))


def test_removed_file_has_no_head_lines() -> None:
    diff = parse_patch("gone.yaml", gh_patch("a: 1\nb: 2\n", ""), "removed")
    assert diff.hunks == () and not diff.patch_missing and diff.removed
    assert all(placement(diff, 1, mode) is Placement.DROPPED for mode in FilterMode)
    assert all(placement(parse_patch("gone.yaml", None, "removed"), 1, mode) is Placement.DROPPED
               for mode in FilterMode)


def test_renamed_file_without_changes_has_no_hunks_with_changes_has_them() -> None:
    files = [ChangedFile("new/app.yaml", "renamed", None, "old/app.yaml"),
             ChangedFile("new/svc.yaml", "renamed", gh_patch(BEFORE, AFTER), "old/svc.yaml", 2, 2),
             ChangedFile("new/big.yaml", "renamed", None, "old/big.yaml", 900, 10)]
    diffs = file_diffs(files)
    assert set(diffs) == {"new/app.yaml", "new/svc.yaml", "new/big.yaml"}
    pure = diffs["new/app.yaml"]
    assert pure.previous_path == "old/app.yaml" and pure.hunks == () and not pure.patch_missing
    assert placement(pure, 3, FilterMode.DIFF_CONTEXT) is Placement.DROPPED
    assert placement(pure, 3, FilterMode.FILE) is Placement.SUMMARY
    assert diffs["new/svc.yaml"].hunks == parse_patch("x", gh_patch(BEFORE, AFTER)).hunks
    assert diffs["new/big.yaml"].patch_missing  # renamed and changed, but GitHub left the diff out


def test_a_modified_file_without_a_patch_is_missing_even_without_counts() -> None:
    (diff,) = file_diffs([ChangedFile("bin.yaml", "modified", None)]).values()
    assert diff.patch_missing


@pytest.mark.parametrize("patch", [
    "not a diff at all",
    "@@ -1,2 +1,2 @@\n a\n",  # shorter than its header says
    "@@ -1 +1 @@\n-a\n+b\n+c\n",  # a line beyond the hunk
    "@@ -1 +1 @@\n a\ngarbage\n",  # a stray line after the hunk
    "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",  # headers: GitHub never sends them, they would make two files
    "@@ -x,1 +1 @@\n a\n",
    "\\ No newline at end of file\n",
])
def test_a_malformed_patch_is_missing_with_a_problem_never_an_error(patch: str) -> None:
    diff = parse_patch("odd.yaml", patch)
    assert diff.patch_missing and diff.hunks == () and diff.problem


def test_empty_patch_and_deletion_only_hunks_have_no_commentable_lines() -> None:
    assert parse_patch("mode-only.yaml", "").hunks == ()
    deleted = parse_patch("a.yaml", "@@ -3,2 +2,0 @@\n-x\n-y")
    assert deleted.hunks == () and not deleted.patch_missing


@pytest.mark.parametrize(("text", "mode"), [
    ("added", FilterMode.ADDED), ("diff_context", FilterMode.DIFF_CONTEXT), ("diff-context", FilterMode.DIFF_CONTEXT),
    (" FILE ", FilterMode.FILE), ("nofilter", FilterMode.NOFILTER),
])
def test_filter_mode_parse(text: str, mode: FilterMode) -> None:
    assert FilterMode.parse(text) is mode


def test_filter_mode_parse_names_the_choices() -> None:
    with pytest.raises(ValueError, match="added, diff_context, file, nofilter, not 'everything'"):
        FilterMode.parse("everything")


DIFF = parse_patch("a.yaml", gh_patch(BEFORE, AFTER))
ADDED_LINE, CONTEXT_LINE, OUTSIDE = 5, 3, 15


@pytest.mark.parametrize(("mode", "added", "context", "outside", "unchanged_file"), [
    (FilterMode.ADDED, Placement.INLINE, Placement.DROPPED, Placement.DROPPED, Placement.DROPPED),
    (FilterMode.DIFF_CONTEXT, Placement.INLINE, Placement.INLINE, Placement.DROPPED, Placement.DROPPED),
    (FilterMode.FILE, Placement.INLINE, Placement.INLINE, Placement.SUMMARY, Placement.DROPPED),
    (FilterMode.NOFILTER, Placement.INLINE, Placement.INLINE, Placement.SUMMARY, Placement.SUMMARY),
])
def test_placement_per_filter_mode(mode: FilterMode, added: Placement, context: Placement, outside: Placement,
                                   unchanged_file: Placement) -> None:
    assert DIFF.is_added(ADDED_LINE) and DIFF.in_hunk(CONTEXT_LINE) and not DIFF.is_added(CONTEXT_LINE)
    assert placement(DIFF, ADDED_LINE, mode) is added
    assert placement(DIFF, CONTEXT_LINE, mode) is context
    assert placement(DIFF, OUTSIDE, mode) is outside
    assert placement(None, ADDED_LINE, mode) is unchanged_file


def test_file_diff_defaults() -> None:
    diff = FileDiff("a.yaml")
    assert diff.status == "modified" and diff.hunks == () and not diff.patch_missing
    assert placement(diff, 1, FilterMode.FILE) is Placement.SUMMARY
