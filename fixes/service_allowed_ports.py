"""Replace a disallowed Service port with the one ``fixes.portMap`` names; otherwise manual.

A port without ``targetPort`` targets the same number; the old number is written as
``targetPort`` so the Service keeps reaching the same container port.
"""

from fixes._edit import Unfixable
from fixes._model import FixContext, FixSpec, Op, Safety, Set


def build(ctx: FixContext) -> list[Op]:
    port = ctx.get(ctx.finding.path)
    target = ctx.settings.port_map.get(str(port))
    if target is None:
        raise Unfixable(f"no fixes.portMap entry for port {port}: expose the Service on an allowed port, or "
                        "allow it in allowedServicePortsList")
    item = ctx.finding.path[:-1]
    ops: list[Op] = [Set(ctx.finding.path, target)]
    if ctx.get((*item, "targetPort")) is None:
        ops.append(Set((*item, "targetPort"), port))
    return ops


FIX = FixSpec("service-allowed-ports", Safety.BEHAVIOUR,
              "changes the Service port as fixes.portMap says (clients must use the new port)", build)
