"""Set the missing, unparseable or excessive CPU and memory limits (``fixes.cpu`` / ``fixes.memory``).

The value is the configured default (100m / 250Mi, as in the Defender healthy example), never
above the rule's maxima.
"""

from typing import Any

from fixes._model import FixContext, FixSpec, Op, Safety, Set
from fixes._paths import container_path
from rules._quantity import cpu_millis, memory_units


def _choose(default: str, maximum: Any, parse: Any, legacy: bool) -> Any:
    wanted, cap = parse(default, legacy), parse(maximum, legacy)
    if wanted is not None and cap is not None and wanted > cap:
        return maximum
    return default


def build(ctx: FixContext) -> list[Op]:
    limits = (*container_path(ctx.finding.path), "resources", "limits")
    fields = [ctx.finding.path[-1]] if ctx.finding.path[-1] in ("cpu", "memory") else ["cpu", "memory"]
    ops: list[Op] = []
    for field in fields:
        if field == "cpu":
            value = _choose(ctx.settings.cpu, ctx.params["cpuLimit"], cpu_millis, ctx.legacy)
        else:
            value = _choose(ctx.settings.memory, ctx.params["memoryLimit"], memory_units, ctx.legacy)
        ops.append(Set((*limits, field), value))
    return ops


FIX = FixSpec("container-resource-limits", Safety.VALUE,
              "sets resources.limits from fixes.cpu / fixes.memory (capped at the configured maxima)", build)
