"""Images from untrusted registries bypass vulnerability scanning and supply-chain controls.

Azure ``K8sAzureV2ContainerAllowedImages``: the image string, exactly as written, must match
``allowedContainerImagesRegex`` (Go RE2, unanchored search). The Defender preset ``^(.+){0}$``
matches nothing, so every image fails until the registry is configured.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, NS_DEFENDER, is_regex, match_params
from rules._resource import PodView


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern)


_ALLOWED: dict[tuple[str, str], bool] = {}  # (pattern, image) -> the pattern finds a match in the image
_ALLOWED_MAX = 20_000  # entries; with images of at most _IMAGE_MAX characters, a few MiB at most
_IMAGE_MAX = 256


def _allowed(pattern: str, image: str) -> bool:
    """``re2.search`` of the pattern in the image, remembered (images repeat across a scan)."""
    key = (pattern, image)
    found = _ALLOWED.get(key)
    if found is None:
        found = _compiled(pattern).search(image) is not None
        if len(image) <= _IMAGE_MAX:
            if len(_ALLOWED) >= _ALLOWED_MAX:
                _ALLOWED.clear()
            _ALLOWED[key] = found
    return found


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> list[Violation]:
    out: list[Violation] = []
    pattern = params["allowedContainerImagesRegex"]
    _compiled(pattern)  # an invalid pattern fails here, with or without containers, as before
    for c in examined(pod, params, legacy, windows_skip=False):
        image = c.data.get("image")
        if isinstance(image, str) and not _allowed(pattern, image):  # absent image: undefined in Rego
            # (a string renders as itself)
            out.append(Violation((*c.path, "image"), f"Container image {image} for container {c.name} has not been "
                                                     f"allowed.", c.name))
    return out


RULE = Rule(
    id="container-allowed-images",
    title="Container images should be deployed only from trusted registries",
    control=Control.REMEDIATE_VULNERABILITIES,
    azure_policy="febd0533-8e55-448f-b837-bd0e06f16469",
    severity=Severity.HIGH,
    params=(
        Param("allowedContainerImagesRegex", "string", "^(.+){0}$",
              r"RE2 regex the image must match (unanchored), e.g. `^[^\/]+\.azurecr\.io\/.+$`. The preset "
              "matches no image.", configure=True, validate=is_regex),
        EXCLUDED_CONTAINERS, *match_params(NS_DEFENDER),
    ),
    kinds=WORKLOADS,
    remediation="Pull the image from a trusted registry (push it to your registry first).",
    check=check,
    rationale=__doc__ or "",
)
