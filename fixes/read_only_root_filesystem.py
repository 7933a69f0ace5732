"""Set ``readOnlyRootFilesystem: true`` on the container."""

from fixes._model import FixContext, FixSpec, Op, Safety, Set
from fixes._paths import container_path


def build(ctx: FixContext) -> list[Op]:
    return [Set((*container_path(ctx.finding.path), "securityContext", "readOnlyRootFilesystem"), True)]


FIX = FixSpec("read-only-root-filesystem", Safety.SAFE,
              "sets securityContext.readOnlyRootFilesystem to true (mount an emptyDir where the app writes)", build)
