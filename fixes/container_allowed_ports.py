"""Replace a disallowed container port with the one ``fixes.portMap`` names; otherwise manual.

Services of the same file that select this pod and target the old port number (a port without
``targetPort`` targets its own number) are pointed at the new one in the same edit, so the wiring
keeps working whichever of the container and Service fixes comes first.
"""

from typing import Any

from fixes._edit import Unfixable
from fixes._model import FixContext, FixSpec, Op, Safety, Set
from fixes._paths import spec_path


def _selects(selector: Any, labels: Any) -> bool:
    if not isinstance(selector, dict) or not selector or not isinstance(labels, dict):
        return False
    return all(labels.get(k) == v for k, v in selector.items())


def _protocol(port: Any) -> str:
    return str(port.get("protocol") or "TCP") if isinstance(port, dict) else "TCP"


def _running_ports(ctx: FixContext, spec: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The ports of the containers that run side by side (containers and restartPolicy: Always sidecars),
    which share the pod's network namespace."""
    found = []
    for list_name in ("containers", "initContainers"):
        items = ctx.get((*spec, list_name))
        for ci, container in enumerate(items if isinstance(items, list) else []):
            if not isinstance(container, dict) or (list_name == "initContainers"
                                                   and container.get("restartPolicy") != "Always"):
                continue
            ports = container.get("ports")
            for pi, port in enumerate(ports if isinstance(ports, list) else []):
                if isinstance(port, dict):
                    found.append(((*spec, list_name, ci, "ports", pi), port))
    return found


def build(ctx: FixContext) -> list[Op]:
    port = ctx.get(ctx.finding.path)
    target = ctx.settings.port_map.get(str(port))
    if target is None:
        raise Unfixable(f"no fixes.portMap entry for port {port}: change the containerPort to an allowed port "
                        "(and the application's listen port), or allow it in allowedContainerPortsList")
    spec = spec_path(ctx.finding.path)
    protocol = _protocol(ctx.get(ctx.finding.path[:-1]))
    for owner, other in _running_ports(ctx, spec):
        if owner != ctx.finding.path[:-1] and other.get("containerPort") == target and _protocol(other) == protocol:
            raise Unfixable(f"port {target}/{protocol} is already used by a container of this pod: change this "
                            "containerPort by hand, or map it elsewhere in fixes.portMap")
    ops: list[Op] = [Set(ctx.finding.path, target)]
    labels = ctx.get((*spec[:-1], "metadata", "labels"))
    for index, doc in enumerate(ctx.documents):
        if not isinstance(doc, dict) or doc.get("kind") != "Service" or doc.get("apiVersion") != "v1":
            continue
        spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
        if not _selects(spec.get("selector"), labels):
            continue
        for j, item in enumerate(spec.get("ports") or []):
            # without targetPort a Service port targets its own number: it gets an explicit one
            aimed = item.get("targetPort", item.get("port")) if isinstance(item, dict) else None
            if aimed == port:
                ops.append(Set(("spec", "ports", j, "targetPort"), target, document=index))
    return ops


FIX = FixSpec("container-allowed-ports", Safety.BEHAVIOUR,
              "changes the containerPort as fixes.portMap says (the application must listen there) and the "
              "targetPort of Services in the file that select the pod", build)
