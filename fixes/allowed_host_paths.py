"""Remove a disallowed hostPath volume with its mounts, or mount an allowed read-only path read-only.

Changes behaviour: the container loses access to that part of the node's filesystem.
"""

from fixes._edit import Unfixable
from fixes._model import FixContext, FixSpec, Op, Remove, Safety, Set
from fixes._paths import spec_path

_LISTS = ("containers", "initContainers", "ephemeralContainers")


def build(ctx: FixContext) -> list[Op]:
    path = ctx.finding.path
    if path[-1] == "readOnly" or "volumeMounts" in path:
        places = [path, *(p for p, _ in ctx.finding.related)]
        return [Set(p if p[-1] == "readOnly" else (*p, "readOnly"), True) for p in places]
    spec = spec_path(path)
    volumes = ctx.get((*spec, "volumes"))
    index = path[len(spec) + 1]
    if not isinstance(volumes, list) or not isinstance(index, int):
        raise Unfixable("the volume is not in spec.volumes")
    name = volumes[index].get("name") if isinstance(volumes[index], dict) else None
    ops: list[Op] = [Remove((*spec, "volumes", index)) if len(volumes) > 1 else Remove((*spec, "volumes"))]
    for list_name in _LISTS:
        for ci, container in enumerate(ctx.get((*spec, list_name)) or []):
            mounts = container.get("volumeMounts") if isinstance(container, dict) else None
            if not isinstance(mounts, list):
                continue
            hits = [j for j, m in enumerate(mounts) if isinstance(m, dict) and m.get("name") == name]
            base = (*spec, list_name, ci, "volumeMounts")
            if hits and len(hits) == len(mounts):
                ops.append(Remove(base))
            ops.extend(Remove((*base, j)) for j in hits if len(hits) < len(mounts))
    return ops


def _classify(ops: list[Op]) -> Safety:
    return Safety.BEHAVIOUR if any(isinstance(op, Remove) for op in ops) else Safety.VALUE


FIX = FixSpec("allowed-host-paths", Safety.BEHAVIOUR,
              "removes the hostPath volume and its mounts (or mounts an allowed read-only path read-only)",
              build, classify=_classify, removes=frozenset({"volumes", "volumeMounts"}))
