"""Position-keeping YAML loading on libyaml (PyYAML's C composer).

Why libyaml through PyYAML rather than ruamel.yaml's C parser: on the development corpus
(395 files, 2,715 documents) PyYAML's ``CSafeLoader`` composes node trees in 0.20 s against
0.35 s for ruamel.yaml's ``CSafeLoader`` (both C, both keep marks), and the pure-Python
round-trip loader is ~28x slower still. PyYAML's resolver is YAML 1.1, which is what
Kubernetes' go-yaml reads (``yes``/``on`` are booleans); the one addition is go-yaml's
exponent floats without a dot (``1e3``).

The composer gives nodes with start/end marks (0-based line, column and character index);
``construct`` turns a node into plain Python data while refusing what Kubernetes refuses
(duplicate keys) and bounding what an attacker could blow up (alias expansion).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import yaml
from yaml.cyaml import CParser
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]

MAX_CONSTRUCTED_NODES = 2_000_000  # alias expansion budget per document ("billion laughs")
MAX_DEPTH = 500


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1 resolver plus go-yaml's dot-less exponent floats."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class _Composer(CParser, _Resolver):  # type: ignore[misc]
    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        _Resolver.__init__(self)


class YamlError(Exception):
    """A document that cannot be read; carries a 1-based line and a cause."""

    def __init__(self, line: int, column: int, cause: str) -> None:
        super().__init__(f"line {line}: {cause}")
        self.line = line
        self.column = column
        self.cause = cause


@dataclass(frozen=True)
class RawDocument:
    index: int  # 0-based position in the file's stream
    node: Node | None
    error: YamlError | None = None


def compose_documents(text: str) -> Iterator[RawDocument]:
    """Yield every document's node tree; a syntax error ends the stream with an error item.

    libyaml cannot resume after a syntax error, so documents before it are kept and the
    error is reported with its line.
    """
    loader = _Composer(text)
    index = 0
    try:
        while True:
            try:
                if not loader.check_node():
                    return
                node = loader.get_node()
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                line = mark.line + 1 if mark else 1
                col = mark.column + 1 if mark else 1
                cause = exc.problem or str(exc)
                if exc.context:
                    cause = f"{exc.context}: {cause}"
                yield RawDocument(index, None, YamlError(line, col, cause))
                return
            except yaml.YAMLError as exc:  # reader errors (control characters) and the like
                yield RawDocument(index, None, YamlError(1, 1, str(exc).splitlines()[0]))
                return
            yield RawDocument(index, node)
            index += 1
    finally:
        loader.dispose()


_BOOL = {
    "yes": True, "true": True, "on": True,
    "no": False, "false": False, "off": False,
}


def _scalar(node: ScalarNode) -> object:
    tag = node.tag
    value = node.value
    if tag == "tag:yaml.org,2002:str":
        return value
    if tag == "tag:yaml.org,2002:int":
        return _int(value)
    if tag == "tag:yaml.org,2002:float":
        return _float(value)
    if tag == "tag:yaml.org,2002:bool":
        return _BOOL.get(value.lower(), value)
    if tag == "tag:yaml.org,2002:null":
        return None
    return value  # timestamps, binary, custom tags: kept as the written text


def _int(value: str) -> int | str:
    text = value.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    try:
        if text.startswith("0b"):
            return sign * int(text[2:], 2)
        if text.startswith("0x"):
            return sign * int(text[2:], 16)
        if text.startswith("0o"):
            return sign * int(text[2:], 8)
        if len(text) > 1 and text.startswith("0"):
            return sign * int(text, 8)
        if ":" in text:  # sexagesimal (YAML 1.1)
            total = 0
            for part in text.split(":"):
                total = total * 60 + int(part)
            return sign * total
        return sign * int(text)
    except ValueError:
        return value


def _float(value: str) -> float | str:
    text = value.replace("_", "").lower()
    if text in (".inf", "+.inf"):
        return float("inf")
    if text == "-.inf":
        return float("-inf")
    if text == ".nan":
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return value


class _Builder:
    """Turns a node tree into Python data; aliases share their value, merges follow YAML 1.1."""

    def __init__(self) -> None:
        self.count = 0
        self.memo: dict[int, object] = {}

    def build(self, node: Node, depth: int = 0) -> object:
        self.count += 1
        if self.count > MAX_CONSTRUCTED_NODES:
            raise YamlError(node.start_mark.line + 1, node.start_mark.column + 1,
                            "document expands to too many nodes (alias bomb?)")
        if depth > MAX_DEPTH:
            raise YamlError(node.start_mark.line + 1, node.start_mark.column + 1,
                            f"document nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, ScalarNode):
            return _scalar(node)
        key = id(node)
        if key in self.memo:
            # an alias: count what it would expand to, so alias bombs stay bounded
            self.count += _size(self.memo[key])
            return self.memo[key]
        if isinstance(node, SequenceNode):
            out_list: list[object] = []
            self.memo[key] = out_list
            for item in node.value:
                out_list.append(self.build(item, depth + 1))
            return out_list
        assert isinstance(node, MappingNode)
        out: dict[object, object] = {}
        self.memo[key] = out
        merged: dict[object, object] = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                for source in self._merge_sources(vnode, depth):
                    for mk, mv in source.items():
                        merged.setdefault(mk, mv)
                continue
            k = self.build(knode, depth + 1)
            if isinstance(k, (dict, list)):
                k = yaml.dump(k, default_flow_style=True).strip()
            if k in out:
                raise YamlError(knode.start_mark.line + 1, knode.start_mark.column + 1,
                                f"duplicate key {k!r}")
            out[k] = self.build(vnode, depth + 1)
        for mk, mv in merged.items():
            out.setdefault(mk, mv)
        return out

    def _merge_sources(self, vnode: Node, depth: int) -> list[dict[object, object]]:
        value = self.build(vnode, depth + 1)
        items = value if isinstance(value, list) else [value]
        sources = [v for v in items if isinstance(v, dict)]
        if len(sources) != len(items):
            raise YamlError(vnode.start_mark.line + 1, vnode.start_mark.column + 1,
                            "merge key '<<' needs a mapping or a list of mappings")
        return sources


def _size(value: object) -> int:
    if isinstance(value, dict):
        return 1 + sum(_size(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_size(v) for v in value)
    return 1


def construct(node: Node) -> object:
    """Plain Python data for a node tree; raises YamlError with the offending line."""
    return _Builder().build(node)


def locate(node: Node, path: Path) -> tuple[Node, Path]:
    """The node at ``path`` or, when part of it is missing, its deepest existing ancestor.

    For a mapping entry the key node is returned (a finding sits on the key's line);
    the second element is the part of ``path`` that exists.
    """
    current: Node = node
    found: Node = node
    walked: list[str | int] = []
    for step in path:
        nxt: Node | None = None
        key_node: Node | None = None
        if isinstance(current, MappingNode) and not isinstance(step, int):
            for knode, vnode in current.value:
                if isinstance(knode, ScalarNode) and knode.value == step:
                    key_node, nxt = knode, vnode
                    break
        elif isinstance(current, SequenceNode) and isinstance(step, int) and 0 <= step < len(current.value):
            nxt = current.value[step]
            key_node = nxt
        if nxt is None:
            break
        walked.append(step)
        found = key_node if key_node is not None else nxt
        current = nxt
    return found, tuple(walked)


def value_node(node: Node, path: Path) -> Node | None:
    """The value node at ``path`` exactly, or None."""
    current: Node = node
    for step in path:
        nxt: Node | None = None
        if isinstance(current, MappingNode) and not isinstance(step, int):
            for knode, vnode in current.value:
                if isinstance(knode, ScalarNode) and knode.value == step:
                    nxt = vnode
                    break
        elif isinstance(current, SequenceNode) and isinstance(step, int) and 0 <= step < len(current.value):
            nxt = current.value[step]
        if nxt is None:
            return None
        current = nxt
    return current


_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Path) -> str:
    """``spec.containers[0].securityContext`` ; keys that are not identifiers are quoted."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _SIMPLE_KEY.match(step):
            out += f".{step}" if out else step
        else:
            out += '["' + step.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return out
