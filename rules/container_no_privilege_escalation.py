"""Privilege escalation (setuid binaries, file capabilities) turns a foothold into root.

Azure ``K8sAzureV3NoPrivilegeEscalation`` is *not* "must be false": a violation is
``allowPrivilegeEscalation: true``, or the field not explicitly false while the effective
``runAsUser`` (container, else pod) is set and non-zero. The legacy template required an
explicit ``false``.
"""

from __future__ import annotations

from typing import Any

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, NS_PLAIN, match_params
from rules._rego import equals
from rules._resource import PodView, get


def _escalates(c_value: Any, c_user: Any, pod_user: Any, legacy: bool) -> bool:
    if legacy:
        return c_value is not False
    if c_value is True:
        return True
    if c_value is False:
        return False
    if c_user is not None:
        return not equals(c_user, 0)
    return pod_user is not None and not equals(pod_user, 0)


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    pod_user = get(pod.spec, "securityContext", "runAsUser")
    for c in examined(pod, params, legacy):
        sc = c.security
        if _escalates(sc.get("allowPrivilegeEscalation"), sc.get("runAsUser"), pod_user, legacy):
            out.append(Violation((*c.path, "securityContext", "allowPrivilegeEscalation"),
                                 f"Privilege escalation container is not allowed: {c.name}", c.name))
    return out


RULE = Rule(
    id="container-no-privilege-escalation",
    title="Container with privilege escalation should be avoided",
    control=Control.MANAGE_ACCESS,
    azure_policy="1c6e92c9-99f0-4e55-9cf2-0c234dc48f99",
    severity=Severity.MEDIUM,
    params=(EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, *match_params(NS_PLAIN)),
    kinds=WORKLOADS,
    remediation="Set securityContext.allowPrivilegeEscalation to false.",
    check=check,
    rationale=__doc__ or "",
)
