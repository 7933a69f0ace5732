"""Containers without CPU and memory limits can starve their neighbours or the node.

Azure ``K8sAzureV3ContainerLimits`` (legacy ``K8sAzureContainerLimits``): both limits are
mandatory on every container and initContainer, and neither may exceed the configured maxima.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, NS_DEFENDER, is_string, match_params
from rules._quantity import cpu_millis, memory_units
from rules._rego import derived, render, truthy
from rules._resource import REGULAR_LISTS, PodView

_PARSED: dict[tuple[str, str, bool], Decimal | None] = {}  # (field, text, legacy) -> parsed quantity
_PARSED_MAX = 4096


def _parse(field: str, value: Any, legacy: bool) -> Decimal | None:
    """``cpu_millis``/``memory_units`` of a limit; written quantities repeat, so short texts are remembered."""
    parse = cpu_millis if field == "cpu" else memory_units
    if not isinstance(value, str) or len(value) > 32:
        return parse(value, legacy)
    key = (field, value, legacy)
    if key in _PARSED:
        return _PARSED[key]
    parsed = parse(value, legacy)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[key] = parsed
    return parsed


def _maxima(legacy: bool) -> Any:
    def compute(params: dict[str, Any]) -> tuple[Decimal | None, Decimal | None]:
        return cpu_millis(params["cpuLimit"], legacy), memory_units(params["memoryLimit"], legacy)
    return compute


_MAXIMA = {False: ("resource-limits/False", _maxima(False)), True: ("resource-limits/True", _maxima(True))}


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    max_cpu, max_mem = derived(params, *_MAXIMA[legacy])
    for c in examined(pod, params, legacy, lists=REGULAR_LISTS, windows_skip=False):
        limits_path = (*c.path, "resources", "limits")
        resources = c.data.get("resources")
        limits = resources.get("limits") if isinstance(resources, dict) else None
        if not truthy(resources) or not truthy(limits):
            out.append(Violation(limits_path, f"container <{c.name}> has no resource limits", c.name))
            continue
        for field, maximum in (("cpu", max_cpu), ("memory", max_mem)):
            value = limits.get(field) if isinstance(limits, dict) else None
            path = (*limits_path, field)
            if not truthy(value) or value == "":
                out.append(Violation(path, f"container <{c.name}> has no {field} limit", c.name))
            if value is None:
                continue
            parsed = _parse(field, value, legacy)
            if parsed is None:
                out.append(Violation(path, f"container <{c.name}> {field} limit <{render(value)}> could not be parsed",
                                     c.name))
            elif maximum is not None and parsed > maximum:
                limit_param = params["cpuLimit" if field == "cpu" else "memoryLimit"]
                out.append(Violation(path, f"container <{c.name}> {field} limit <{render(value)}> is higher than "
                                           f"the maximum allowed of <{render(limit_param)}>", c.name))
    return out


RULE = Rule(
    id="container-resource-limits",
    title="Container CPU and memory limits should be enforced",
    control=Control.PROTECT_DDOS,
    azure_policy="e345eecc-fa47-480f-9e88-67dcc122b164",
    severity=Severity.MEDIUM,
    params=(
        Param("cpuLimit", "string", "32", "Maximum CPU limit per container, e.g. `200m`.",
              legacy_default="0", configure=True, validate=is_string),
        Param("memoryLimit", "string", "64Gi", "Maximum memory limit per container, e.g. `1Gi`.",
              legacy_default="0", configure=True, validate=is_string),
        EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, *match_params(NS_DEFENDER),
    ),
    kinds=WORKLOADS,
    remediation="Set resources.limits.cpu and resources.limits.memory on every container, "
                "at or below the configured maxima.",
    check=check,
    rationale=__doc__ or "",
)
