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
        pod_level = len(path) >= 2 and path[-2] == "securityContext" and path[:-2] == spec_path(path)
        sc = path[:-1] if pod_level else (*container_path(path), "securityContext")
        ops: list[Op] = [Set((*sc, "runAsUser"), _user(ctx))]
        if ctx.params["runAsUserRule"] == "MustRunAsNonRoot":
            ops.append(Set((*sc, "runAsNonRoot"), True))
        # the pod's value applies to every container that sets no runAsUser of its own
        runs_as = [sc] if not pod_level else [(*c, "securityContext") for c in _containers(ctx, path[:-2])
                                              if ctx.get((*c, "securityContext", "runAsUser")) is None]
        return _dedupe([*ops, *(op for c_sc in runs_as for op in _no_escalation(ctx, c_sc))])
    if field in ("runAsGroup", "fsGroup"):
        return [Set(path, _pick(ctx.settings.run_as_group, field, ctx))]
    if field == "supplementalGroups":
        current = ctx.get(path)
        if current is None:
            return [Set(path, [_pick(ctx.settings.run_as_group, field, ctx)])]
        raise Unfixable("remove the disallowed IDs from supplementalGroups (the list is kept as written)")
    raise Unfixable(f"no automatic fix for {field}")


def _containers(ctx: FixContext, spec: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = []
    for list_name in ("containers", "initContainers", "ephemeralContainers"):
        items = ctx.get((*spec, list_name))
        found += [(*spec, list_name, i) for i, c in enumerate(items if isinstance(items, list) else [])
                  if isinstance(c, dict)]
    return found


def _no_escalation(ctx: FixContext, sc: tuple[str | int, ...]) -> list[Op]:
    """Azure's privilege-escalation rule fires once a container runs as a non-zero user without an explicit
    ``allowPrivilegeEscalation``: the fix sets it to false as that rule's fix does (with ``privileged: false``,
    which Kubernetes requires alongside it); a container adding SYS_ADMIN cannot have both, so it is left manual."""
    if ctx.legacy or ctx.get((*sc, "allowPrivilegeEscalation")) is not None:
        return []
    added = ctx.get((*sc, "capabilities", "add"))
    if isinstance(added, list) and any(str(cap).upper() in ("SYS_ADMIN", "CAP_SYS_ADMIN") for cap in added):
        raise Unfixable("the container adds SYS_ADMIN: run as a non-root user it needs allowPrivilegeEscalation: "
                        "false, which Kubernetes refuses alongside SYS_ADMIN; drop SYS_ADMIN first (the "
                        "container-allowed-capabilities fix does), then this fix applies")
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
