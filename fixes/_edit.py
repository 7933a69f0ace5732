"""Text edits computed from node positions: replace a scalar, add keys to a mapping, remove an entry.

Nothing is re-serialised: every edit names the exact character span it replaces, so comments,
quoting, indentation, flow style, CRLF line endings and a missing final newline outside the
span stay byte-identical. Operations that cannot be expressed safely raise ``Unfixable``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from rules._yaml import Path, value_node

# Keys that some fix removes (host namespaces, capabilities, hostPath volumes and mounts, host ports).
VOLATILE_KEYS = frozenset({"hostPID", "hostIPC", "hostNetwork", "capabilities", "add", "volumes", "volumeMounts",
                           "hostPort"})


class Unfixable(Exception):
    """No correct minimal edit exists; the message says what to change by hand."""


@dataclass(frozen=True, order=True)
class Edit:
    start: int  # character offset in the file text
    end: int
    text: str


def apply(text: str, edits: Iterable[Edit]) -> str:
    ordered = sorted(set(edits))
    out, cursor = [], 0
    for edit in ordered:
        if edit.start < cursor:
            raise Unfixable("overlapping edits")
        out.append(text[cursor:edit.start])
        out.append(edit.text)
        cursor = edit.end
    out.append(text[cursor:])
    return "".join(out)


_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:@-]*$")
_AMBIGUOUS = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def scalar_text(value: Any) -> str:
    """A YAML flow scalar for ``value``; strings are quoted where a plain scalar would change type."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if _PLAIN_SAFE.match(text) and text.lower() not in _AMBIGUOUS and not _looks_numeric(text):
        return text
    return json.dumps(text)


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return text.startswith(("0x", "0o", "0b"))
    return True


