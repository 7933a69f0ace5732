"""Parameter declarations shared by the rules, with validators (Azure Policy's names and shapes)."""

from __future__ import annotations

from typing import Any

import re2

from rules._model import Param

NS_DEFENDER = ("kube-system", "gatekeeper-system", "azure-arc", "azuredefender", "mdc",
               "azure-extensions-usage-system")
NS_PLAIN = ("kube-system", "gatekeeper-system", "azure-arc", "azure-extensions-usage-system")
NS_2021 = ("kube-system", "gatekeeper-system", "azure-arc")


def is_string(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def is_boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def is_integer(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return None if ok else "must be an integer"


def is_string_list(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return None
    return "must be a list of strings"


def is_regex(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string (an RE2 regular expression)"
    options = re2.Options()
    options.log_errors = False  # the error is reported to the user with the key's line instead
    try:
        re2.compile(value, options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return f"is not a valid RE2 regular expression ({detail})"
    return None


def is_ranges(value: Any) -> str | None:
    shape = 'must be {ranges: [{min: <int>, max: <int>}]} (max -1: no upper bound)'
    if not isinstance(value, dict) or set(value) != {"ranges"} or not isinstance(value["ranges"], list):
        return shape
    for item in value["ranges"]:
        if not isinstance(item, dict) or set(item) != {"min", "max"}:
            return shape
        if any(is_integer(item[k]) for k in ("min", "max")):
            return shape
    return None


def is_host_paths(value: Any) -> str | None:
    shape = "must be {paths: [{pathPrefix: <string>, readOnly: <bool>}]}"
    if not isinstance(value, dict) or set(value) != {"paths"} or not isinstance(value["paths"], list):
        return shape
    for item in value["paths"]:
        if not isinstance(item, dict) or set(item) != {"pathPrefix", "readOnly"}:
            return shape
        if not isinstance(item["pathPrefix"], str) or not isinstance(item["readOnly"], bool):
            return shape
    return None


def is_label_selector(value: Any) -> str | None:
    shape = "must be a label selector {matchLabels: {...}, matchExpressions: [...]}"
    if not isinstance(value, dict) or not set(value) <= {"matchLabels", "matchExpressions"}:
        return shape
    if not isinstance(value.get("matchLabels", {}), dict):
        return shape
    for expr in value.get("matchExpressions", []) or []:
        if not isinstance(expr, dict) or "key" not in expr:
            return shape
        if expr.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return "matchExpressions operator must be In, NotIn, Exists or DoesNotExist"
        if expr["operator"] in ("In", "NotIn") and not expr.get("values"):
            return f"matchExpressions operator {expr['operator']} needs values"
    return None


def match_params(excluded_namespaces: tuple[str, ...]) -> tuple[Param, ...]:
    return (
        Param("excludedNamespaces", "array", list(excluded_namespaces),
              "Namespaces out of scope; an entry ending in `*` is a prefix. kube-system, "
              "gatekeeper-system and azure-arc are always excluded.",
              legacy_default=list(NS_2021), validate=is_string_list),
        Param("namespaces", "array", [], "If not empty, only these namespaces are in scope.",
              validate=is_string_list),
        Param("labelSelector", "object", {}, "Kubernetes label selector on the (pod template's) labels.",
              validate=is_label_selector),
    )


EXCLUDED_CONTAINERS = Param("excludedContainers", "array", [], "Container names to skip (exact match).",
                            validate=is_string_list)
EXCLUDED_IMAGES = Param("excludedImages", "array", [],
                        "Images to skip: exact, or a prefix when the entry ends in `*`.",
                        validate=is_string_list)
