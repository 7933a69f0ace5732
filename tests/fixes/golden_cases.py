"""The fix goldens: ``tests/fixes/<rule-id>/<case>.in.yaml`` with ``.out.yaml`` and ``.patch`` beside it.

A case's configuration is ``tests/rules/base-config.yaml`` plus ``DEFAULT_FIXES`` as its ``fixes:``
section, overridden by a first-line comment ``# kubeguard: {<flow mapping>}`` (``rules`` merged per
rule, any other key replaced). A comment ``# manual: <rule-id>: <text>`` marks the *next* line as the
line of a finding that stays manual, whose reason contains ``<text>``. Files are read and written as
bytes: CRLF line breaks, trailing spaces and a missing final newline are part of the case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml
from fixture_config import merged_config

import fixes
import rules

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
DEFAULT_FIXES = {
    "registryMirror": {"docker.io/library": "healthyClusterRegistry.azurecr.io"},
    "portMap": {"9001": 80, "6001": 80},
}
BASE = {**yaml.safe_load((HERE.parent / "rules" / "base-config.yaml").read_text()), "fixes": DEFAULT_FIXES}
MAX = fixes.Safety.BEHAVIOUR
_MANUAL = re.compile(r"#\s*manual:\s*([a-z-]+):\s*(.+?)\s*$")


@dataclass(frozen=True)
class Case:
    source: Path  # <rule>/<case>.in.yaml

    @property
    def rule(self) -> str:
        return self.source.parent.name

    @property
    def stem(self) -> str:
        return self.source.name.removesuffix(".in.yaml")

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.stem}"

    @property
    def name(self) -> str:
        """The path fixes and diffs name: the input file, relative to the repository (``git apply`` it)."""
        return self.source.relative_to(ROOT).as_posix()

    @property
    def out(self) -> Path:
        return self.source.with_name(f"{self.stem}.out.yaml")

    @property
    def patch(self) -> Path:
        return self.source.with_name(f"{self.stem}.patch")

    @cached_property
    def text(self) -> str:
        return self.source.read_bytes().decode("utf-8")

    @cached_property
    def config(self) -> rules.Config:
        return merged_config(self.text, BASE)

    @cached_property
    def settings(self) -> fixes.FixSettings:
        return fixes.settings_from_config(self.config)

    def fix(self, text: str | None = None, rule_ids: list[str] | None = None) -> fixes.FileFix:
        return fixes.fix_file(self.name, self.text if text is None else text, self.config, self.settings,
                              rule_ids=rule_ids, max_safety=MAX)

    @cached_property
    def fixed(self) -> fixes.FileFix:
        """The golden's subject: every fix of the case's rule, all safety classes."""
        return self.fix(rule_ids=[self.rule])

    def manual_marks(self) -> set[tuple[str, int, str]]:
        marks = set()
        for index, line in enumerate(self.text.split("\n")):
            found = _MANUAL.search(line)
            if found:
                marks.add((found.group(1), index + 2, found.group(2)))
        return marks

    def findings(self, text: str, rule_id: str | None = None) -> list[rules.Finding]:
        """Active findings (of one rule, or all) in ``text`` under the case's configuration."""
        report = rules.scan_file(self.name, text, self.config)
        return [f for f in report.findings if not f.suppressed and f.effect is not rules.Effect.DISABLED
                and (rule_id is None or f.rule.id == rule_id)]


CASES = [Case(p) for p in sorted(HERE.glob("*/*.in.yaml"))]
IDS = [c.id for c in CASES]
