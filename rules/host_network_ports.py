"""Host networking bypasses network policies and lets a pod sniff or bind the node's interfaces.

Azure ``K8sAzureV3HostNetworkingPorts``: per non-excluded container, a violation when the pod
sets ``hostNetwork`` and ``allowHostNetwork`` is false, or a declared ``hostPort`` lies outside
``minPort``..``maxPort``. Identical messages per container collapse into one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, NS_PLAIN, is_boolean, is_integer, match_params
from rules._rego import is_number, render, truthy
from rules._resource import PodView, as_list


def _shown_params(params: dict[str, Any]) -> dict[str, Any]:
    """The constraint's parameter object as Azure prints it (excludedContainers only when set)."""
    shown = {k: params[k] for k in ("allowHostNetwork", "minPort", "maxPort", "excludedImages") if k in params}
    if params.get("excludedContainers"):
        shown["excludedContainers"] = params["excludedContainers"]
    return shown


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> Iterator[Violation]:
    host_network = not params["allowHostNetwork"] and truthy(pod.spec.get("hostNetwork"))
    lo, hi = params["minPort"], params["maxPort"]
    shown = render(_shown_params(params) if not legacy else {
        k: params[k] for k in ("allowHostNetwork", "minPort", "maxPort")})
    for c in examined(pod, params, legacy):
        causes = [(*pod.spec_path, "hostNetwork")] if host_network else []
        for j, port in enumerate(as_list(c.get("ports"))):
            value = port.get("hostPort") if isinstance(port, dict) else None
            if is_number(value) and (value < lo or value > hi):
                causes.append((*c.path, "ports", j, "hostPort"))
        if causes:
            yield Violation(causes[0], f"The specified hostNetwork and hostPort are not allowed, pod: "
                                       f"{pod.pod_name}, container: {c.name}. Allowed values: {shown}",
                            c.name, related=tuple(causes[1:]))


RULE = Rule(
    id="host-network-ports",
    title="Usage of host networking and ports should be restricted",
    control=Control.RESTRICT_NETWORK_ACCESS,
    azure_policy="82985f06-dc18-4a48-bc1c-b9f4f0098cfe",
    severity=Severity.MEDIUM,
    params=(
        Param("allowHostNetwork", "boolean", False, "Whether pods may set hostNetwork: true.",
              configure=True, validate=is_boolean),
        Param("minPort", "integer", 0, "Lowest allowed hostPort.", configure=True, validate=is_integer),
        Param("maxPort", "integer", 0, "Highest allowed hostPort.", configure=True, validate=is_integer),
        EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, *match_params(NS_PLAIN),
    ),
    kinds=WORKLOADS,
    remediation="Remove hostNetwork and hostPort (reach the pod through a Service), or allow them in "
                "the configuration.",
    check=check,
    rationale=__doc__ or "",
)
