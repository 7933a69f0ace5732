"""Remove ``hostNetwork`` when it is not allowed (safe) and host ports outside the range (changes behaviour)."""

from fixes._model import FixContext, FixSpec, Op, Remove, Safety


def build(ctx: FixContext) -> list[Op]:
    ops: list[Op] = []
    for path in (ctx.finding.path, *(p for p, _ in ctx.finding.related)):
        if path[-1] in ("hostNetwork", "hostPort"):
            ops.append(Remove(path))
    return ops


def _classify(ops: list[Op]) -> Safety:
    return Safety.BEHAVIOUR if any(op.path[-1] == "hostPort" for op in ops) else Safety.SAFE


FIX = FixSpec("host-network-ports", Safety.SAFE,
              "removes hostNetwork (and hostPort entries outside the allowed range: the pod is then reached "
              "through a Service)", build, classify=_classify)
