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
    protocol = _protocol(ctx.get(item))
    others = ctx.get(item[:-1]) if isinstance(item[-1], int) else None
    for index, other in enumerate(others if isinstance(others, list) else []):
        if index != item[-1] and isinstance(other, dict) and other.get("port") == target \
                and _protocol(other) == protocol:
            raise Unfixable(f"port {target}/{protocol} is already exposed by another port of this Service (Kubernetes "
                            "refuses duplicates): merge the two ports or map this one elsewhere in fixes.portMap")
    ops: list[Op] = [Set(ctx.finding.path, target)]
    if ctx.get((*item, "targetPort")) is None:
        ops.append(Set((*item, "targetPort"), port))
    return ops


def _protocol(port: object) -> str:
    return str(port.get("protocol") or "TCP") if isinstance(port, dict) else "TCP"


FIX = FixSpec("service-allowed-ports", Safety.BEHAVIOUR,
              "changes the Service port as fixes.portMap says (clients must use the new port)", build)
