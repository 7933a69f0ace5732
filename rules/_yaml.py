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
from typing import NoReturn

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


_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# First characters that some implicit resolver (bool, int, float, null, timestamp, merge, value) may claim;
# a plain scalar starting with any other character is a string.
_RESOLVABLE_FIRST = frozenset(k for k in _Resolver.yaml_implicit_resolvers if k is not None)
_PLAIN_TAGS: dict[str, str] = {}  # plain scalar text -> resolved tag (a pure function of the text)
_PLAIN_TAGS_MAX = 20_000


class _Composer(CParser, _Resolver):  # type: ignore[misc]
    """libyaml's composer with a faster, equivalent resolver.

    libyaml calls ``resolve`` (and the path-resolver hooks) from C for every node; the
    inherited versions are generic Python. With no path resolvers registered the result
    depends only on the node kind and, for a plain scalar, on its text: that is computed
    once per distinct text and remembered.
    """

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        _Resolver.__init__(self)

    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if not implicit[0] or (value and value[0] not in _RESOLVABLE_FIRST):
                return _STR_TAG
            tag = _PLAIN_TAGS.get(value)  # type: ignore[arg-type]
            if tag is None:
                tag = _Resolver.resolve(self, kind, value, implicit)
                if len(_PLAIN_TAGS) < _PLAIN_TAGS_MAX and len(value) <= 64:  # type: ignore[arg-type]
                    _PLAIN_TAGS[value] = tag  # type: ignore[index]
            return tag
        return _SEQ_TAG if kind is SequenceNode else _MAP_TAG

    def descend_resolver(self, current_node: Node | None, current_index: object) -> None:
        pass  # no path resolvers

    def ascend_resolver(self) -> None:
        pass


if (None in _Resolver.yaml_implicit_resolvers or _Resolver.yaml_path_resolvers
        or (_Resolver.DEFAULT_SCALAR_TAG, _Resolver.DEFAULT_SEQUENCE_TAG, _Resolver.DEFAULT_MAPPING_TAG)
        != (_STR_TAG, _SEQ_TAG, _MAP_TAG)):  # pragma: no cover - guards the shortcut above against a new PyYAML
    raise RuntimeError("PyYAML's resolver changed: rules._yaml._Composer.resolve must be revisited")


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


def _nesting_bound(text: str) -> int:
    """A cheap upper bound on how deep the collections of ``text`` can nest.

    Every flow collection opens with ``[`` or ``{``. A block collection inside another starts
    further right, except a sequence directly under a mapping key, so block nesting is at most
    twice the longest line (libyaml's lines are never longer than the ``\\n``-separated ones).
    """
    if len(text) <= MAX_DEPTH:
        return len(text)
    longest = max(map(len, text.split("\n")))
    return text.count("[") + text.count("{") + 2 * longest + 2


def _too_deep(text: str) -> tuple[int, YamlError] | None:
    """The first document whose collections nest deeper than MAX_DEPTH, found from parser events.

    libyaml's composer (in C) recurses once per level and overflows the C stack on deeply
    nested input (a segmentation fault, not an exception), so such a document must be found
    without composing it. Parse errors are left for the composer to report.
    """
    parser = CParser(text)
    index = depth = 0
    try:
        while True:
            event = parser.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return None
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH + 1:  # the builder's depth counts the root as 0
                    mark = event.start_mark
                    return index, YamlError(mark.line + 1, mark.column + 1,
                                            f"document nested deeper than {MAX_DEPTH} levels")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.DocumentEndEvent):
                index += 1
    except yaml.YAMLError:
        return None
    finally:
        parser.dispose()


def compose_documents(text: str) -> Iterator[RawDocument]:
    """Yield every document's node tree; a syntax error ends the stream with an error item.

    libyaml cannot resume after a syntax error, so documents before it are kept and the
    error is reported with its line. A document nested too deep to compose safely ends the
    stream the same way.
    """
    deep = _too_deep(text) if _nesting_bound(text) > MAX_DEPTH else None
    loader = _Composer(text)
    index = 0
    try:
        while True:
            try:
                if deep is not None and index == deep[0]:
                    yield RawDocument(index, None, deep[1])
                    return
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
    if tag == _STR_TAG:
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


