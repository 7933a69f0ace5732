"""Every added Linux capability widens what a compromised container can do to the node.

Azure ``K8sAzureV3AllowedCapabilities``: added capabilities must be in ``allowedCapabilities``
(``*`` allows all), and ``requiredDropCapabilities`` must all be dropped (dropping ``ALL``
suffices); case-insensitive. Legacy: case-sensitive and ``ALL`` does not count.
"""

from __future__ import annotations

from typing import Any

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, NS_DEFENDER, is_string_list, match_params
from rules._rego import derived, render
from rules._resource import PodView, as_list


def _norm(values: Any, legacy: bool) -> list[str]:
    return [v if legacy else v.lower() for v in as_list(values) if isinstance(v, str)]


def _sets(legacy: bool) -> Any:
    def compute(p: dict[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
        return (frozenset(_norm(p["allowedCapabilities"], legacy)),
                frozenset(_norm(p["requiredDropCapabilities"], legacy)))
    return compute


_COMPUTE = {False: ("capabilities/False", _sets(False)), True: ("capabilities/True", _sets(True))}


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    allowed, must_drop = derived(params, *_COMPUTE[legacy])
    for c in examined(pod, params, legacy):
        caps = c.security.get("capabilities")
        if not caps or not isinstance(caps, dict):  # nothing added, nothing dropped
            if must_drop:
                suffix = "" if legacy else ' or "ALL"'
                out.append(Violation((*c.path, "securityContext", "capabilities", "drop"),
                                     f"container <{c.name}> is not dropping all required capabilities. Container must "
                                     f"drop all of {render(params['requiredDropCapabilities'])}{suffix}", c.name))
            continue
        caps_path = (*c.path, "securityContext", "capabilities")
        added = _norm(caps.get("add"), legacy)
        if added and "*" not in allowed:
            bad = [i for i, cap in enumerate(added) if cap not in allowed]
            if bad:
                out.append(Violation((*caps_path, "add", bad[0]),
                                     f"container <{c.name}> has a disallowed capability. Allowed capabilities are "
                                     f"{render(params['allowedCapabilities'])}", c.name,
                                     related=tuple((*caps_path, "add", i) for i in bad[1:])))
        dropped = set(_norm(caps.get("drop"), legacy))
        if must_drop - dropped and (legacy or "all" not in dropped):
            suffix = "" if legacy else ' or "ALL"'
            out.append(Violation((*caps_path, "drop"),
                                 f"container <{c.name}> is not dropping all required capabilities. Container must "
                                 f"drop all of {render(params['requiredDropCapabilities'])}{suffix}", c.name))
    return out


RULE = Rule(
    id="container-allowed-capabilities",
    title="Least privileged Linux capabilities should be enforced for containers",
    control=Control.MANAGE_ACCESS,
    azure_policy="c26596ff-4d70-4e6a-9a30-c2506bd2f80c",
    severity=Severity.MEDIUM,
    params=(
        Param("allowedCapabilities", "array", [], "Capabilities a container may add; `[]` blocks every add, "
              "`*` allows all.", configure=True, validate=is_string_list),
        Param("requiredDropCapabilities", "array", [], "Capabilities every container must drop.",
              configure=True, validate=is_string_list),
        EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, *match_params(NS_DEFENDER),
    ),
    kinds=WORKLOADS,
    remediation="Remove capabilities outside the allowed list from securityContext.capabilities.add and "
                "drop the required ones (or ALL).",
    check=check,
    rationale=__doc__ or "",
)
