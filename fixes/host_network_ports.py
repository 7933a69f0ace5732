"""Remove ``hostNetwork`` when it is not allowed (safe) and host ports outside the range (changes behaviour).

A port entry that declares only a ``hostPort`` (no ``containerPort``, which Kubernetes requires) is
removed whole rather than left as an empty ``- {}``; so is ``ports`` when every entry goes.
"""

from fixes._model import FixContext, FixSpec, Op, Remove, Safety
from rules._yaml import Path


def build(ctx: FixContext) -> list[Op]:
    ops: list[Op] = []
    bare: dict[Path, set[int]] = {}  # ports list -> entries that hold nothing once hostPort goes
    for path in (ctx.finding.path, *(p for p, _ in ctx.finding.related)):
        if path[-1] == "hostNetwork":
            ops.append(Remove(path))
        elif path[-1] == "hostPort":
            entry = ctx.get(path[:-1])
            if isinstance(entry, dict) and isinstance(path[-2], int) and "containerPort" not in entry:
                bare.setdefault(path[:-2], set()).add(path[-2])
            else:
                ops.append(Remove(path))
    for ports, entries in bare.items():
        current = ctx.get(ports)
        if isinstance(current, list) and len(entries) >= len(current):
            ops.append(Remove(ports))
        else:
            ops.extend(Remove((*ports, i)) for i in sorted(entries))
    return ops


def _classify(ops: list[Op]) -> Safety:
    return Safety.SAFE if all(op.path[-1] == "hostNetwork" for op in ops) else Safety.BEHAVIOUR


FIX = FixSpec("host-network-ports", Safety.SAFE,
              "removes hostNetwork (and hostPort entries outside the allowed range: the pod is then reached "
              "through a Service)", build, classify=_classify,
              removes=frozenset({"hostNetwork", "hostPort", "ports"}))
