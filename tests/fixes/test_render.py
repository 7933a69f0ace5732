"""fixes/_render.py on large and hostile files: suggestions and diffs stay exact, and their cost stays linear
in the file where a line diff would be quadratic in the lines that repeat."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fixes import suggestion, unified_diff

HEAD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n"
PRIVILEGED = "    securityContext:\n      privileged: false\n"


def replaced(text: str, start: int, end: int, replacement: str) -> str:
    """What GitHub's "Commit suggestion" does with lines ``start``..``end``."""
    lines = text.split("\n")
    return "\n".join([*lines[:start - 1], *(replacement.split("\n") if replacement else []), *lines[end:]])


def git_apply(tmp_path: Path, before: str, patch: str) -> str:
    (tmp_path / "a.yaml").write_text(before)
    (tmp_path / "fix.patch").write_text(patch)
    subprocess.run(["git", "apply", "--unidiff-zero", "fix.patch"], cwd=tmp_path, check=True, capture_output=True)
    return (tmp_path / "a.yaml").read_text()


@pytest.mark.parametrize("repeats", [3, 1_500, 200_000])
def test_a_fix_among_many_identical_lines_is_exact_and_bounded(repeats: int, tmp_path: Path) -> None:
    body = "# same\n" * repeats
    before = HEAD + body + "  - name: d\n    image: nginx\n" + body
    after = HEAD + PRIVILEGED + body + "  - name: d\n    image: nginx\n" + PRIVILEGED + body
    started = time.process_time()
    s = suggestion(before, after)
    patch = unified_diff("a.yaml", before, after)
    # a difflib line diff of the whole file took 1.7 s at 5,000 repeated lines and minutes at 200,000
    assert time.process_time() - started < 10
    assert s is not None and s.start_line == 9  # the line after the container's image
    assert replaced(before, s.start_line, s.end_line, s.replacement) == after
    hunks = [line for line in patch.split("\n") if line.startswith("@@ ")]
    assert len(hunks) == (1 if repeats == 3 else 2)
    assert len(patch) < 2_000  # two small hunks, not the file rewritten
    if shutil.which("git"):
        assert git_apply(tmp_path, before, patch) == after


def test_hunk_numbers_are_those_of_the_whole_file(tmp_path: Path) -> None:
    before = HEAD + "".join(f"# line {i}\n" for i in range(100)) + "last: 1"
    after = before.replace("# line 50\n", "# line 50\n# added\n").replace("last: 1", "last: 2")
    patch = unified_diff("a.yaml", before, after)
    assert "@@ -57,6 +57,7 @@" in patch and "\\ No newline at end of file" in patch
    if shutil.which("git"):
        assert git_apply(tmp_path, before, patch) == after
    s = suggestion(before, after)
    assert s is not None and (s.start_line, s.end_line) == (60, 109)
    assert replaced(before, s.start_line, s.end_line, s.replacement) == after
