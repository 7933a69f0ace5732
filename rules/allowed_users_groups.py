"""A container running as UID 0 is root on the node the moment it escapes.

Azure ``K8sAzureV3AllowedUsersGroups`` with Defender's ``runAsUserRule: MustRunAsNonRoot``
plus the group rules. Effective values come from the container's securityContext, else the
pod's. Legacy MustRunAsNonRoot demanded ``runAsUser`` itself and knew no ``max: -1``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, NS_DEFENDER, is_ranges, match_params
from rules._rego import derived, equals, is_number, render
from rules._resource import Container, PodView, as_dict
from rules._yaml import Path

FIELDS = ("runAsUser", "runAsGroup", "supplementalGroups", "fsGroup")
_USER_RULES = ("MustRunAs", "MustRunAsNonRoot", "RunAsAny")
_GROUP_RULES = ("MustRunAs", "MayRunAs", "RunAsAny")


def _one_of(choices: tuple[str, ...]):
    def validate(value: Any) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(choices)
    return validate


def _in_ranges(value: Any, ranges: list[dict[str, Any]], legacy: bool) -> bool:
    if not is_number(value):
        return False
    for r in ranges:
        lo, hi = r.get("min"), r.get("max")
        if not (is_number(lo) and is_number(hi)):
            continue
        if value >= lo and ((hi == -1 and not legacy) or value <= hi):
            return True
    return False


class _Constraint(NamedTuple):
    """One field's constraint parameter object as Azure builds it ({rule, ranges}), and its rendering."""

    field: str
    rule: str
    ranges: list[dict[str, Any]]
    shown: str


def _constraints(params: dict[str, Any]) -> tuple[_Constraint | None, tuple[_Constraint, ...]]:
    """The runAsUser constraint and the group ones, in FIELDS order; RunAsAny (never a violation) left out."""
    out = []
    for field in FIELDS:
        rule = {"rule": params[f"{field}Rule"], "ranges": params[f"{field}Ranges"].get("ranges", [])}
        out.append(None if rule["rule"] == "RunAsAny" else _Constraint(field, rule["rule"], rule["ranges"],
                                                                        render(rule)))
    return out[0], tuple(c for c in out[1:] if c is not None)


# The effective value of a field is the container's securityContext's when set there, else the pod's
# (``sc``, ``pod_sc``: the mappings, empty when absent). Below it is read inline, not by a helper:
# these run for every container of every workload.


def _user(c: Container, sc: dict[Any, Any], pod_sc: dict[Any, Any], spec_path: Path, constraint: _Constraint,
          legacy: bool) -> Violation | None:
    value = sc.get("runAsUser")
    if value is not None:
        where = (*c.path, "securityContext", "runAsUser")
    else:
        value = pod_sc.get("runAsUser")
        where = (*spec_path, "securityContext", "runAsUser")
    if value is not None:
        if constraint.rule == "MustRunAsNonRoot":
            ok = not equals(value, 0)
        else:
            ok = _in_ranges(value, constraint.ranges, legacy)
        if not ok:
            return Violation(where, f"Container {c.name} is attempting to run as disallowed user "
                                    f"{render(value)}. Allowed runAsUser: {constraint.shown}", c.name)
        return None
    if legacy:
        return Violation((*c.path, "securityContext", "runAsUser"),
                         f"Container {c.name} is attempting to run without a required "
                         f"securityContext/runAsUser. Allowed runAsUser: {constraint.shown}", c.name)
    if constraint.rule == "MustRunAs":
        return Violation((*c.path, "securityContext", "runAsUser"),
                         f"Container {c.name} is attempting to run without a required "
                         f"securityContext/runAsUser", c.name)
    non_root = sc.get("runAsNonRoot")
    if non_root is not None:
        where = (*c.path, "securityContext", "runAsNonRoot")
    else:
        non_root = pod_sc.get("runAsNonRoot")
        # where the value is written, or (absent) where the container's own would go
        where = (*(c.path if non_root is None else spec_path), "securityContext", "runAsNonRoot")
    if non_root is None or non_root is False:
        return Violation(where, f"Container {c.name} is attempting to run without a required securityContext/"
                                f"runAsNonRoot or securityContext/runAsUser != 0", c.name)
    return None


