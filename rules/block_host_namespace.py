"""Sharing the host's PID or IPC namespace exposes every process and shared memory segment of the node.

Azure ``K8sAzureV2BlockHostNamespace``: ``spec.hostPID`` or ``spec.hostIPC``; one violation
per pod (the message names only the pod), unless every container is image-excluded.
"""

from __future__ import annotations

from typing import Any

from rules._kinds import WORKLOADS
from rules._model import Control, Rule, Severity, Violation
from rules._params import EXCLUDED_IMAGES, NS_PLAIN, match_params
from rules._rego import image_excluded, truthy
from rules._resource import PodView


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    spec = pod.spec
    if not (truthy(spec.get("hostPID")) or truthy(spec.get("hostIPC"))):
        return out  # nothing shared (checked first: it is the cheap test, and none of the others can fail)
    if not legacy:
        if pod.windows:
            return out
        excluded = params.get("excludedImages", ())
        if not any(not image_excluded(c.image, excluded) for c in pod.containers()):
            return out
    paths = [(*pod.spec_path, field) for field in ("hostPID", "hostIPC") if truthy(spec.get(field))]
    if paths:
        out.append(Violation(paths[0], f"Sharing the host namespace is not allowed: {pod.pod_name}",
                             related=tuple(paths[1:])))
    return out


RULE = Rule(
    id="block-host-namespace",
    title="Containers sharing sensitive host namespaces should be avoided",
    control=Control.MANAGE_ACCESS,
    azure_policy="47a1ee2f-2a2a-4576-bf2a-e0e36709c2b8",
    severity=Severity.MEDIUM,
    params=(EXCLUDED_IMAGES, *match_params(NS_PLAIN)),
    kinds=WORKLOADS,
    remediation="Remove spec.hostPID and spec.hostIPC (or set them to false).",
    check=check,
    rationale=__doc__ or "",
)
