"""The data model: rules, parameters, findings, problems. Frozen dataclasses, no I/O."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from rules._yaml import Path, format_path


class Severity(str, enum.Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Control(str, enum.Enum):
    """Azure secure-score security controls, with their maximum points."""

    REMEDIATE_VULNERABILITIES = "Remediate vulnerabilities"
    MANAGE_ACCESS = "Manage access and permissions"
    REMEDIATE_SECURITY_CONFIGURATIONS = "Remediate security configurations"
    RESTRICT_NETWORK_ACCESS = "Restrict unauthorized network access"
    PROTECT_DDOS = "Protect applications against DDoS attack"

    @property
    def max_score(self) -> int:
        return _CONTROL_MAX[self]


_CONTROL_MAX = {
    Control.REMEDIATE_VULNERABILITIES: 6,
    Control.MANAGE_ACCESS: 4,
    Control.REMEDIATE_SECURITY_CONFIGURATIONS: 4,
    Control.RESTRICT_NETWORK_ACCESS: 4,
    Control.PROTECT_DDOS: 2,
}


class Effect(str, enum.Enum):
    AUDIT = "Audit"
    DENY = "Deny"
    DISABLED = "Disabled"

    @classmethod
    def parse(cls, text: str) -> Effect:
        for member in cls:
            if member.value.lower() == text.lower():
                return member
        raise ValueError(f"effect must be Audit, Deny or Disabled, not {text!r}")


class Profile(str, enum.Enum):
    """Which generation of Azure's Gatekeeper templates to reproduce."""

    CURRENT = "azure-current"
    LEGACY = "azure-2021"


Validator = Callable[[Any], str | None]  # returns an error text, or None when the value is valid


@dataclass(frozen=True)
class Param:
    """A rule parameter under Azure Policy's own name.

    ``default`` is the Defender initiative's value for the current profile and
    ``legacy_default`` (if different) the 2021 initiative's. ``configure`` marks the
    parameters Defender documents as "configuration required": unset, the preset applies
    and the report says to set them.
    """

    name: str
    kind: str  # "string" | "boolean" | "integer" | "array" | "object"
    default: Any
    doc: str
    legacy_default: Any = None
    configure: bool = False
    validate: Validator | None = None

    def default_for(self, profile: Profile) -> Any:
        if profile is Profile.LEGACY and self.legacy_default is not None:
            return self.legacy_default
        return self.default


class Violation(NamedTuple):
    """What a check yields: the offending path inside the document, and Azure's message.

    ``related`` lists further paths that cause the same message (Rego collapses identical
    messages into one violation; the fix and the reviewer still need every place).
    A named tuple, not a frozen dataclass: as immutable, and built in under half the time
    (one per finding, read once by the engine).
    """

    path: Path
    message: str
    container: str | None = None
    related: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    control: Control
    azure_policy: str
    severity: Severity
    params: tuple[Param, ...]
    kinds: frozenset[str]
    remediation: str
    check: Callable[..., Iterable[Violation]] = field(compare=False, repr=False)
    rationale: str = ""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


@dataclass(frozen=True)
class Resource:
    kind: str
    namespace: str | None
    name: str

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"


@dataclass(frozen=True)
class Suppression:
    source: str  # "annotation" | "comment"
    reason: str


@dataclass(frozen=True, slots=True)  # tens of thousands per scan: slots keep them small
class Finding:
    rule: Rule
    effect: Effect
    file: str
    line: int  # 1-based
    column: int  # 1-based
    path: Path  # YAML path of the offending node (may not exist: a missing field)
    resource: Resource
    document: int  # 0-based document index in the file
    container: str | None
    message: str
    related: tuple[tuple[Path, int], ...] = ()  # (path, line) of further causes
    suppression: Suppression | None = None

    @property
    def path_text(self) -> str:
        return format_path(self.path)

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None


@dataclass(frozen=True)
class Problem:
    """Something that kept kubeguard from reading part of the input."""

    file: str
    line: int
    column: int
    cause: str
    kind: str = "parse"  # "parse" | "skipped" | "suppression" | "internal"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.cause}"


@dataclass(frozen=True, slots=True)  # tens of thousands per scan: slots keep them small
class ResourceVerdict:
    """One resource as a rule saw it: in scope (evaluated) and whether it is healthy."""

    file: str
    document: int
    resource: Resource
    rule_id: str
    healthy: bool


class _FindingSlots:
    """Finding's very layout without the frozen ``__setattr__``: see ``new_finding``."""

    __slots__ = Finding.__slots__


class _VerdictSlots:
    __slots__ = ResourceVerdict.__slots__


_FINDING_FIELDS = ("rule", "effect", "file", "line", "column", "path", "resource", "document", "container",
                   "message", "related", "suppression")
_VERDICT_FIELDS = ("file", "document", "resource", "rule_id", "healthy")
if (tuple(f.name for f in fields(Finding)) != _FINDING_FIELDS or Finding.__slots__ != _FINDING_FIELDS
        or tuple(f.name for f in fields(ResourceVerdict)) != _VERDICT_FIELDS
        or ResourceVerdict.__slots__ != _VERDICT_FIELDS):  # pragma: no cover - guards the builders below
    raise RuntimeError("Finding or ResourceVerdict changed: rules._model.new_finding/new_verdict must follow")

_new = object.__new__


def new_finding(rule: Rule, effect: Effect, file: str, line: int, column: int, path: Path, resource: Resource,
                document: int, container: str | None, message: str, related: tuple[tuple[Path, int], ...],
                suppression: Suppression | None) -> Finding:
    """``Finding(...)`` for the engine, ~4x faster (a scan builds tens of thousands).

    A frozen dataclass's ``__init__`` sets every field through ``object.__setattr__``; here the
    slots are filled on an object of the same layout, which then becomes a Finding (``__class__``
    assignment between classes with identical ``__slots__``). The result is an ordinary Finding.
    """
    f = _new(_FindingSlots)
    f.rule = rule
    f.effect = effect
    f.file = file
    f.line = line
    f.column = column
    f.path = path
    f.resource = resource
    f.document = document
    f.container = container
    f.message = message
    f.related = related
    f.suppression = suppression
    f.__class__ = Finding  # type: ignore[assignment]
    return f  # type: ignore[return-value]


def new_verdict(file: str, document: int, resource: Resource, rule_id: str, healthy: bool) -> ResourceVerdict:
    """``ResourceVerdict(...)``, built the way ``new_finding`` builds a Finding."""
    v = _new(_VerdictSlots)
    v.file = file
    v.document = document
    v.resource = resource
    v.rule_id = rule_id
    v.healthy = healthy
    v.__class__ = ResourceVerdict  # type: ignore[assignment]
    return v  # type: ignore[return-value]


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    verdicts: list[ResourceVerdict] = field(default_factory=list)
    files: int = 0
    documents: int = 0
    unconfigured: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def extend(self, other: Report) -> None:
        self.findings.extend(other.findings)
        self.problems.extend(other.problems)
        self.verdicts.extend(other.verdicts)
        self.files += other.files
        self.documents += other.documents