class Document:
    """One YAML document of a file, with the helpers to turn paths into text spans."""

    def __init__(self, text: str, root: Node) -> None:
        self.text = text
        self.root = root
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self.indent_step = _indent_step(root)

    # ---- positions --------------------------------------------------------------------------------------
    def line_start(self, index: int) -> int:
        return self.text.rfind("\n", 0, index) + 1

    def line_end(self, index: int) -> int:
        """Offset just past the newline of the line holding ``index`` (or the end of the text)."""
        nl = self.text.find("\n", index)
        return len(self.text) if nl < 0 else nl + 1

    def content_end(self, node: Node) -> int:
        """Offset of the last character that belongs to ``node`` (libyaml's block end marks run long)."""
        if isinstance(node, ScalarNode):
            end = node.end_mark.index
            if node.style in ("|", ">"):
                while end > node.start_mark.index and self.text[end - 1] in "\r\n \t":
                    end -= 1
            return end
        if isinstance(node, MappingNode) and node.value and node.flow_style is not True:
            return self.content_end(node.value[-1][1])
        if isinstance(node, SequenceNode) and node.value and node.flow_style is not True:
            return self.content_end(node.value[-1])
        return node.end_mark.index

    def is_line_start(self, index: int) -> bool:
        return not self.text[self.line_start(index):index].strip(" \t-")

    # ---- lookups ----------------------------------------------------------------------------------------
    def node(self, path: Path) -> Node | None:
        return value_node(self.root, path)

    def entry(self, mapping: MappingNode, key: str) -> tuple[Node, Node] | None:
        for knode, vnode in mapping.value:
            if isinstance(knode, ScalarNode) and knode.value == key:
                return knode, vnode
        return None

    # ---- operations -------------------------------------------------------------------------------------
    def replace_scalar(self, path: Path, value: Any) -> Edit:
        node = self.node(path)
        if not isinstance(node, ScalarNode):
            raise Unfixable(f"{path[-1]} is not a plain value")
        if node.style in ("|", ">"):
            raise Unfixable(f"{path[-1]} is a block scalar")
        return Edit(node.start_mark.index, node.end_mark.index, scalar_text(value))

    def set_values(self, assignments: list[tuple[Path, Any]]) -> list[Edit]:
        """Edits that give every path its value: scalars replaced in place, missing keys inserted.

        New keys go right after the last existing key that sorts before them (or first), so the
        result does not depend on the order fixes are applied in; created blocks list their keys
        in sorted order, at the document's own indentation.
        """
        edits: list[Edit] = []
        created: dict[Path, dict[str, Any]] = {}
        for path, value in assignments:
            existing = self.node(path)
            if isinstance(existing, ScalarNode) and not _is_null(existing) and not isinstance(value, dict):
                edits.append(self.replace_scalar(path, value))
                continue
            depth = len(path)
            while depth > 0 and self.node(path[:depth]) is None:
                depth -= 1
            if depth == len(path):  # the path exists as a null or a collection: fill it in
                if not _is_null(existing):
                    raise Unfixable(f"{path[-1]} already has a value")
                depth -= 1
            anchor = path[:depth]
            nested: Any = value
            for key in reversed(path[depth + 1:]):
                if not isinstance(key, str):
                    raise Unfixable("cannot create a list item")
                nested = {key: nested}
            if not isinstance(path[depth], str):
                raise Unfixable("cannot create a list item")
            _merge(created.setdefault(anchor, {}), {path[depth]: nested})
        for anchor, entries in created.items():
            edits.extend(self._insert(anchor, entries))
        return edits

    def _insert(self, parent_path: Path, entries: dict[str, Any]) -> list[Edit]:
        parent = self.node(parent_path)
        if isinstance(parent, ScalarNode) and _is_null(parent) and parent_path:
            holder = self.node(parent_path[:-1])
            found = self.entry(holder, str(parent_path[-1])) if isinstance(holder, MappingNode) else None
            if found is None:
                raise Unfixable(f"{_dotted(parent_path)} is an empty list item")
            return self._fill_null(parent_path, parent, entries, found[0])
        if not isinstance(parent, MappingNode):
            raise Unfixable(f"{_dotted(parent_path) or 'the document'} is not a mapping")
        edits: list[Edit] = []
        fresh: dict[str, Any] = {}
        for key, value in entries.items():
            found = self.entry(parent, key)
            if found is None:
                fresh[key] = value
            else:  # `key:` present with no value
                edits.extend(self._fill_null((*parent_path, key), found[1], value, found[0]))
        if not fresh:
            return edits
        if parent.flow_style or not parent.value:
            return [*edits, self._add_flow(parent, fresh)]
        indent = parent.value[0][0].start_mark.column
        groups: dict[int, dict[str, Any]] = {}
        for key in sorted(fresh):
            groups.setdefault(self._anchor(parent, key), {})[key] = fresh[key]
        for at, group in groups.items():
            prefix = "" if at == 0 or self.text[at - 1] == "\n" else self.newline
            edits.append(Edit(at, at, prefix + self._block(group, indent)))
        return edits

    def _anchor(self, mapping: MappingNode, key: str) -> int:
        """Where a new key goes: after the last key that sorts before it, else before the first key.

        Keys that another fix may remove are never anchors, so an insertion lands in the same
        place whether that removal happens before or after it.
        """
        before = [(k, v) for k, v in mapping.value
                  if isinstance(k, ScalarNode) and str(k.value) < key and k.value not in VOLATILE_KEYS]
        first_key = mapping.value[0][0]
        if not before:
            start = self.line_start(first_key.start_mark.index)
            if not self.text[start:first_key.start_mark.index].strip():
                return start
            before = [mapping.value[0]]  # the first key shares its line (a `- ` item): go after it
        return self.line_end(max(self.content_end(before[-1][1]) - 1, before[-1][0].end_mark.index))

    def _fill_null(self, path: Path, null: Node, value: Any, key_node: Node) -> list[Edit]:
        """``key:`` with nothing after it (or ``key: ~``) receives its value or a nested block.

        A comment after the key stays on the key's line.
        """
        written = null.end_mark.index > null.start_mark.index  # `~` or `null` is written out
        if not isinstance(value, dict):
            if written:
                return [Edit(null.start_mark.index, null.end_mark.index, scalar_text(value))]
            return [Edit(key_node.end_mark.index + 1, key_node.end_mark.index + 1, " " + scalar_text(value))]
        edits = []
        if written:
            gap_start = null.start_mark.index
            while gap_start > key_node.end_mark.index + 1 and self.text[gap_start - 1] in " \t":
                gap_start -= 1
            edits.append(Edit(gap_start, null.end_mark.index, ""))
        body = self._block(value, key_node.start_mark.column + self.indent_step)
        at = self.line_end(key_node.end_mark.index)
        if at == len(self.text) and not self.text.endswith("\n"):
            edits.append(Edit(at, at, self.newline + body.rstrip("\r\n")))
        else:
            edits.append(Edit(at, at, body))
        return edits

    def _add_flow(self, mapping: MappingNode, entries: dict[str, Any]) -> Edit:
        close = mapping.end_mark.index - 1
        if self.text[close] != "}":
            raise Unfixable("unexpected flow mapping layout")
        parts = ", ".join(f"{k}: {_flow(entries[k])}" for k in sorted(entries))
        if mapping.value:
            stripped = self.text[mapping.start_mark.index + 1:close].rstrip()
            at = mapping.start_mark.index + 1 + len(stripped)
            sep = "" if stripped.endswith(",") else ","
            return Edit(at, at, f"{sep} {parts}")
        return Edit(mapping.start_mark.index, mapping.end_mark.index, "{" + parts + "}")

    def _block(self, entries: dict[str, Any], indent: int) -> str:
        lines: list[str] = []
        pad = " " * indent
        for key in sorted(entries):
            value = entries[key]
            name = scalar_text(key)
            if isinstance(value, dict) and value:
                lines.append(f"{pad}{name}:")
                lines.append(self._block(value, indent + self.indent_step).rstrip("\r\n"))
            else:
                lines.append(f"{pad}{name}: {_flow(value)}")
        return self.newline.join(lines) + self.newline

    def remove_entry(self, path: Path) -> Edit:
        """Delete ``key: value`` with its lines (block mappings only, key on its own line)."""
        parent = self.node(path[:-1])
        if not isinstance(parent, MappingNode):
            raise Unfixable(f"{path[-1]} is not in a mapping")
        found = self.entry(parent, str(path[-1]))
        if found is None:
            raise Unfixable(f"{path[-1]} is absent")
        knode, vnode = found
        if parent.flow_style:
            raise Unfixable(f"{path[-1]} sits in a flow mapping")
        if len(parent.value) == 1:
            raise Unfixable(f"{path[-1]} is the only entry of its mapping")
        start = self.line_start(knode.start_mark.index)
        if self.text[start:knode.start_mark.index].strip():
            raise Unfixable(f"{path[-1]} does not start its own line")
        end = self.line_end(max(self.content_end(vnode) - 1, knode.end_mark.index))
        return Edit(start, end, "")

    def remove_item(self, path: Path) -> Edit:
        """Delete a block sequence item with its lines."""
        seq = self.node(path[:-1])
        index = path[-1]
        if not isinstance(seq, SequenceNode) or not isinstance(index, int) or seq.flow_style:
            raise Unfixable("not an item of a block sequence")
        if len(seq.value) == 1:
            raise Unfixable("the only item of its list")
        item = seq.value[index]
        start = self.line_start(item.start_mark.index)
        if self.text[start:item.start_mark.index].strip() != "-":
            raise Unfixable("the item does not start its own line")
        end = self.line_end(self.content_end(item) - 1)
        return Edit(start, end, "")


    def append_item(self, path: Path, value: Any) -> Edit:
        """Add an item at the end of a list, in the list's own style."""
        seq = self.node(path)
        if not isinstance(seq, SequenceNode):
            raise Unfixable(f"{_dotted(path)} is not a list")
        if seq.flow_style or not seq.value:
            close = seq.end_mark.index - 1
            if self.text[close] != "]":
                raise Unfixable("unexpected flow list layout")
            inner = self.text[seq.start_mark.index + 1:close].rstrip()
            at = seq.start_mark.index + 1 + len(inner)
            sep = ", " if inner.strip() and not inner.endswith(",") else ("" if not inner.strip() else " ")
            return Edit(at, at, sep + _flow(value))
        first = seq.value[0]
        dash = self.text.rfind("-", 0, first.start_mark.index)
        column = dash - self.line_start(dash)
        at = self.line_end(self.content_end(seq.value[-1]) - 1)
        prefix = "" if at == 0 or self.text[at - 1] == "\n" else self.newline
        return Edit(at, at, f"{prefix}{' ' * column}- {_flow(value)}{self.newline}")


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return scalar_text(value)


def _indent_step(root: Node) -> int:
    """The document's indentation width: the first block mapping nested under a block mapping key."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode) and not node.flow_style:
            for knode, vnode in node.value:
                if isinstance(vnode, MappingNode) and not vnode.flow_style and vnode.value:
                    step = vnode.value[0][0].start_mark.column - knode.start_mark.column
                    if step > 0:
                        return step
                stack.append(vnode)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return 2


def _is_null(node: Node | None) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)
