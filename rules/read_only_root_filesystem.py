"""A writable root filesystem lets an attacker drop binaries and tamper with the image's files.

Azure ``K8sAzureV3ReadOnlyRootFilesystem``: every container, initContainer and
ephemeralContainer needs ``securityContext.readOnlyRootFilesystem: true`` exactly.
"""

from __future__ import annotations

from typing import Any

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, NS_DEFENDER, match_params
from rules._resource import PodView


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    for c in examined(pod, params, legacy):
        if c.security.get("readOnlyRootFilesystem") is not True:
            if legacy:
                message = f"only read-only root filesystem container is allowed: {c.name}"
            else:
                message = (f"Readonly root filesystem is required for container. "
                           f"pod:'{pod.pod_name}', container:'{c.name}'")
            out.append(Violation((*c.path, "securityContext", "readOnlyRootFilesystem"), message, c.name))
    return out


RULE = Rule(
    id="read-only-root-filesystem",
    title="Immutable (read-only) root filesystem should be enforced for containers",
    control=Control.MANAGE_ACCESS,
    azure_policy="df49d893-a74c-421d-bc95-c663042e5b80",
    severity=Severity.MEDIUM,
    params=(EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, *match_params(NS_DEFENDER)),
    kinds=WORKLOADS,
    remediation="Set securityContext.readOnlyRootFilesystem to true; mount an emptyDir where the "
                "application must write.",
    check=check,
    rationale=__doc__ or "",
)