Places = dict[int, dict[object, tuple[Node, Node]] | list[Node]]


def _build(root: Node) -> tuple[object, Places]:
    """Python data for a node tree (aliases share their value, merges follow YAML 1.1), and where each
    built key and item was written: by the id of each collection node built (an alias is its anchor's
    very node), a mapping's {key: (key node, value node)} without its merged keys, a sequence's list
    of item nodes.

    ``count`` is the number of nodes built so far, aliases counted as the size of their value (the
    budget against alias bombs); it is kept per collection rather than per node: a collection adds
    all its children when it starts (most nodes are scalars, built in place by their parent), an
    alias adds its value's size when it is met. The builder is a closure rather than a class: its
    state in closure cells rather than attributes makes the ~35,000 calls of a corpus scan ~15% faster.
    """
    memo: dict[int, object] = {}
    where: Places = {}
    count = 1  # the root

    def refuse(node: Node) -> NoReturn:
        mark = node.start_mark
        if count > MAX_CONSTRUCTED_NODES:
            raise YamlError(mark.line + 1, mark.column + 1, "document expands to too many nodes (alias bomb?)")
        raise YamlError(mark.line + 1, mark.column + 1, f"document nested deeper than {MAX_DEPTH} levels")

    def merge_sources(vnode: Node, depth: int) -> list[dict[object, object]]:
        value = build(vnode, depth + 1)
        items = value if isinstance(value, list) else [value]
        sources = [v for v in items if isinstance(v, dict)]
        if len(sources) != len(items):
            raise YamlError(vnode.start_mark.line + 1, vnode.start_mark.column + 1,
                            "merge key '<<' needs a mapping or a list of mappings")
        return sources

    def build(node: Node, depth: int) -> object:
        nonlocal count
        cls = node.__class__
        if cls is ScalarNode:
            return node.value if node.tag == _STR_TAG else _scalar(node)
        key = id(node)
        if key in memo:
            # an alias: count what it would expand to, so alias bombs stay bounded
            value = memo[key]
            if _unfinished(node, value):
                mark = node.start_mark  # go-yaml (kubectl) refuses this too: "anchor '…' value contains itself"
                raise YamlError(mark.line + 1, mark.column + 1,
                                "recursive alias: the value of the anchor here contains itself")
            count += _size(value)
            if count > MAX_CONSTRUCTED_NODES:
                refuse(node)
            return value
        children = node.value
        if children:
            if depth >= MAX_DEPTH:  # its children would be too deep: refused at the first one built
                first = children[0]
                if cls is not SequenceNode:
                    first = first[1] if first[0].tag == _MERGE_TAG else first[0]
                refuse(first)
            count += len(children) if cls is SequenceNode else 2 * len(children)
            if count > MAX_CONSTRUCTED_NODES:
                refuse(node)
        child = depth + 1
        # scalar children are built here rather than by a call of ``build`` each (most nodes are scalars)
        if cls is SequenceNode:
            out_list: list[object] = []
            memo[key] = out_list
            where[key] = children
            append = out_list.append
            for item in children:
                if item.__class__ is ScalarNode:
                    append(item.value if item.tag == _STR_TAG else _scalar(item))
                else:
                    append(build(item, child))
            return out_list
        out: dict[object, object] = {}
        memo[key] = out
        merged: dict[object, object] | None = None
        keys: dict[object, tuple[Node, Node]] = {}
        where[key] = keys
        for pair in children:
            knode, vnode = pair
            if knode.tag == _MERGE_TAG:
                if merged is None:
                    merged = {}
                for source in merge_sources(vnode, depth):
                    for mk, mv in source.items():
                        merged.setdefault(mk, mv)  # merged keys have no place of their own in this mapping
                continue
            if knode.__class__ is ScalarNode:
                k = knode.value if knode.tag == _STR_TAG else _scalar(knode)
            else:
                k = build(knode, child)
                if isinstance(k, (dict, list)):
                    k = yaml.dump(k, default_flow_style=True).strip()
            if k in out:
                raise YamlError(knode.start_mark.line + 1, knode.start_mark.column + 1,
                                f"duplicate key {k!r}")
            keys[k] = pair
            if vnode.__class__ is ScalarNode:
                out[k] = vnode.value if vnode.tag == _STR_TAG else _scalar(vnode)
            else:
                out[k] = build(vnode, child)
        if merged:
            for mk, mv in merged.items():
                out.setdefault(mk, mv)
        return out

    try:
        return build(root, 0), where
    finally:
        # ``build`` refers to itself through its closure cell: emptied, no cycle (holding the memo and the
        # places) is left to the garbage collector, which the scan runs rarely
        build = None  # type: ignore[assignment]


