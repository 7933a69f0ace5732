"""Annotate the pod (template) with ``runtime/default`` or the first allowed AppArmor profile."""

from fixes._edit import Unfixable
from fixes._model import FixContext, FixSpec, Op, Safety, Set


def build(ctx: FixContext) -> list[Op]:
    allowed = [p for p in ctx.params["allowedProfiles"] if isinstance(p, str) and not p.endswith("*")]
    if not allowed:
        patterns = [p for p in ctx.params["allowedProfiles"] if isinstance(p, str)]
        if patterns:
            raise Unfixable(f"allowedProfiles names no concrete profile, only {', '.join(patterns)}: annotate the "
                            "container with a matching profile by hand")
        raise Unfixable("allowedProfiles is empty: no AppArmor profile is allowed, so no annotation can fix this")
    profile = "runtime/default" if "runtime/default" in allowed else allowed[0]
    return [Set(ctx.finding.path, profile)]


FIX = FixSpec("enforce-apparmor-profile", Safety.VALUE,
              "annotates the pod template with an allowed AppArmor profile (runtime/default first)", build)
