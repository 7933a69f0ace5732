"""Set the missing, unparseable or excessive CPU and memory limits (``fixes.cpu`` / ``fixes.memory``).

The value is the configured default (100m / 250Mi, as in the Defender healthy example), never
above the rule's maxima; a maximum of 0 (the unconfigured 2021 preset) leaves nothing to set.
"""

from typing import Any

from fixes._edit import Unfixable
from fixes._model import FixContext, FixSpec, Op, Safety, Set
from fixes._paths import container_path
from rules._quantity import cpu_millis, memory_units


def _choose(default: str, maximum: Any, parse: Any, legacy: bool, param: str) -> Any:
    wanted, cap = parse(default, legacy), parse(maximum, legacy)
    if cap is not None and cap <= 0:
        raise Unfixable(f"{param} is {maximum}, so no positive limit is allowed (0 is the 2021 initiative's preset, "
                        f"which Defender marks \"configuration required\"): configure {param}, then this fix applies")
    if wanted is not None and cap is not None and wanted > cap:
        return maximum
    return default


def build(ctx: FixContext) -> list[Op]:
    limits = (*container_path(ctx.finding.path), "resources", "limits")
    fields = [ctx.finding.path[-1]] if ctx.finding.path[-1] in ("cpu", "memory") else ["cpu", "memory"]
    ops: list[Op] = []
    for field in fields:
        if field == "cpu":
            value = _choose(ctx.settings.cpu, ctx.params["cpuLimit"], cpu_millis, ctx.legacy, "cpuLimit")
        else:
            value = _choose(ctx.settings.memory, ctx.params["memoryLimit"], memory_units, ctx.legacy, "memoryLimit")
        ops.append(Set((*limits, field), value))
    return ops


FIX = FixSpec("container-resource-limits", Safety.VALUE,
              "sets resources.limits from fixes.cpu / fixes.memory (capped at the configured maxima)", build)
