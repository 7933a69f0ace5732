"""A privileged container has every capability of the host: a container escape is a node takeover.

Azure ``K8sAzureV2NoPrivilege``: ``securityContext.privileged`` of each container,
initContainer and ephemeralContainer (legacy: no ephemeral containers, no exclusions).
"""

from __future__ import annotations

from typing import Any

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, NS_DEFENDER, match_params
from rules._rego import render, truthy
from rules._resource import PodView


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    for c in examined(pod, params, legacy):
        if truthy(c.security.get("privileged")):
            out.append(Violation((*c.path, "securityContext", "privileged"),
                                 f"Privileged container is not allowed: {c.name}, "
                                 f"securityContext: {render(c.get('securityContext'))}", c.name))
    return out


RULE = Rule(
    id="container-no-privilege",
    title="Privileged containers should be avoided",
    control=Control.MANAGE_ACCESS,
    azure_policy="95edb821-ddaf-4404-9732-666045e056b4",
    severity=Severity.HIGH,
    params=(EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, *match_params(NS_DEFENDER)),
    kinds=WORKLOADS,
    remediation="Set securityContext.privileged to false (or remove it).",
    check=check,
    rationale=__doc__ or "",
)
