"""Run as a non-root user: ``runAsNonRoot: true`` and ``runAsUser`` (``fixes.runAsUser``, default 1000),
and group IDs the configured ranges allow (``fixes.runAsGroup``, default the smallest allowed).
"""

from typing import Any

from fixes._edit import Unfixable
from fixes._model import FixContext, FixSpec, Op, Safety, Set
from fixes._paths import container_path, spec_path


def _allowed(value: int, ranges: list[dict[str, Any]], legacy: bool) -> bool:
    return any(r["min"] <= value and ((r["max"] == -1 and not legacy) or value <= r["max"]) for r in ranges)


def _pick(preferred: int | None, field: str, ctx: FixContext) -> int:
    """The preferred ID when the ranges allow it, else the smallest non-zero ID they allow."""
    ranges = ctx.params[f"{field}Ranges"].get("ranges", [])
    candidates = [preferred] if preferred is not None else []
    candidates += sorted(max(1, r["min"]) for r in ranges)
    for candidate in candidates:
        if _allowed(candidate, ranges, ctx.legacy):
            return candidate
    raise Unfixable(f"{field}Ranges allows no non-root ID")


def _user(ctx: FixContext) -> int:
    if ctx.params["runAsUserRule"] == "MustRunAs":
        return _pick(ctx.settings.run_as_user, "runAsUser", ctx)
    return ctx.settings.run_as_user


def build(ctx: FixContext) -> list[Op]:
    path = ctx.finding.path
    field = path[-1]
    if field in ("runAsUser", "runAsNonRoot"):
        if len(path) >= 2 and path[-2] == "securityContext" \
                and path[:-2] == spec_path(path):
            raise Unfixable(f"the pod's securityContext.{field} applies to every container: set runAsUser to a "
                            "non-zero ID there (or in each container) by hand")
        sc = (*container_path(path), "securityContext")
        ops: list[Op] = [Set(path if field == "runAsUser" else (*sc, "runAsUser"), _user(ctx))]
        if ctx.params["runAsUserRule"] == "MustRunAsNonRoot":
            ops.append(Set((*sc, "runAsNonRoot"), True))
        return _dedupe([*ops, *_no_escalation(ctx, sc)])
    if field in ("runAsGroup", "fsGroup"):
        return [Set(path, _pick(ctx.settings.run_as_group, field, ctx))]
    if field == "supplementalGroups":
        current = ctx.get(path)
        if current is None:
            return [Set(path, [_pick(ctx.settings.run_as_group, field, ctx)])]
        raise Unfixable("remove the disallowed IDs from supplementalGroups (the list is kept as written)")
    raise Unfixable(f"no automatic fix for {field}")


def _no_escalation(ctx: FixContext, sc: tuple[str | int, ...]) -> list[Op]:
    """Azure's privilege-escalation rule fires once a container runs as a non-zero user without an explicit
    ``allowPrivilegeEscalation``: the fix sets it to false as that rule's fix does (with ``privileged: false``,
    which Kubernetes requires alongside it), except for a container adding SYS_ADMIN, left to a person."""
    if ctx.legacy or ctx.get((*sc, "allowPrivilegeEscalation")) is not None:
        return []
    added = ctx.get((*sc, "capabilities", "add"))
    if isinstance(added, list) and any(str(cap).upper() in ("SYS_ADMIN", "CAP_SYS_ADMIN") for cap in added):
        return []
    ops: list[Op] = [Set((*sc, "allowPrivilegeEscalation"), False)]
    if ctx.get((*sc, "privileged")) is True:
        ops.append(Set((*sc, "privileged"), False))
    return ops


def _dedupe(ops: list[Op]) -> list[Op]:
    seen: dict[Any, Op] = {}
    for op in ops:
        seen.setdefault(op.path, op)
    return list(seen.values())


FIX = FixSpec("allowed-users-groups", Safety.VALUE,
              "runs the container as a non-root user (runAsNonRoot: true, runAsUser from fixes.runAsUser) "
              "and sets group IDs inside the allowed ranges", build)
