"""Golden tests per rule: fixing ``<case>.in.yaml`` gives ``<case>.out.yaml`` byte for byte and ``<case>.patch``.

Run ``pytest --update-goldens tests/fixes`` to regenerate the outputs from the code (never edit them by
hand), then read every changed ``.out.yaml``. Each fix is that rule's, at every safety class, with the
case's configuration (see ``golden_cases``); ``# manual:`` marks name the findings left to a person.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from golden_cases import CASES, IDS, Case

import fixes
import rules


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_golden(case: Case, update_goldens: bool) -> None:
    result = case.fixed
    patch = fixes.unified_diff(case.name, case.text, result.after)
    if update_goldens:
        case.out.write_bytes(result.after.encode("utf-8"))
        case.patch.write_bytes(patch.encode("utf-8"))
    assert case.out.exists() and case.patch.exists(), f"{case.id}: no golden yet, run pytest --update-goldens"
    assert result.after == case.out.read_bytes().decode("utf-8"), f"{case.id}: output differs from .out.yaml"
    assert patch == case.patch.read_bytes().decode("utf-8"), f"{case.id}: diff differs from .patch"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_manual_findings_and_reasons(case: Case) -> None:
    """Exactly the marked findings stay manual, each with a reason that says what to do."""
    manual = [r for r in case.fixed.results if not r.fixed]
    got = {(r.finding.rule.id, r.finding.line) for r in manual}
    marks = case.manual_marks()
    assert got == {(rule_id, line) for rule_id, line, _ in marks}, [(r.finding.line, r.reason) for r in manual]
    for rule_id, line, text in marks:
        reasons = [r.reason for r in manual if (r.finding.rule.id, r.finding.line) == (rule_id, line)]
        assert any(text in reason for reason in reasons), (line, reasons)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_input_breaks_the_rule(case: Case) -> None:
    """Every golden exercises its rule: the input has a finding of it, and parses."""
    report = rules.scan_file(case.name, case.text, case.config)
    assert not [p for p in report.problems if p.kind in ("parse", "internal")], report.problems
    assert case.findings(case.text, case.rule), f"{case.id}: no {case.rule} finding in the input"


def test_every_rule_has_goldens() -> None:
    per_rule = {rule_id: [c for c in CASES if c.rule == rule_id] for rule_id in rules.rule_ids()}
    assert {c.rule for c in CASES} <= set(per_rule), "a golden directory names no rule"
    for rule_id, cases in per_rule.items():
        assert len(cases) >= 2, f"{rule_id} has fewer than two goldens"
        assert any(c.manual_marks() for c in cases), f"{rule_id} has no golden where the fix stays manual"
        assert any(c.fixed.changed for c in cases), f"{rule_id} has no golden where the fix applies"


def test_patches_apply_with_git(tmp_path: Path) -> None:
    """Every .patch is what ``git apply`` turns the .in.yaml into the .out.yaml with (CRLF, no final newline)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for case in CASES:
        if not case.patch.read_bytes():
            assert case.out.read_bytes() == case.source.read_bytes()
            continue
        target = tmp_path / case.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(case.source.read_bytes())
        subprocess.run(["git", "-c", "core.autocrlf=false", "apply", str(case.patch)], cwd=tmp_path, check=True)
        assert target.read_bytes() == case.out.read_bytes(), case.id
