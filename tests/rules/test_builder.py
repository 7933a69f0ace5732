"""rules._yaml's builder: the node budget (counted per collection) and the depth bound, at their edges."""

from __future__ import annotations

import pytest

from rules import _yaml
from rules._yaml import MAX_DEPTH, YamlError, compose_documents, construct


def node(text: str) -> _yaml.Node:
    raw = next(compose_documents(text))
    assert raw.error is None and raw.node is not None
    return raw.node


# (text, nodes the budget counts: every node once, and an alias as the size of its value: the
# nodes it stands for, a mapping's values without its keys)
COUNTED = [
    ("[a, b, c]", 4),
    ("{a: 1, b: [x, y]}", 7),
    ("x: &a [1, 2]\ny: *a\n", 10),
    ("base: &b {k: v}\nderived:\n  <<: *b\n  own: 1\n", 13),
]


@pytest.mark.parametrize(("text", "count"), COUNTED)
def test_the_budget_counts_every_node_and_each_alias_expansion(
        text: str, count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_yaml, "MAX_CONSTRUCTED_NODES", count)
    construct(node(text))  # exactly at the budget: built
    monkeypatch.setattr(_yaml, "MAX_CONSTRUCTED_NODES", count - 1)
    with pytest.raises(YamlError, match="too many nodes"):
        construct(node(text))


def nested(levels: int, inner: str) -> str:
    """``levels`` flow sequences around ``inner``: the innermost collection is at depth ``levels - 1``."""
    return "[" * levels + inner + "]" * levels


def test_children_deeper_than_the_bound_are_refused_at_the_first_one() -> None:
    assert construct(node(nested(MAX_DEPTH, "x"))) is not None  # the scalar at depth MAX_DEPTH
    text = nested(MAX_DEPTH + 1, "x, y")
    with pytest.raises(YamlError, match="nested deeper") as raised:
        construct(node(text))
    assert (raised.value.line, raised.value.column) == (1, text.index("x") + 1)
    assert construct(node(nested(MAX_DEPTH + 1, ""))) is not None  # an empty collection has no children


def test_a_merge_key_first_is_refused_at_its_value() -> None:
    text = nested(MAX_DEPTH, "{<<: v, b: 2}")  # the mapping at depth MAX_DEPTH: its children are too deep
    with pytest.raises(YamlError, match="nested deeper") as raised:
        construct(node(text))
    assert raised.value.column == text.index("v,") + 1
