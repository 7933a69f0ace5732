"""Container selection shared by the pod rules: which lists, the Windows skip, the exclusions."""

from __future__ import annotations

from typing import Any

from rules._rego import container_excluded
from rules._resource import ALL_LISTS, REGULAR_LISTS, Container, PodView


def examined(pod: PodView, params: dict[str, Any], legacy: bool, *,
             lists: tuple[str, ...] = ALL_LISTS, windows_skip: bool = True,
             exclusions: bool = True) -> tuple[Container, ...]:
    """The containers a template examines, in order.

    Legacy (2021) templates looked at containers and initContainers only, had no
    exclusion parameters and no Windows skip.
    """
    if legacy:
        lists = tuple(name for name in lists if name in REGULAR_LISTS)
        windows_skip = exclusions = False
    if windows_skip and pod.windows:
        return ()
    if not exclusions or not (params.get("excludedContainers") or params.get("excludedImages")):
        return pod.containers(lists)
    return tuple(c for c in pod.containers(lists) if not container_excluded(c, params))
