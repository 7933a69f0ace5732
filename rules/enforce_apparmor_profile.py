"""An unconfined or custom AppArmor profile removes the kernel's mandatory access control around a container.

Azure ``K8sAzureV3EnforceAppArmor``: the pod annotation
``container.apparmor.security.beta.kubernetes.io/<container>`` must equal an allowed profile;
a missing annotation counts as ``runtime/default``. Legacy: a missing annotation violates.
"""

from __future__ import annotations

from typing import Any

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, NS_DEFENDER, is_string_list, match_params
from rules._rego import render
from rules._resource import PodView

ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    allowed = params["allowedProfiles"]
    annotations = pod.annotations
    for c in examined(pod, params, legacy):
        key = ANNOTATION + c.name
        profile = annotations.get(key)
        if profile is None and not legacy:
            profile = "runtime/default"
        if profile is None or profile not in allowed:
            out.append(Violation((*pod.meta_path, "annotations", key),
                                 f"AppArmor profile is not allowed, pod: {pod.pod_name}, container: {c.name}. "
                                 f"Allowed profiles: {render(allowed)}", c.name))
    return out


RULE = Rule(
    id="enforce-apparmor-profile",
    title="Overriding or disabling of containers AppArmor profile should be restricted",
    control=Control.REMEDIATE_SECURITY_CONFIGURATIONS,
    azure_policy="511f5417-5d12-434d-ab2e-816901e72a5e",
    severity=Severity.HIGH,
    params=(
        Param("allowedProfiles", "array", ["runtime/default"],
              'Allowed AppArmor profiles, e.g. `["runtime/default", "docker/default"]`; `[]` blocks everything.',
              legacy_default=[], configure=True, validate=is_string_list),
        EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, *match_params(NS_DEFENDER),
    ),
    kinds=WORKLOADS,
    remediation="Annotate the pod (template) with container.apparmor.security.beta.kubernetes.io/<container>: "
                "runtime/default, or another allowed profile.",
    check=check,
    rationale=__doc__ or "",
)