def _group(c: Container, sc: dict[Any, Any], pod_sc: dict[Any, Any], spec_path: Path, constraint: _Constraint,
           legacy: bool) -> Violation | None:
    field = constraint.field
    value = sc.get(field)
    at_pod = value is None
    if at_pod:
        value = pod_sc.get(field)
        if value is None:
            if constraint.rule == "MustRunAs":
                # containers have no fsGroup/supplementalGroups: those belong to the pod
                target = c.path if field == "runAsGroup" else spec_path
                return Violation((*target, "securityContext", field),
                                 f"Container {c.name} is attempting to run without a required securityContext/"
                                 f"{field}. Allowed {field}: {constraint.shown}", c.name)
            return None
    if field == "supplementalGroups":
        values = value if isinstance(value, list) else [value]
        if all(_in_ranges(v, constraint.ranges, legacy) for v in values):
            return None
        message = (f"Container {c.name} is attempting to run with disallowed supplementalGroups "
                   f"{render(value)}. Allowed supplementalGroups: {constraint.shown}")
    elif _in_ranges(value, constraint.ranges, legacy):
        return None
    else:
        message = (f"Container {c.name} is attempting to run as disallowed group {render(value)}. "
                   f"Allowed {field}: {constraint.shown}")
    return Violation((*(spec_path if at_pod else c.path), "securityContext", field), message, c.name)


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    containers = examined(pod, params, legacy)
    if not containers:
        return out
    user, groups = derived(params, "allowed-users-groups", _constraints)
    pod_sc = as_dict(pod.spec.get("securityContext"))
    spec_path = pod.spec_path
    for c in containers:
        sc = c.security
        if user is not None:
            found = _user(c, sc, pod_sc, spec_path, user, legacy)
            if found is not None:
                out.append(found)
        for constraint in groups:
            found = _group(c, sc, pod_sc, spec_path, constraint, legacy)
            if found is not None:
                out.append(found)
    return out


def _ranges(lo: int, hi: int) -> dict[str, Any]:
    return {"ranges": [{"min": lo, "max": hi}]}


RULE = Rule(
    id="allowed-users-groups",
    title="Running containers as root user should be avoided",
    control=Control.MANAGE_ACCESS,
    azure_policy="f06ddb64-5fa3-4b77-b166-acb36f7f6042",
    severity=Severity.HIGH,
    params=(
        Param("runAsUserRule", "string", "MustRunAsNonRoot",
              "MustRunAs, MustRunAsNonRoot or RunAsAny.", validate=_one_of(_USER_RULES)),
        Param("runAsUserRanges", "object", {"ranges": []}, "User ID ranges for MustRunAs.",
              validate=is_ranges),
        Param("runAsGroupRule", "string", "MustRunAs", "MustRunAs, MayRunAs or RunAsAny.",
              legacy_default="MayRunAs", validate=_one_of(_GROUP_RULES)),
        Param("runAsGroupRanges", "object", _ranges(1, -1), "Group ID ranges (max -1: unbounded).",
              legacy_default=_ranges(1, 65535), validate=is_ranges),
        Param("supplementalGroupsRule", "string", "MayRunAs", "MustRunAs, MayRunAs or RunAsAny.",
              validate=_one_of(_GROUP_RULES)),
        Param("supplementalGroupsRanges", "object", _ranges(1, -1), "Supplemental group ranges.",
              legacy_default=_ranges(1, 65535), validate=is_ranges),
        Param("fsGroupRule", "string", "MayRunAs", "MustRunAs, MayRunAs or RunAsAny.",
              validate=_one_of(_GROUP_RULES)),
        Param("fsGroupRanges", "object", _ranges(1, -1), "fsGroup ranges.",
              legacy_default=_ranges(1, 65535), validate=is_ranges),
        EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, *match_params(NS_DEFENDER),
    ),
    kinds=WORKLOADS,
    remediation="Set securityContext.runAsNonRoot: true and a non-zero runAsUser (and group IDs inside "
                "the allowed ranges).",
    check=check,
    rationale=__doc__ or "",
)
