"""Rewrite the image to the registry mirror that ``fixes.registryMirror`` names; otherwise manual.

Image references are normalised as Docker does (``nginx`` is ``docker.io/library/nginx``) to
find the source registry; the longest matching mirror key wins.
"""

import re2

from fixes._edit import Unfixable
from fixes._model import FixContext, FixSpec, Op, Safety, Set


def normalise(image: str) -> str:
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if rest else f"docker.io/library/{image}"


def mirrored(image: str, mirrors: dict[str, str]) -> str | None:
    full = normalise(image)
    for source in sorted(mirrors, key=len, reverse=True):
        key = source.rstrip("/")
        if full == key or full.startswith(key + "/"):
            return mirrors[source].rstrip("/") + full[len(key):]
    return None


def build(ctx: FixContext) -> list[Op]:
    image = ctx.get(ctx.finding.path)
    if not isinstance(image, str):
        raise Unfixable("the image is not a string")
    new = mirrored(image, dict(ctx.settings.registry_mirror))
    if new is None:
        raise Unfixable(f"no fixes.registryMirror entry for {normalise(image).split('/')[0]}: push the image to a "
                        "trusted registry and reference it there")
    if not re2.search(ctx.params["allowedContainerImagesRegex"], new):
        raise Unfixable(f"the mirrored image {new} still does not match allowedContainerImagesRegex")
    return [Set(ctx.finding.path, new)]


FIX = FixSpec("container-allowed-images", Safety.VALUE,
              "pulls the image from the registry mirror in fixes.registryMirror", build)
