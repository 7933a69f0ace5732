"""Host networking bypasses network policies and lets a pod sniff or bind the node's interfaces.

Azure ``K8sAzureV3HostNetworkingPorts``: per non-excluded container, a violation when the pod
sets ``hostNetwork`` and ``allowHostNetwork`` is false, or a declared ``hostPort`` lies outside
``minPort``..``maxPort`` (with ``hostNetwork`` an unset hostPort is the containerPort, as
Kubernetes defaults it). Identical messages per container collapse into one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, NS_PLAIN, is_boolean, is_integer, match_params
from rules._rego import derived, is_number, render, truthy
from rules._resource import REGULAR_LISTS, Container, PodView
from rules._yaml import Path


def _shown_params(params: dict[str, Any]) -> dict[str, Any]:
    """The constraint's parameter object as Azure prints it (excludedContainers only when set)."""
    shown = {k: params[k] for k in ("allowHostNetwork", "minPort", "maxPort", "excludedImages") if k in params}
    if params.get("excludedContainers"):
        shown["excludedContainers"] = params["excludedContainers"]
    return shown


def _host_ports(pod: PodView, c: Container) -> Iterator[tuple[Any, Path]]:
    """Each declared hostPort with its place, as the API server stores the Pod.

    With ``hostNetwork: true`` Kubernetes defaults an unset or 0 ``hostPort`` of containers and
    initContainers to the ``containerPort`` (``SetDefaults_Pod``); that is what Azure judges.
    """
    ports = c.data.get("ports")
    if not ports or not isinstance(ports, list):
        return
    defaulted = pod.spec.get("hostNetwork") is True and c.list_name in REGULAR_LISTS
    for j, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        value, container_port = port.get("hostPort"), port.get("containerPort")
        if defaulted and (value is None or (is_number(value) and value == 0)) and is_number(container_port):
            yield container_port, (*c.path, "ports", j, "containerPort")
        elif is_number(value):
            yield value, (*c.path, "ports", j, "hostPort")


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    host_network = not params["allowHostNetwork"] and truthy(pod.spec.get("hostNetwork"))
    lo, hi = params["minPort"], params["maxPort"]
    shown = None
    for c in examined(pod, params, legacy):
        causes = [(*pod.spec_path, "hostNetwork")] if host_network else []
        if c.data.get("ports"):  # (most containers declare none: no generator for them)
            for value, place in _host_ports(pod, c):
                if value < lo or value > hi:
                    causes.append(place)
        if causes:
            if shown is None:
                shown = derived(params, f"host-network-ports/{legacy}", lambda p: render(
                    _shown_params(p) if not legacy else {k: p[k] for k in ("allowHostNetwork", "minPort", "maxPort")}))
            out.append(Violation(causes[0], f"The specified hostNetwork and hostPort are not allowed, pod: "
                                            f"{pod.pod_name}, container: {c.name}. Allowed values: {shown}",
                                 c.name, related=tuple(causes[1:])))
    return out


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
