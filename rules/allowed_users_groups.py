"""A container running as UID 0 is root on the node the moment it escapes.

Azure ``K8sAzureV3AllowedUsersGroups`` with Defender's ``runAsUserRule: MustRunAsNonRoot``
plus the group rules. Effective values come from the container's securityContext, else the
pod's. Legacy MustRunAsNonRoot demanded ``runAsUser`` itself and knew no ``max: -1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


def _effective(field: str, c: Container, pod_sc: dict[Any, Any],
               spec_path: Path) -> tuple[Any, tuple[str | int, ...] | None]:
    """The value that applies and where it is written (container wins when the key is present).

    ``pod_sc`` is the pod's securityContext mapping (empty when absent), at ``spec_path``.
    """
    value = c.security.get(field)
    if value is not None:
        return value, (*c.path, "securityContext", field)
    pod_value = pod_sc.get(field)
    if pod_value is not None:
        return pod_value, (*spec_path, "securityContext", field)
    return None, None


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


def _constraints(params: dict[str, Any]) -> tuple[tuple[dict[str, Any], str], ...]:
    """Per field (in FIELDS order), the constraint parameter object Azure builds ({rule, ranges}) and its rendering."""
    out = []
    for field in FIELDS:
        rule = {"rule": params[f"{field}Rule"], "ranges": params[f"{field}Ranges"].get("ranges", [])}
        out.append((rule, render(rule)))
    return tuple(out)


def _user(c: Container, pod_sc: dict[Any, Any], spec_path: Path, constraint: tuple[dict[str, Any], str],
          legacy: bool) -> Violation | None:
    rule, shown = constraint
    if rule["rule"] == "RunAsAny":
        return None
    value, where = _effective("runAsUser", c, pod_sc, spec_path)
    missing = (*c.path, "securityContext", "runAsUser")
    if value is not None:
        ok = (not equals(value, 0)) if rule["rule"] == "MustRunAsNonRoot" else _in_ranges(value, rule["ranges"],
                                                                                         legacy)
        if not ok:
            return Violation(where or missing, f"Container {c.name} is attempting to run as disallowed user "
                                               f"{render(value)}. Allowed runAsUser: {shown}", c.name)
        return None
    if legacy:
        return Violation(missing, f"Container {c.name} is attempting to run without a required "
                                  f"securityContext/runAsUser. Allowed runAsUser: {shown}", c.name)
    if rule["rule"] == "MustRunAs":
        return Violation(missing, f"Container {c.name} is attempting to run without a required "
                                  f"securityContext/runAsUser", c.name)
    non_root, nr_where = _effective("runAsNonRoot", c, pod_sc, spec_path)
    if non_root is None or non_root is False:
        return Violation(nr_where or (*c.path, "securityContext", "runAsNonRoot"),
                         f"Container {c.name} is attempting to run without a required securityContext/"
                         f"runAsNonRoot or securityContext/runAsUser != 0", c.name)
    return None


def _group(field: str, c: Container, pod_sc: dict[Any, Any], spec_path: Path,
           constraint: tuple[dict[str, Any], str], legacy: bool) -> Violation | None:
    rule, shown = constraint
    if rule["rule"] == "RunAsAny":
        return None
    value, where = _effective(field, c, pod_sc, spec_path)
    if value is None:
        if rule["rule"] == "MustRunAs":
            # containers have no fsGroup/supplementalGroups: those belong to the pod
            target = c.path if field == "runAsGroup" else spec_path
            return Violation((*target, "securityContext", field),
                             f"Container {c.name} is attempting to run without a required securityContext/"
                             f"{field}. Allowed {field}: {shown}", c.name)
        return None
    if field == "supplementalGroups":
        values = value if isinstance(value, list) else [value]
        if not all(_in_ranges(v, rule["ranges"], legacy) for v in values):
            return Violation(where, f"Container {c.name} is attempting to run with disallowed supplementalGroups "
                                    f"{render(value)}. Allowed supplementalGroups: {shown}", c.name)
    elif not _in_ranges(value, rule["ranges"], legacy):
        return Violation(where, f"Container {c.name} is attempting to run as disallowed group {render(value)}. "
                                f"Allowed {field}: {shown}", c.name)
    return None


_GROUPS = tuple(enumerate(FIELDS))[1:]


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> Iterator[Violation]:
    containers = examined(pod, params, legacy)
    if not containers:
        return
    constraints = derived(params, "allowed-users-groups", _constraints)
    user = constraints[0]
    # the group fields whose rule is not RunAsAny (those never yield), with their constraint
    groups = [(field, constraints[index]) for index, field in _GROUPS if constraints[index][0]["rule"] != "RunAsAny"]
    pod_sc = as_dict(pod.spec.get("securityContext"))
    spec_path = pod.spec_path
    for c in containers:
        found = _user(c, pod_sc, spec_path, user, legacy)
        if found is not None:
            yield found
        for field, constraint in groups:
            found = _group(field, c, pod_sc, spec_path, constraint, legacy)
            if found is not None:
                yield found


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
