"""Declared container ports outside the agreed list point at unreviewed listeners.

Azure ``K8sAzureContainerAllowedPorts`` (store v1, the only template this deprecated policy
ever used): every ``ports[].containerPort`` of containers and initContainers must equal one
string of ``allowedContainerPortsList``. No ranges, no exclusions, no Windows skip.
"""

from __future__ import annotations

from typing import Any

from rules._kinds import WORKLOADS
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import NS_PLAIN, is_string_list, match_params
from rules._rego import is_number
from rules._resource import REGULAR_LISTS, PodView, as_list


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    allowed = params["allowedContainerPortsList"]
    for c in pod.containers(REGULAR_LISTS):
        for j, port in enumerate(as_list(c.data.get("ports"))):
            value = port.get("containerPort") if isinstance(port, dict) else None
            if not is_number(value) or value != int(value):
                continue  # format_int of a non-number is undefined in Rego: no violation
            text = str(int(value))
            if text not in allowed:
                out.append(Violation((*c.path, "ports", j, "containerPort"),
                                     f"Container port {text} for container {c.name} has not been allowed.", c.name))
    return out


RULE = Rule(
    id="container-allowed-ports",
    title="Containers should listen on allowed ports only",
    control=Control.RESTRICT_NETWORK_ACCESS,
    azure_policy="440b515e-a580-421e-abeb-b159a61ddcbc",
    severity=Severity.MEDIUM,
    params=(
        Param("allowedContainerPortsList", "array", ["-1"],
              'Allowed container ports as strings, e.g. `["443", "80"]`; `["-1"]` (the preset) allows none.',
              configure=True, validate=is_string_list),
        *match_params(NS_PLAIN),
    ),
    kinds=WORKLOADS,
    remediation="Use a containerPort from the allowed list, or add the port to allowedContainerPortsList.",
    check=check,
    rationale=__doc__ or "",
)
