"""Gatekeeper ``match``: namespaces (with ``*`` prefix globs) and label selectors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rules._rego import prefix_glob_match

ALWAYS_EXCLUDED = ("kube-system", "gatekeeper-system", "azure-arc")


def namespace_matches(namespace: str, patterns: Iterable[str]) -> bool:
    """Gatekeeper ``match``: a namespace entry ending in ``*`` is a prefix glob."""
    return prefix_glob_match(namespace, patterns)


def in_scope(namespace: str, labels: Mapping[Any, Any], match: Mapping[str, Any]) -> bool:
    """True when an object with this namespace and labels is matched by the constraint."""
    if namespace_matches(namespace, match.get("excludedNamespaces") or ()) or namespace in ALWAYS_EXCLUDED:
        return False
    namespaces = match.get("namespaces") or ()
    if namespaces and not namespace_matches(namespace, namespaces):
        return False
    return selector_matches(match.get("labelSelector") or {}, labels)


def reads_labels(match: Mapping[str, Any]) -> bool:
    """Whether ``in_scope``'s answer for ``match`` depends on the labels (not when its selector is empty: then
    the namespace alone decides, and the engine remembers the answer per namespace)."""
    return not _selector_is_empty(match.get("labelSelector") or {})


def _selector_is_empty(selector: Mapping[str, Any]) -> bool:
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def selector_matches(selector: Mapping[str, Any], labels: Mapping[Any, Any]) -> bool:
    """Kubernetes label selector: matchLabels and matchExpressions, ANDed; empty matches all."""
    if _selector_is_empty(selector):
        return True
    str_labels = {str(k): _label_value(v) for k, v in labels.items()}
    for key, value in (selector.get("matchLabels") or {}).items():
        if str_labels.get(str(key)) != _label_value(value):
            return False
    for expr in selector.get("matchExpressions") or ():
        key = str(expr.get("key"))
        operator = expr.get("operator")
        values = {_label_value(v) for v in expr.get("values") or ()}
        present = key in str_labels
        if operator == "In" and not (present and str_labels[key] in values):
            return False
        if operator == "NotIn" and present and str_labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _label_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)
