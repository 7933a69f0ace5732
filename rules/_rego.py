"""Small helpers that reproduce Rego/Gatekeeper behaviour the templates rely on."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rules._resource import Container


def truthy(value: Any) -> bool:
    """A bare Rego reference succeeds for any defined value except false (null: the API server drops it)."""
    return value is not None and value is not False


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def equals(a: Any, b: Any) -> bool:
    """Rego equality: true is not 1, "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if is_number(a) and is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def render(value: Any) -> str:
    """``sprintf("%v", x)``: strings bare, everything else as JSON with sorted keys."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, sort_keys=True, default=str)


def prefix_glob_match(value: str, patterns: Iterable[str]) -> bool:
    """Gatekeeper's matching for namespaces and excluded images: exact, or a prefix when the entry ends in ``*``."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if value.startswith(pattern[:-1]):
                return True
        elif value == pattern:
            return True
    return False


def image_excluded(image: Any, excluded_images: Iterable[str]) -> bool:
    """``lib.exclude_container_image``: exact match, or prefix match for an entry ending in ``*``."""
    return isinstance(image, str) and prefix_glob_match(image, excluded_images)


def container_excluded(container: Container, params: dict[str, Any]) -> bool:
    """Name-based ``excludedContainers`` and image-based ``excludedImages`` (absent params: no exclusion)."""
    if container.name in params.get("excludedContainers", ()):
        return True
    return image_excluded(container.image, params.get("excludedImages", ()))


_DERIVED: dict[tuple[int, str], tuple[Any, Any]] = {}


def derived(params: Any, name: str, compute: Any) -> Any:
    """``compute(params)``, remembered for this very parameter object (rules run once per object).

    Keyed by identity and checked by identity, so a new configuration never sees a stale value.
    """
    key = (id(params), name)
    hit = _DERIVED.get(key)
    if hit is not None and hit[0] is params:
        return hit[1]
    value = compute(params)
    if len(_DERIVED) > 4096:
        _DERIVED.clear()
    _DERIVED[key] = (params, value)
    return value
