"""Set ``allowPrivilegeEscalation: false``.

Kubernetes rejects ``allowPrivilegeEscalation: false`` together with ``privileged: true`` or an
added ``SYS_ADMIN``: a privileged container is set unprivileged in the same edit, and one that
adds SYS_ADMIN is left to a person.
"""

from fixes._edit import Unfixable
from fixes._model import FixContext, FixSpec, Op, Safety, Set
from fixes._paths import container_path


def build(ctx: FixContext) -> list[Op]:
    c = container_path(ctx.finding.path)
    added = ctx.get((*c, "securityContext", "capabilities", "add")) or []
    if any(str(cap).upper() in ("SYS_ADMIN", "CAP_SYS_ADMIN") for cap in added if isinstance(cap, str)):
        raise Unfixable("the container adds SYS_ADMIN, which always allows privilege escalation: drop it first")
    ops: list[Op] = [Set((*c, "securityContext", "allowPrivilegeEscalation"), False)]
    if ctx.get((*c, "securityContext", "privileged")) is True:
        ops.append(Set((*c, "securityContext", "privileged"), False))
    return ops


FIX = FixSpec("container-no-privilege-escalation", Safety.SAFE,
              "sets securityContext.allowPrivilegeEscalation to false", build)
