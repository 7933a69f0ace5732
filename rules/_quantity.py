"""Kubernetes resource quantities exactly as Azure's container-limits Rego parses them.

Current template (``K8sAzureV3ContainerLimits``): CPU in millicores, memory in millibytes.
Legacy template (``K8sAzureContainerLimits``): integer CPU or ``…m``; memory in bytes with
capital ``K`` and no decimals. ``None`` means "could not be parsed" (a violation).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from rules._rego import is_number

_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_INTEGER = re.compile(r"^[0-9]+$")
# what OPA's to_number accepts (Go strconv.ParseFloat), minus inf/nan/hex which never appear as quantities
_TO_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")

_MEM_CURRENT = {
    "E": 10**21, "P": 10**18, "T": 10**15, "G": 10**12, "M": 10**9, "k": 10**6, "m": 1,
    "Ki": 1024 * 10**3, "Mi": 1024**2 * 10**3, "Gi": 1024**3 * 10**3,
    "Ti": 1024**4 * 10**3, "Pi": 1024**5 * 10**3, "Ei": 1024**6 * 10**3,
}
_MEM_LEGACY = {
    "E": 10**18, "P": 10**15, "T": 10**12, "G": 10**9, "M": 10**6, "K": 10**3,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6,
}


def _to_number(text: str) -> Decimal | None:
    if not _TO_NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _number(value: Any) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def cpu_millis(value: Any, legacy: bool = False) -> Decimal | None:
    if is_number(value):
        return _number(value) * 1000
    if not isinstance(value, str):
        return None
    if value.endswith("m"):
        return _to_number(value.replace("m", ""))
    pattern = _INTEGER if legacy else _DECIMAL
    if pattern.match(value):
        return Decimal(value) * 1000
    return None


def memory_units(value: Any, legacy: bool = False) -> Decimal | None:
    """Millibytes (current) or bytes (legacy)."""
    table = _MEM_LEGACY if legacy else _MEM_CURRENT
    if is_number(value):
        return _number(value) * (1 if legacy else 1000)
    if not isinstance(value, str):
        return None
    suffix = ""
    if value[-1:] in table:
        suffix = value[-1:]
    elif value[-2:] in table:
        suffix = value[-2:]
    raw = value.replace(suffix, "") if suffix else value
    pattern = _INTEGER if legacy else _DECIMAL
    if not pattern.match(raw):
        return None
    return Decimal(raw) * (table[suffix] if suffix else (1 if legacy else 1000))
