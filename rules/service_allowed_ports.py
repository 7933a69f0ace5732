"""A Service port outside the agreed list exposes a listener nobody reviewed.

Azure ``K8sAzureV1ServiceAllowedPorts``: every ``spec.ports[].port`` must equal an entry of
``allowedServicePortsList`` or fall inside an entry ``lo-hi`` (unanchored ``[0-9]+-[0-9]+``).
The ``default/kubernetes`` Service is exempt. Legacy: exact strings only, and no exemption.
"""

from __future__ import annotations

import re
from typing import Any

from rules._kinds import SERVICES
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import NS_PLAIN, is_string_list, match_params
from rules._rego import is_number
from rules._resource import ServiceView, as_list

_RANGE = re.compile(r"[0-9]+-[0-9]+")
# What Rego's to_number (Go strconv.ParseFloat) accepts here: no surrounding blanks, ASCII digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def port_allowed(port: int, entry: str, legacy: bool = False) -> bool:
    if not legacy and _RANGE.search(entry):
        lo, hi = entry.split("-")[:2]
        if not (_NUMBER.fullmatch(lo) and _NUMBER.fullmatch(hi)):
            return False  # to_number fails: the range clause is undefined, and no exact comparison
        return float(lo) <= port <= float(hi)
    return str(port) == entry


def check(svc: ServiceView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    if not legacy and svc.namespace == "default" and svc.name == "kubernetes":
        return out  # the legacy template had no such exemption
    allowed = params["allowedServicePortsList"]
    for j, port in enumerate(as_list(svc.spec.get("ports"))):
        value = port.get("port") if isinstance(port, dict) else None
        if not is_number(value) or value != int(value):
            continue
        if not any(port_allowed(int(value), entry, legacy) for entry in allowed):
            out.append(Violation((*svc.base, "spec", "ports", j, "port"),
                                 f"Port {int(value)} for service {svc.name} has not been allowed."))
    return out


RULE = Rule(
    id="service-allowed-ports",
    title="Services should listen on allowed ports only",
    control=Control.RESTRICT_NETWORK_ACCESS,
    azure_policy="233a2a17-77ca-4fb1-9b6b-69223d272a44",
    severity=Severity.MEDIUM,
    params=(
        Param("allowedServicePortsList", "array", ["-1"],
              'Allowed Service ports as strings or ranges, e.g. `["443", "8000-8080"]`; `["-1"]` (the preset) '
              "allows none.", configure=True, validate=is_string_list),
        *match_params(NS_PLAIN),
    ),
    kinds=SERVICES,
    remediation="Expose the Service on an allowed port (keep targetPort pointing at the container), or add "
                "the port to allowedServicePortsList.",
    check=check,
    rationale=__doc__ or "",
)
