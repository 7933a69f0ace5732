"""Remove ``hostPID`` and ``hostIPC`` from the pod spec."""

from fixes._model import FixContext, FixSpec, Op, Remove, Safety


def build(ctx: FixContext) -> list[Op]:
    return [Remove(path) for path in (ctx.finding.path, *(p for p, _ in ctx.finding.related))]


FIX = FixSpec("block-host-namespace", Safety.SAFE, "removes hostPID / hostIPC from the pod spec", build,
              removes=frozenset({"hostPID", "hostIPC"}))
