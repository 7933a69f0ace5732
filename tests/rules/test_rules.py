"""One parametrised test over every rule fixture: the exact set of (rule, line) must match.

Fixtures live in ``tests/rules/<rule-id>/{pass,fail}_<case>.yaml``. A comment
``# expect: <rule-id>[, <rule-id>]`` marks the *next* line as the line of a finding;
``# expect-suppressed: <rule-id>`` marks a finding that must be reported as suppressed.
A first-line comment ``# kubeguard: {<flow mapping>}`` overrides ``base-config.yaml``
(same shape as ``.kubeguard.yaml``; ``rules`` entries are merged per rule).
Only the findings of the rule under test (the directory) and of rules named in markers count.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from fixture_config import merged_config

import rules

HERE = Path(__file__).parent
BASE = yaml.safe_load((HERE / "base-config.yaml").read_text())
FIXTURES = sorted(p for p in HERE.glob("*/*.yaml") if p.parent.name in rules.rule_ids())
_MARK = re.compile(r"#\s*(expect|expect-suppressed):\s*(.+)$")


def fixture_config(text: str) -> rules.Config:
    return merged_config(text, BASE)


def expectations(text: str) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    active: set[tuple[str, int]] = set()
    suppressed: set[tuple[str, int]] = set()
    for index, line in enumerate(text.splitlines()):
        match = _MARK.search(line)
        if match:
            target = suppressed if match.group(1) == "expect-suppressed" else active
            for rule_id in match.group(2).split(","):
                target.add((rule_id.strip(), index + 2))
    return active, suppressed


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f"{p.parent.name}/{p.stem}" for p in FIXTURES])
def test_fixture(fixture: Path) -> None:
    text = fixture.read_text()
    config = fixture_config(text)
    active, suppressed = expectations(text)
    counted = {fixture.parent.name} | {rule for rule, _ in active | suppressed}
    report = rules.scan([(str(fixture), text)], config)
    assert not [p for p in report.problems if p.kind in ("parse", "internal")], report.problems
    got_active = {(f.rule.id, f.line) for f in report.findings if f.rule.id in counted and not f.suppressed}
    got_suppressed = {(f.rule.id, f.line) for f in report.findings if f.rule.id in counted and f.suppressed}
    assert got_active == active
    assert got_suppressed == suppressed
    if fixture.stem.startswith("pass_"):
        assert not active, "a pass_ fixture must not expect findings"
    else:
        assert active or suppressed, "a fail_ fixture must expect at least one finding"


def test_every_rule_has_pass_and_fail_fixtures() -> None:
    for rule_id in rules.rule_ids():
        names = [p.stem for p in FIXTURES if p.parent.name == rule_id]
        assert any(n.startswith("pass_") for n in names), f"{rule_id} has no pass_ fixture"
        assert any(n.startswith("fail_") for n in names), f"{rule_id} has no fail_ fixture"
