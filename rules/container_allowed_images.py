"""Images from untrusted registries bypass vulnerability scanning and supply-chain controls.

Azure ``K8sAzureV2ContainerAllowedImages``: the image string, exactly as written, must match
``allowedContainerImagesRegex`` (Go RE2, unanchored search). The Defender preset ``^(.+){0}$``
matches nothing, so every image fails until the registry is configured.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import re2

from rules._common import examined
from rules._kinds import WORKLOADS
from rules._model import Control, Param, Rule, Severity, Violation
from rules._params import EXCLUDED_CONTAINERS, NS_DEFENDER, is_regex, match_params
from rules._rego import render
from rules._resource import PodView


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern)


def check(pod: PodView, params: dict[str, Any], legacy: bool) -> Iterator[Violation]:
    regex = _compiled(params["allowedContainerImagesRegex"])
    for c in examined(pod, params, legacy, windows_skip=False):
        image = c.image
        if isinstance(image, str) and not regex.search(image):  # absent image: undefined in Rego
            yield Violation((*c.path, "image"),
                            f"Container image {render(image)} for container {c.name} has not been allowed.",
                            c.name)


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
