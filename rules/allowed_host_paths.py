"""A hostPath mount reaches into the node's filesystem: kubelet credentials, the container runtime socket.

Azure ``K8sAzureV3HostFilesystem``: hostPath volumes mounted by a non-excluded container or
initContainer must match an allowed ``pathPrefix`` (component-wise) and, where the matching
entry says ``readOnly: true``, be mounted read-only. Legacy: every hostPath volume counts,
mounted or not, and the read-only breach folds into "not allowed".
"""

from __future__ import annotations

import json
from typing import Any

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, NS_DEFENDER, is_host_paths, match_params
from rules._rego import render
from rules._resource import REGULAR_LISTS, PodView, as_list


def _path_array(path: str, legacy: bool) -> list[str]:
    if path == "/" and not legacy:
        return []
    return path.strip("/").split("/")


def path_matches(prefix: str, path: str, legacy: bool = False) -> bool:
    a, b = _path_array(prefix, legacy), _path_array(path, legacy)
    return len(a) <= len(b) and a == b[: len(a)]


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    allowed = params["allowedHostPaths"].get("paths", [])
    containers = examined(pod, params, legacy, lists=REGULAR_LISTS)
    volumes = as_list(pod.spec.get("volumes"))
    if not any(isinstance(volume, dict) and "hostPath" in volume for volume in volumes):
        # no hostPath volume, nothing to judge; a mount named by a list or mapping still fails as below
        for c in containers:
            container_mounts = c.data.get("volumeMounts")
            if container_mounts and isinstance(container_mounts, list):
                for m in container_mounts:
                    if isinstance(m, dict) and isinstance(m.get("name"), (dict, list)):
                        hash(m["name"])
        return out
    allowed_text = json.dumps(allowed, sort_keys=True)
    mounts: dict[str, list[tuple[Any, ...]]] = {}  # volume name -> [(mount path, readOnly)]
    for c in containers:
        for j, m in enumerate(as_list(c.get("volumeMounts"))):
            if isinstance(m, dict) and m.get("name") is not None:
                mounts.setdefault(m["name"], []).append(((*c.path, "volumeMounts", j), m.get("readOnly")))
    for i, volume in enumerate(volumes):
        if not isinstance(volume, dict) or "hostPath" not in volume:
            continue
        used = mounts.get(volume.get("name"), [])
        if not used and not legacy:
            continue
        vpath = (*pod.spec_path, "volumes", i)
        host_path = volume.get("hostPath") if isinstance(volume.get("hostPath"), dict) else {}
        path = host_path.get("path")
        path = path if isinstance(path, str) else render(path)
        matching = [e for e in allowed if path_matches(e.get("pathPrefix", ""), path, legacy)]
        writable = [mpath for mpath, ro in used if ro is not True]
        needs_ro = any(e.get("readOnly") is True for e in matching)
        prefix = f"HostPath volume {render(volume)}"
        if legacy:  # allowed when any matching entry allows it: not readOnly, or readOnly and no writable mount
            matching = [e for e in matching if e.get("readOnly") is not True or not writable]
        if not matching:
            out.append(Violation((*vpath, "hostPath", "path"),
                                 f"{prefix} is not allowed, pod: {pod.pod_name}. Allowed path: {allowed_text}"))
        elif not legacy and needs_ro and writable:
            out.append(Violation((*writable[0], "readOnly"),
                                 f"{prefix} does not meet the readonly requirement, pod: {pod.pod_name}. "
                                 f"Allowed path: {allowed_text}",
                                 related=tuple((*w, "readOnly") for w in writable[1:])))
    return out


RULE = Rule(
    id="allowed-host-paths",
    title="Usage of pod HostPath volume mounts should be restricted to a known list",
    control=Control.MANAGE_ACCESS,
    azure_policy="098fc59e-46c7-4d99-9b16-64990e543d75",
    severity=Severity.MEDIUM,
    params=(
        Param("allowedHostPaths", "object", {"paths": []},
              "Allowed host path prefixes, `{paths: [{pathPrefix, readOnly}]}`; an empty list blocks all.",
              configure=True, validate=is_host_paths),
        EXCLUDED_CONTAINERS, EXCLUDED_IMAGES, *match_params(NS_DEFENDER),
    ),
    kinds=WORKLOADS,
    remediation="Replace the hostPath volume (emptyDir, a ConfigMap or a PersistentVolumeClaim) or add its "
                "prefix to allowedHostPaths.",
    check=check,
    rationale=__doc__ or "",
)