def _unfinished(node: Node, value: object) -> bool:
    """True when an alias points at a collection still being built (an ancestor): a cycle.

    Checked only when an alias is met, so plain documents pay nothing: a sequence is complete
    when every item is in, a mapping when every non-merge key is (duplicates are refused).
    """
    if isinstance(value, list):
        return len(value) < len(node.value)
    if isinstance(value, dict):
        return len(value) < sum(1 for knode, _ in node.value if knode.tag != _MERGE_TAG)
    return False


def _size(value: object) -> int:
    if isinstance(value, dict):
        return 1 + sum(_size(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_size(v) for v in value)
    return 1


def construct(node: Node) -> object:
    """Plain Python data for a node tree; raises YamlError with the offending line."""
    return _build(node)[0]


class Located:
    """A document's data with the position of every key and item, for findings' lines."""

    __slots__ = ("data", "root", "walked", "where")

    def __init__(self, root: Node) -> None:
        self.data, self.where = _build(root)
        self.root = root
        # path -> the walk of ``_walk``: the findings of one container share all but their last steps
        self.walked: dict[Path, tuple[Node, Node, bool]] = {}

    def position(self, path: Path) -> tuple[int, int]:
        """1-based (line, column) of ``path``, or of its deepest existing ancestor (the key, for a mapping).

        The walk of all but the last two steps is remembered: paths (``Path``: string keys, int
        indexes) that are equal walk alike.
        """
        if len(path) > 3:
            head = path[:-2]
            try:
                walked = self.walked.get(head)
            except TypeError:  # an unhashable step (not a Path): no such key, walked without the table
                walked = self._walk(self.root, self.root, head)
            if walked is None:
                walked = self.walked[head] = self._walk(self.root, self.root, head)
            node, value, complete = walked
            if complete:
                node = self._walk(node, value, path[-2:])[0]
        else:
            node = self._walk(self.root, self.root, path)[0]
        mark = node.start_mark
        return mark.line + 1, mark.column + 1

    def _walk(self, node: Node, value: Node, path: Path) -> tuple[Node, Node, bool]:
        """From ``node`` (a place) holding ``value`` (its value's node), follow ``path`` as far as it exists:
        the last place found, its value's node, and whether the whole path was followed."""
        where = self.where
        for step in path:
            places = where.get(id(value))
            if places is None:  # a scalar: nothing below it
                break
            if places.__class__ is list:  # a sequence's item nodes: an index (True is 1, as in data[True])
                if not isinstance(step, int) or not 0 <= step < len(places):
                    break
                node = value = places[step]
            else:
                try:
                    pair = places.get(step)  # type: ignore[union-attr]
                except TypeError:  # an unhashable step: no such key
                    break
                if pair is None:  # no such key, or one merged in with `<<` (written elsewhere)
                    break
                node, value = pair
        else:
            return node, value, True
        return node, value, False


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
