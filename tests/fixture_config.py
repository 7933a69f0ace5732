"""Fixture configuration: a base ``.kubeguard.yaml`` overridden by a fixture's first-line comment.

A first line ``# kubeguard: {<flow mapping>}`` has the shape of ``.kubeguard.yaml``: ``rules``
entries are merged per rule into the base, every other key replaces the base's. Shared by the
rule fixtures (``tests/rules``) and the fix goldens (``tests/fixes``).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

import rules

_HEADER = re.compile(r"^#\s*kubeguard:\s*(\{.*\})\s*$")


def merged_config(text: str, base: dict[str, Any]) -> rules.Config:
    merged = {**base, "rules": {k: dict(v) for k, v in base.get("rules", {}).items()}}
    first = text.splitlines()[0] if text else ""
    header = _HEADER.match(first)
    if header:
        override = yaml.safe_load(header.group(1))
        for key, value in override.items():
            if key == "rules":
                for rule_id, params in value.items():
                    merged["rules"].setdefault(rule_id, {}).update(params or {})
            else:
                merged[key] = value
    return rules.load_config(yaml.safe_dump(merged), "fixture config")
