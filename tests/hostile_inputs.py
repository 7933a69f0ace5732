"""Hostile YAML built once for every test that needs it (tests/rules/test_parse.py, tests/bot/test_hostile.py).

``billion_laughs`` is the classic alias bomb: nine anchors, each a list of nine aliases of the one before, so a
loader that expands aliases builds 9**9 (387 million) leaves from some 400 bytes.
"""

from __future__ import annotations

import itertools

POD_HEAD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: lol\n"
POD_TAIL = "spec:\n  containers: [*i]\n"


def billion_laughs(head: str = POD_HEAD, tail: str = POD_TAIL, *, levels: int = 9, fanout: int = 9) -> str:
    """``head``, then top-level keys ``a``..: ``a: &a ["lol", ...]``, ``b: &b [*a, ...]``, ..., then ``tail``
    (which refers to the last anchor, ``*i`` by default)."""
    names = "abcdefghijklmnopqrstuvwxyz"[:levels]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * fanout) + "]"]
    for before, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{before}"] * fanout) + "]")
    return head + "\n".join(lines) + "\n" + tail
