"""Discovers the rule modules: one module per rule, named after its id."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from rules._model import Rule


@cache
def all_rules() -> tuple[Rule, ...]:
    import rules

    found: dict[str, Rule] = {}
    for info in sorted(pkgutil.iter_modules(rules.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"rules.{info.name}")
        rule = getattr(module, "RULE", None)
        if not isinstance(rule, Rule):
            raise RuntimeError(f"rules/{info.name}.py declares no RULE")
        if rule.id.replace("-", "_") != info.name:
            raise RuntimeError(f"rule id {rule.id!r} does not match its module rules/{info.name}.py")
        if rule.id in found:
            raise RuntimeError(f"duplicate rule id {rule.id!r}")
        found[rule.id] = rule
    return tuple(found.values())


def get_rule(rule_id: str) -> Rule:
    for rule in all_rules():
        if rule.id == rule_id:
            return rule
    raise KeyError(rule_id)


def rule_ids() -> tuple[str, ...]:
    return tuple(rule.id for rule in all_rules())
