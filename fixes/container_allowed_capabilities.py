"""Drop added capabilities outside the allowlist and add the required drops.

Changes behaviour: a workload that needs a capability stops working without it.
"""

from fixes._edit import Unfixable
from fixes._model import Append, FixContext, FixSpec, Op, Remove, Safety, Set
from fixes._paths import container_path


def build(ctx: FixContext) -> list[Op]:
    caps = (*container_path(ctx.finding.path), "securityContext", "capabilities")
    if ctx.finding.path[-1] == "drop":
        required = [c for c in ctx.params["requiredDropCapabilities"] if isinstance(c, str)]
        current = ctx.get((*caps, "drop"))
        have = {str(c).lower() for c in current} if isinstance(current, list) else set()
        missing = [c for c in required if c.lower() not in have]
        if not isinstance(current, list):
            return [Set((*caps, "drop"), missing)]
        return [Append((*caps, "drop"), c) for c in missing]
    added = ctx.get((*caps, "add"))
    if not isinstance(added, list):
        raise Unfixable("capabilities.add is not a list")
    bad = sorted({p[-1] for p in (ctx.finding.path, *(r for r, _ in ctx.finding.related)) if isinstance(p[-1], int)})
    if len(bad) < len(added):
        return [Remove((*caps, "add", i)) for i in bad]
    capabilities = ctx.get(caps)
    if isinstance(capabilities, dict) and len(capabilities) == 1 and not ctx.params["requiredDropCapabilities"]:
        return [Remove(caps)]
    # with required drops configured the drop fix writes into this mapping: it stays (`capabilities: {}` when
    # emptied), so both fixes give the same text in either order
    return [Remove((*caps, "add"))]


FIX = FixSpec("container-allowed-capabilities", Safety.BEHAVIOUR,
              "removes capabilities outside allowedCapabilities from capabilities.add and drops the required ones",
              build, removes=frozenset({"capabilities", "add"}))
