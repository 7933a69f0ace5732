"""Fixes are discovered like rules: ``fixes/<rule_module>.py`` declares ``FIX``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from fixes._model import FixSpec


@cache
def all_fixes() -> dict[str, FixSpec]:
    import fixes

    found: dict[str, FixSpec] = {}
    for info in sorted(pkgutil.iter_modules(fixes.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        spec = getattr(importlib.import_module(f"fixes.{info.name}"), "FIX", None)
        if not isinstance(spec, FixSpec) or spec.rule_id.replace("-", "_") != info.name:
            raise RuntimeError(f"fixes/{info.name}.py must declare FIX for rule {info.name.replace('_', '-')}")
        found[spec.rule_id] = spec
    return found


@cache
def removable_keys() -> frozenset[str]:
    """The mapping keys some fix may remove (``FixSpec.removes``): never insertion anchors."""
    return frozenset(key for spec in all_fixes().values() for key in spec.removes)


def fix_for(rule_id: str) -> FixSpec | None:
    return all_fixes().get(rule_id)
