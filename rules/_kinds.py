"""The one table of Kubernetes kinds kubeguard understands: API groups and pod-spec paths."""

from __future__ import annotations

from rules._yaml import Path

# kind -> (API groups it may come from, path of the pod template inside the object or None for a Pod)
_WORKLOAD_TABLE: dict[str, tuple[frozenset[str], Path | None]] = {
    "Pod": (frozenset({""}), None),
    "Deployment": (frozenset({"apps", "extensions"}), ("spec", "template")),
    "StatefulSet": (frozenset({"apps"}), ("spec", "template")),
    "DaemonSet": (frozenset({"apps", "extensions"}), ("spec", "template")),
    "ReplicaSet": (frozenset({"apps", "extensions"}), ("spec", "template")),
    "ReplicationController": (frozenset({""}), ("spec", "template")),
    "Job": (frozenset({"batch"}), ("spec", "template")),
    "CronJob": (frozenset({"batch"}), ("spec", "jobTemplate", "spec", "template")),
}

WORKLOADS: frozenset[str] = frozenset(_WORKLOAD_TABLE)
SERVICES: frozenset[str] = frozenset({"Service"})
KNOWN_KINDS: frozenset[str] = WORKLOADS | SERVICES


def api_group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def is_known(kind: str, api_version: str) -> bool:
    """True for the core/apps/batch kinds we evaluate; a CRD that reuses a name (Knative Service) is not."""
    group = api_group(api_version)
    if kind == "Service":
        return group == ""
    entry = _WORKLOAD_TABLE.get(kind)
    return entry is not None and group in entry[0]


def template_path(kind: str) -> Path | None:
    """Where the pod template sits (``spec.template`` ...); None for a Pod itself."""
    return _WORKLOAD_TABLE[kind][1]
