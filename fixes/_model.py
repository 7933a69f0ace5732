"""What a fix is: a safety class, a description for the reviewer, and the operations it makes."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rules import Finding
from rules._resource import get
from rules._yaml import Path


class Safety(str, enum.Enum):
    """How much a reviewer must think before accepting the fix (ordered)."""

    SAFE = "safe"  # only tightens a flag; the workload behaves the same unless it relied on the privilege
    VALUE = "value"  # needs a value chosen by configuration (limits, a UID, a profile, a registry)
    BEHAVIOUR = "changes-behaviour"  # changes what the workload can do (drops a volume, a port, a capability)

    @property
    def rank(self) -> int:
        return list(Safety).index(self)


@dataclass(frozen=True)
class Set:
    path: Path
    value: Any
    document: int | None = None  # another document of the same file (None: the finding's)


@dataclass(frozen=True)
class Remove:
    path: Path  # a mapping key or a list item


@dataclass(frozen=True)
class Append:
    path: Path  # a list
    value: Any


Op = Set | Remove | Append


@dataclass(frozen=True)
class FixSettings:
    """The ``fixes:`` section of ``.kubeguard.yaml``."""

    cpu: str = "100m"
    memory: str = "250Mi"
    run_as_user: int = 1000
    run_as_group: int | None = None  # default: the smallest value the configured ranges allow
    registry_mirror: Mapping[str, str] = field(default_factory=dict)
    port_map: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FixContext:
    """Everything a fix may read: the finding, its document's data, the rule's parameters."""

    finding: Finding
    data: Any  # the document as Python data
    documents: tuple[Any, ...]  # every document of the file, as data (None for empty ones)
    params: Mapping[str, Any]
    settings: FixSettings
    legacy: bool

    def get(self, path: Path) -> Any:
        return get(self.data, *path)


@dataclass(frozen=True)
class FixSpec:
    rule_id: str
    safety: Safety
    summary: str  # what the fix changes, shown to the reviewer
    build: Callable[[FixContext], list[Op]]
    # a fix whose ops are sometimes riskier than its declared class says so here
    classify: Callable[[list[Op]], Safety] | None = None
    # the mapping keys its Remove ops may delete whole (``Remove((..., key))``): no insertion of any fix is
    # placed relative to such a key, so it lands in the same place whether the removal comes before or after
    removes: frozenset[str] = frozenset()

    def safety_of(self, ops: list[Op]) -> Safety:
        return self.classify(ops) if self.classify else self.safety
