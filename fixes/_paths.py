"""Where things sit relative to a finding's path: its container, its pod spec, its pod metadata."""

from __future__ import annotations

from fixes._edit import Unfixable
from rules._yaml import Path

_LISTS = ("containers", "initContainers", "ephemeralContainers")


def container_path(path: Path) -> Path:
    for i in range(len(path) - 2, -1, -1):
        if path[i] in _LISTS and isinstance(path[i + 1], int):
            return path[: i + 2]
    raise Unfixable("the finding is not inside a container")


def spec_path(path: Path) -> Path:
    """The pod spec that holds ``path`` (``…spec`` before the container lists or pod-level fields)."""
    for i in range(len(path) - 1, -1, -1):
        if path[i] == "spec" and (i + 1 == len(path) or path[i + 1] in (*_LISTS, "securityContext", "volumes",
                                                                       "hostNetwork", "hostPID", "hostIPC")):
            return path[: i + 1]
    raise Unfixable("the finding is not inside a pod spec")


def metadata_path(spec: Path) -> Path:
    return (*spec[:-1], "metadata")
