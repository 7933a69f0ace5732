"""Set ``privileged: false``."""

from fixes._model import FixContext, FixSpec, Op, Safety, Set


def build(ctx: FixContext) -> list[Op]:
    return [Set(ctx.finding.path, False)]


FIX = FixSpec("container-no-privilege", Safety.SAFE, "sets securityContext.privileged to false", build)
