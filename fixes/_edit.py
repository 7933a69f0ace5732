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

from rules._yaml import Path, _Resolver, construct, value_node


class Unfixable(Exception):
    """No correct minimal edit exists; the message says what to change by hand."""


@dataclass(frozen=True, order=True)
class Edit:
    start: int  # character offset in the file text
    end: int
    text: str


def merge_edits(edits: Iterable[Edit]) -> list[Edit]:
    """The edits in order, overlapping or adjacent deletions merged into one (they delete the union of
    their spans); any other overlap has no single meaning and is refused."""
    out: list[Edit] = []
    for edit in sorted(set(edits)):
        if out and not edit.text and not out[-1].text and edit.start <= out[-1].end:
            out[-1] = Edit(out[-1].start, max(out[-1].end, edit.end), "")
        elif out and edit.start < out[-1].end:
            raise Unfixable("overlapping edits")
        else:
            out.append(edit)
    return out


def finish_edits(text: str, edits: Iterable[Edit]) -> list[Edit]:
    """A fix's edits, merged; in a file without a final newline, a deletion of its last lines takes the
    line break before them instead, so the file still ends without one."""
    out = merge_edits(edits)
    if out and not out[-1].text and out[-1].end == len(text) and text and not text.endswith("\n"):
        start = out[-1].start
        if start > 0 and text[start - 1] == "\n":
            start -= 2 if start > 1 and text[start - 2] == "\r" else 1
            out = merge_edits([*out[:-1], Edit(start, len(text), "")])
    return out


def apply(text: str, edits: Iterable[Edit]) -> str:
    out, cursor = [], 0
    for edit in merge_edits(edits):
        out.append(text[cursor:edit.start])
        out.append(edit.text)
        cursor = edit.end
    out.append(text[cursor:])
    return "".join(out)


_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:@-]*$")
_RESOLVER = _Resolver()


def scalar_text(value: Any) -> str:
    """A YAML flow scalar for ``value``; strings are quoted where a plain scalar would read as something
    else (``yes``, ``1:30``, ``1e3``, a date: YAML 1.1 as the scanner reads it)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if _PLAIN_SAFE.match(text) and _RESOLVER.resolve(ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str":
        return text
    return json.dumps(text)


def styled_text(value: Any, style: str | None) -> str:
    """``value`` written in the quoting style of the scalar it replaces, where that style can hold it."""
    if isinstance(value, str) and style == '"':
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and style == "'" and not any(ch in value for ch in "\r\n\t"):
        return "'" + value.replace("'", "''") + "'"
    return scalar_text(value)


_ALIAS = re.compile(r"\*[^\s,\[\]{}]+")
_PROPERTY = re.compile(r"[&!][^\s,\[\]{}]*[ \t]*")  # an anchor or a tag before a node's content


class Document:
    """One YAML document of a file, with the helpers to turn paths into text spans.

    ``volatile``: the mapping keys that some fix may remove (``FixSpec.removes``). They are never insertion
    anchors, so an insertion lands in the same place whether such a removal happens before or after it.
    """

    def __init__(self, text: str, root: Node, volatile: frozenset[str] = frozenset()) -> None:
        self.text = text
        self.root = root
        self.volatile = volatile
        crlf = text.count("\r\n")
        self.newline = "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"
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
            return self.entry_end(node, node.value[-1])  # an alias as the last value ends at its token
        if isinstance(node, SequenceNode) and node.value and node.flow_style is not True:
            return self.value_span(node, len(node.value) - 1)[1]
        return node.end_mark.index

    def newline_at(self, at: int) -> str:
        """The line break for lines inserted at ``at``: the one ending the line above (else the file's)."""
        if at > 0 and self.text[at - 1] == "\n":
            return "\r\n" if at > 1 and self.text[at - 2] == "\r" else "\n"
        nl = self.text.find("\n", at)
        if nl > 0:
            return "\r\n" if self.text[nl - 1] == "\r" else "\n"
        return self.newline

    def insert_lines(self, at: int, lines: list[str]) -> Edit:
        """Whole lines inserted at a line start, or after the last line of a file without a final newline."""
        nl = self.newline_at(at)
        if at == len(self.text) and self.text and not self.text.endswith("\n"):
            return Edit(at, at, "".join(nl + line for line in lines))  # the file still ends without one
        return Edit(at, at, "".join(line + nl for line in lines))

    def body_start(self, node: Node) -> int:
        """Where a node's content starts, after its anchor (``&a``) and tag (``!!str``)."""
        index = node.start_mark.index
        while True:
            prop = _PROPERTY.match(self.text, index)
            if not prop or prop.end() == index:
                return index
            index = prop.end()

    def alias_span(self, after: int) -> tuple[int, int]:
        """The ``*name`` token of an alias written after offset ``after`` (past a key's colon or a dash)."""
        found = _ALIAS.search(self.text, after)
        if found is None or self.text[after:found.start()].strip(" \t\r\n:-,[?"):
            raise Unfixable("a YAML alias is written where the value should be")
        return found.start(), found.end()

    def value_span(self, holder: Node, step: str | int) -> tuple[int, int, bool]:
        """The text of the value at ``step`` of ``holder`` as written there: (start, end, is an alias).

        A value reached through an alias has the marks of its anchor, somewhere before; its text
        here is the ``*name`` token, which is what an edit of this one place must change.
        """
        if isinstance(holder, MappingNode):
            found = self.entry(holder, str(step))
            if found is None:
                raise Unfixable(f"{step} is absent")
            knode, vnode = found
            if vnode.start_mark.index < knode.end_mark.index:
                return (*self.alias_span(knode.end_mark.index), True)
            return self.body_start(vnode), self.content_end(vnode), False
        if not isinstance(holder, SequenceNode) or not isinstance(step, int):
            raise Unfixable("not a mapping or a list")
        cursor = self.body_start(holder)
        for index, item in enumerate(holder.value[: step + 1]):
            if item.start_mark.index >= cursor:
                span = (self.body_start(item), self.content_end(item), False)
            else:
                span = (*self.alias_span(cursor), True)
            if index == step:
                return span
            cursor = span[1]
        raise Unfixable("no such list item")

    # ---- lookups ----------------------------------------------------------------------------------------
    def node(self, path: Path) -> Node | None:
        return value_node(self.root, path)

    def reach(self, path: Path) -> Node | None:
        """The node at ``path`` for editing inside it: a collection reached through an alias is refused,
        as an edit there would land at its anchor and change every other place that uses it."""
        node: Node | None = self.root
        for depth, step in enumerate(path):
            child = value_node(node, (step,)) if node is not None else None
            if child is None:
                return None
            if isinstance(child, (MappingNode, SequenceNode)):
                start, end, alias = self.value_span(node, step)
                if alias:
                    raise Unfixable(f"{_dotted(path[:depth + 1])} is the YAML alias {self.text[start:end]}, shared "
                                    "with its anchor: change the anchored value by hand")
            node = child
        return node

    def _aliases_of(self, anchors: Iterable[str], outside: tuple[int, int]) -> list[str]:
        """The anchors among ``anchors`` that an alias of this document uses outside the span ``outside``."""
        end = self.root.end_mark.index
        used = []
        for name in anchors:
            token = re.compile(r"\*" + re.escape(name) + r"(?![^\s,\[\]{}])")
            if any(not outside[0] <= m.start() < outside[1] for m in token.finditer(self.text, 0, end)):
                used.append(name)
        return used

    def check_anchors(self, start: int, end: int) -> None:
        """Refuse to rewrite or delete the span when it defines an anchor used elsewhere."""
        anchors = re.findall(r"(?:^|[\s\[{,:-])&([^\s,\[\]{}]+)", self.text[start:end])
        used = self._aliases_of(anchors, (start, end))
        if used:
            raise Unfixable(f"the edit would change the anchor &{used[0]}, which *{used[0]} uses elsewhere: "
                            "change it by hand")

    def entry(self, mapping: MappingNode, key: str) -> tuple[Node, Node] | None:
        for knode, vnode in mapping.value:
            if isinstance(knode, ScalarNode) and knode.value == key:
                return knode, vnode
        return None

    # ---- operations -------------------------------------------------------------------------------------
    def replace_scalar(self, path: Path, value: Any) -> Edit:
        """The scalar's own text replaced; its anchor, tag, quoting style and an alias's anchor are kept."""
        node = self.node(path)
        if not isinstance(node, ScalarNode):
            raise Unfixable(f"{path[-1]} is not a plain value")
        if node.style in ("|", ">"):
            raise Unfixable(f"{path[-1]} is a block scalar")
        holder = self.reach(path[:-1]) if path else None
        if holder is None:
            raise Unfixable("the document is a scalar")
        start, end, alias = self.value_span(holder, path[-1])
        if alias:
            return Edit(start, end, scalar_text(value))
        new = styled_text(value, node.style)
        props = self.text[node.start_mark.index:start].split()
        self.check_anchors(node.start_mark.index, end)  # `&a true` edited here would change every `*a`
        tags = [p for p in props if p.startswith("!")]
        if not tags:
            return Edit(start, end, new)
        if any(not _tag_fits(tag, value) for tag in tags):
            if any(not tag.startswith("!!") for tag in tags):
                raise Unfixable(f"{path[-1]} carries the custom tag {tags[0]}")
            kept = [p for p in props if not p.startswith("!")]  # the standard tag no longer fits: drop it
            return Edit(node.start_mark.index, end, "".join(f"{p} " for p in kept) + new)
        return Edit(start, end, new)

    def set_values(self, assignments: list[tuple[Path, Any]]) -> list[Edit]:
        """Edits that give every path its value: scalars replaced in place, missing keys inserted.

        New keys go right after the last existing key that sorts before them (or first), so the
        result does not depend on the order fixes are applied in; created blocks list their keys
        in sorted order, at the indentation of the mapping they join (nested by the width used around it).
        A value already in place needs no edit.
        """
        edits: list[Edit] = []
        created: dict[Path, dict[str, Any]] = {}
        for path, value in assignments:
            existing = self.node(path)
            if isinstance(existing, ScalarNode) and not _is_null(existing) and not isinstance(value, dict):
                current = construct(existing)
                if current == value and type(current) is type(value):
                    continue  # already so: no edit
                edits.append(self.replace_scalar(path, value))
                continue
            depth = len(path)
            while depth > 0 and self.node(path[:depth]) is None:
                depth -= 1
            self.reach(path[:depth] if depth < len(path) else path[:-1])
            if depth == len(path):  # the path exists as a null or a collection: fill it in
                if not _is_null(existing):
                    raise Unfixable(f"{path[-1]} already has a value")
                depth -= 1
            anchor = path[:depth]
            holder = self.node(anchor)
            if depth + 1 < len(path) and isinstance(holder, MappingNode) and _merged(holder, str(path[depth])):
                raise Unfixable(f"{path[depth]} comes from a YAML merge key (<<): change the mapping it merges")
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
        if not parent.value and parent_path:  # `key: {}` under a block mapping is filled like `key:`
            holder = self.node(parent_path[:-1])
            found = self.entry(holder, str(parent_path[-1])) if isinstance(holder, MappingNode) else None
            if found is not None and not holder.flow_style:
                return self._fill_null(parent_path, parent, entries, found[0])
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
            return [*edits, *self._add_flow(parent, fresh)]
        indent = parent.value[0][0].start_mark.column
        step = self.step_near(parent_path)
        groups: dict[int, dict[str, Any]] = {}
        for key in sorted(fresh):
            groups.setdefault(self._anchor(parent, key), {})[key] = fresh[key]
        for at, group in groups.items():
            edits.append(self.insert_lines(at, self._block(group, indent, step)))
        return edits

    def step_near(self, path: Path) -> int:
        """The indentation width around ``path``: from the nearest mapping (it, then its ancestors) that
        nests a block mapping, else the document's."""
        for depth in range(len(path), -1, -1):
            node = self.node(path[:depth])
            if isinstance(node, MappingNode) and not node.flow_style:
                for knode, vnode in node.value:
                    if (isinstance(vnode, MappingNode) and not vnode.flow_style and vnode.value
                            and vnode.start_mark.index > knode.end_mark.index):
                        step = vnode.value[0][0].start_mark.column - knode.start_mark.column
                        if step > 0:
                            return step
        return self.indent_step

    def _anchor(self, mapping: MappingNode, key: str) -> int:
        """Where a new key goes: after the last key that sorts before it, else before the first key.

        Keys that another fix may remove are never anchors, so an insertion lands in the same place
        whether that removal happens before or after it. Such keys that follow the place directly, one
        after the other (no comment or blank line between: inserted there, or removed without trace),
        are a run: the new key goes after the last of them that sorts before it, so two insertions land
        in the same order either way, and removing a key of the run that sorts after it (`volumeMounts`
        before `ports`, for `resources`) does not move it.
        The run's keys are never reordered, so when one that sorts after the new key survives ahead of
        one that sorts before it and goes later, the orders can still disagree (`volumeMounts` kept,
        `ports` removed): no placement settles both, and this one keeps sorted keys sorted.
        """
        entries = mapping.value
        before = [i for i, (k, _) in enumerate(entries)
                  if isinstance(k, ScalarNode) and str(k.value) < key and k.value not in self.volatile]
        first_key = entries[0][0]
        column = first_key.start_mark.column
        start = self.line_start(first_key.start_mark.index)
        if not before and not self.text[start:first_key.start_mark.index].strip():
            # first under the holding key, above blank lines and comments: where filling the `{}` left by removing
            # every key puts it, and the same place whether a first key that a fix removes is still there or gone
            index, at = -1, self._below_content(start, column)
        else:
            index = before[-1] if before else 0  # the first key shares its line (a `- ` item): go after it
            at = self._past_entry(self.entry_end(mapping, entries[index]), column)
        cursor = at
        for knode, vnode in entries[index + 1:]:
            if not (isinstance(knode, ScalarNode) and knode.value in self.volatile
                    and self.line_start(knode.start_mark.index) == cursor):
                break
            cursor = self._past_entry(self.entry_end(mapping, (knode, vnode)), column)
            if str(knode.value) < key:
                at = cursor
        return at

    def _past_entry(self, end: int, column: int) -> int:
        """The start of the line after an entry whose text ends at ``end``, and after the comment lines deeper
        than ``column`` that follow it, with the blank lines among and under them: a deeper comment belongs
        to the entry above it (as in ``_below_content``), and stays where it is when a fix removes or
        empties that entry's content, so a key inserted after the entry goes after it either way."""
        return self._past_deeper_comments(self.line_end(end - 1), column)

    def _past_deeper_comments(self, at: int, column: int) -> int:
        """From the line start ``at``: past the comments deeper than ``column`` there, the blank lines among them
        and one blank line under the last, if there is such a comment (else ``at``: blank lines alone stay
        below an insertion, and so do the further ones under the comments, which removals of the entries
        between them may have left: one order of the fixes would have inserted above those entries)."""
        cursor = past = at
        under = False  # the blank line under the last deeper comment is taken
        while cursor < len(self.text):
            following = self.line_end(cursor)
            line = self.text[cursor:following].rstrip("\r\n")
            if line.strip():
                if not line.lstrip().startswith("#") or len(line) - len(line.lstrip()) <= column:
                    break
                past, under = following, False
            elif past > at and not under:
                past, under = following, True
            cursor = following
        return past

    def entry_end(self, mapping: MappingNode, entry: tuple[Node, Node]) -> int:
        """Offset just past the text of a mapping entry's value (its alias token, for an alias)."""
        knode, vnode = entry
        if vnode.start_mark.index < knode.end_mark.index:  # an alias
            return self.value_span(mapping, str(knode.value))[1]
        return max(self.content_end(vnode), knode.end_mark.index + 1)

    def _below_content(self, start: int, column: int) -> int:
        """The start of the line under the last line above ``start`` that holds more than blank space or a
        comment at most ``column`` deep (a deeper comment belongs to the line above it, and so do the blank
        lines under it)."""
        while start > 0:
            above = self.line_start(start - 1)
            line = self.text[above:start].rstrip("\r\n")
            if line.strip() and not line.lstrip().startswith("#"):
                break
            if line.strip() and len(line) - len(line.lstrip()) > column:
                # a deeper comment, with the blank lines under it, belongs to the line above (``_past_entry``)
                return self._past_deeper_comments(above, column)
            start = above
        return start

    def _above_comments(self, start: int, column: int) -> int:
        """The start of the comment lines right above the line at ``start`` at the same column: a comment
        belongs to the key (or item) below it, so nothing is inserted between them, and it goes with them."""
        while start > 0:
            above = self.line_start(start - 1)
            line = self.text[above:start].rstrip("\r\n")
            if not line.lstrip(" ").startswith("#") or len(line) - len(line.lstrip(" ")) != column:
                break
            start = above
        return start

    def _fill_null(self, path: Path, null: Node, value: Any, key_node: Node) -> list[Edit]:
        """``key:`` with nothing after it (or ``key: ~``, ``key: {}``) receives its value or a nested block.

        A comment after the key stays on the key's line; in a flow mapping the value is written in flow style.
        """
        holder = self.node(path[:-1])
        start, end, _ = self.value_span(holder, path[-1])
        written = end > start  # `~`, `null` or an alias is written out
        if not written:
            colon = self.text.find(":", key_node.end_mark.index)
            if colon < 0 or self.text[key_node.end_mark.index:colon].strip():
                raise Unfixable(f"{path[-1]} has no value to fill in")
            start = end = colon + 1
        if not isinstance(value, dict) or (isinstance(holder, MappingNode) and holder.flow_style):
            return [Edit(start, end, (" " if not written else "") + _flow(value))]
        edits = []
        if written:
            gap_start = start
            while gap_start > key_node.end_mark.index + 1 and self.text[gap_start - 1] in " \t":
                gap_start -= 1
            edits.append(Edit(gap_start, end, ""))
        step = self.step_near(path[:-1])
        indent = key_node.start_mark.column + step
        # below the comments deeper than the new keys right under the key's line, where a first key inserted
        # into a mapping goes (``_below_content``): filling ``key: {}`` left by a removal or adding to the
        # mapping before that removal gives the same text
        at = self._past_deeper_comments(self.line_end(max(end, key_node.end_mark.index) - 1), indent)
        edits.append(self.insert_lines(at, self._block(value, indent, step)))
        return edits

    def _add_flow(self, mapping: MappingNode, entries: dict[str, Any]) -> list[Edit]:
        """New entries of a flow mapping, placed as in a block mapping: after the last key that sorts
        before them (keys a fix may remove excepted), else before the first key."""
        close = mapping.end_mark.index - 1
        opening = self.body_start(mapping)
        if self.text[close] != "}" or self.text[opening] != "{":
            raise Unfixable("unexpected flow mapping layout")

        def parts(group: dict[str, Any]) -> str:
            return ", ".join(f"{scalar_text(k)}: {_flow(group[k])}" for k in sorted(group))

        if not mapping.value:
            return [Edit(opening, mapping.end_mark.index, "{" + parts(entries) + "}")]
        groups: dict[tuple[int, bool], dict[str, Any]] = {}
        for key in sorted(entries):
            before = [i for i, (k, _) in enumerate(mapping.value)
                      if isinstance(k, ScalarNode) and str(k.value) < key and k.value not in self.volatile]
            index = before[-1] if before else -1
            place = (self.entry_end(mapping, mapping.value[index]), True) if before else \
                (self.body_start(mapping.value[0][0]), False)
            for knode, vnode in mapping.value[index + 1:]:  # step over removable keys, as in a block mapping
                if not (isinstance(knode, ScalarNode) and knode.value in self.volatile and str(knode.value) < key):
                    break
                place = (self.entry_end(mapping, (knode, vnode)), True)
            groups.setdefault(place, {})[key] = entries[key]
        return [Edit(at, at, f", {parts(group)}" if after else f"{parts(group)}, ")
                for (at, after), group in groups.items()]

    def _block(self, entries: dict[str, Any], indent: int, step: int) -> list[str]:
        """Block mapping lines (without line breaks) for ``entries``, keys sorted, nested by ``step``."""
        lines: list[str] = []
        pad = " " * indent
        for key in sorted(entries):
            value = entries[key]
            name = scalar_text(key)
            if isinstance(value, dict) and value:
                lines.append(f"{pad}{name}:")
                lines.extend(self._block(value, indent + step, step))
            else:
                lines.append(f"{pad}{name}: {_flow(value)}")
        return lines

    def remove_entry(self, path: Path, together: Iterable[Path] = ()) -> Edit:
        """Delete ``key: value`` with its lines (from a flow mapping: the entry and one separator): the comment
        right above it at its column and the comments deeper than it after it go too (they are its own).

        ``together``: the other paths the same fix removes (the entries after this one among them do not
        count as left after it: see ``_gap_above``).
        """
        edit = self._unterminated(self._remove_entry(path, frozenset(together)))
        self.check_anchors(edit.start, edit.end)
        return edit

    def remove_item(self, path: Path, together: Iterable[Path] = ()) -> Edit:
        """Delete a list item with its lines (from a flow list: the item and one separator)."""
        edit = self._unterminated(self._remove_item(path, frozenset(together)))
        self.check_anchors(edit.start, edit.end)
        return edit

    def _gap_above(self, start: int, end: int, column: int) -> int:
        """The start of the blank lines right above the line at ``start``, which a removed entry (or item) at
        ``column`` whose lines end at ``end``, with no entry left after it in its collection, takes along.

        A blank line between two lines of content separates two entries of a collection (or a key from its
        first entry); with the entry below it gone and nothing after it, it separates nothing the author wrote.
        Taking it is also what makes fixes compose: keys are inserted above such an entry (a removable key is
        never an anchor), so without it the blank line would end up on one side of an inserted key or the
        other depending on the order of the fixes. Next to a comment they stay: under one, a blank line stays
        (taken, it would join the comment to the next key, whose own comment it would become, or move it from a
        deeper entry's lines to the next's; the others are what removals of the entries between left, and go,
        so that removing those entries first or last leaves the same), and all do when a comment at least as
        deep as the entry follows it before the next line of content (one between two entries: the entry above,
        removed later, would take its blank lines too, and not when removed first). A shallower comment there
        is the next key's, seen or not depending on whether a removable key between them is still there.
        """
        cursor = end
        while cursor < len(self.text):
            following = self.line_end(cursor)
            line = self.text[cursor:following].rstrip("\r\n")
            if line.lstrip().startswith("#") and len(line) - len(line.lstrip()) >= column:
                return start
            if line.strip():
                break
            cursor = following
        cursor = start
        while cursor > 0:
            above = self.line_start(cursor - 1)
            line = self.text[above:cursor].strip()
            if line.startswith("#"):  # one blank line stays under it
                return start if cursor == start else self.line_end(cursor)
            if line:
                break
            cursor = above
        return cursor

    def _unterminated(self, edit: Edit) -> Edit:
        """In a file without a final newline, ``key: {}`` written on the holding key's line, now the last
        one, gets none either (deletions of the last lines: see ``finish_edits``)."""
        if edit.end < len(self.text) or self.text.endswith("\n") or not edit.text.endswith("\n"):
            return edit
        return Edit(edit.start, edit.end, edit.text.removesuffix("\n").removesuffix("\r"))

    def _remove_entry(self, path: Path, together: frozenset[Path]) -> Edit:
        parent = self.reach(path[:-1])
        if not isinstance(parent, MappingNode):
            raise Unfixable(f"{path[-1]} is not in a mapping")
        index = next((i for i, (k, _) in enumerate(parent.value)
                      if isinstance(k, ScalarNode) and k.value == str(path[-1])), None)
        if index is None:
            if _merged(parent, str(path[-1])):
                raise Unfixable(f"{path[-1]} comes from a YAML merge key (<<): change the mapping it merges")
            raise Unfixable(f"{path[-1]} is absent")
        entry = parent.value[index]
        knode = entry[0]
        spans = [(self.body_start(k), self.entry_end(parent, (k, v))) for k, v in parent.value]
        if parent.flow_style:
            return self._remove_flow(parent, spans, index)
        start = self.line_start(knode.start_mark.index)
        column = knode.start_mark.column
        end = self._past_entry(spans[index][1], column)  # with the deeper comments that belong to it
        if len(parent.value) == 1:
            return self._emptied(path[:-1], self._gap_above(self._above_comments(start, column), end, column),
                                 end, "{}")
        lead = self.text[start:knode.start_mark.index]
        if lead.strip():
            if index != 0 or lead.strip(" -"):
                raise Unfixable(f"{path[-1]} does not start its own line")
            # the first key of a `- ` item: the next key moves up onto the dash's line
            following = parent.value[1][0]
            if self.line_start(following.start_mark.index) == end:
                return Edit(knode.start_mark.index, following.start_mark.index, "")
            return Edit(knode.start_mark.index, end, "")
        first = self._above_comments(start, column)  # with the comment above it
        if all((*path[:-1], k.value) in together for k, _ in parent.value[index + 1:] if isinstance(k, ScalarNode)):
            first = self._gap_above(first, end, column)  # no entry left after it
        return Edit(first, end, "")

    def _remove_item(self, path: Path, together: frozenset[Path]) -> Edit:
        seq = self.reach(path[:-1])
        index = path[-1]
        if not isinstance(seq, SequenceNode) or not isinstance(index, int) or not 0 <= index < len(seq.value):
            raise Unfixable("not an item of a list")
        found = [self.value_span(seq, i) for i in range(len(seq.value))]
        spans = [(start, end) for start, end, _ in found]
        if seq.flow_style:
            return self._remove_flow(seq, spans, index)
        item = seq.value[index]
        first = spans[index][0] if found[index][2] else item.start_mark.index  # with its anchor or tag
        start = self.line_start(first)
        if self.text[start:first].strip() != "-":
            raise Unfixable("the item does not start its own line")
        column = self.text.index("-", start) - start
        end = self._past_entry(spans[index][1], column)  # with the deeper comments that belong to it
        if len(seq.value) == 1:
            return self._emptied(path[:-1], self._gap_above(start, end, column), end, "[]")
        first = self._above_comments(start, column)  # with the comment above it
        if all((*path[:-1], later) in together for later in range(index + 1, len(seq.value))):
            first = self._gap_above(first, end, column)  # no item left after it
        return Edit(first, end, "")

    def _remove_flow(self, coll: Node, spans: list[tuple[int, int]], index: int) -> Edit:
        """Remove entry ``index`` of a flow collection with the separator after it (the last: before it)."""
        if len(spans) == 1:
            opening, close = self.body_start(coll), coll.end_mark.index - 1
            if self.text[opening] not in "[{" or self.text[close] not in "]}":
                raise Unfixable("unexpected flow collection layout")
            return Edit(opening + 1, close, "")
        if index + 1 < len(spans):
            return Edit(spans[index][0], spans[index + 1][0], "")
        return Edit(spans[index - 1][1], spans[index][1], "")

    def _emptied(self, path: Path, start: int, end: int, empty: str) -> Edit:
        """The only entry of a block collection removed: the key that holds it gets ``{}`` or ``[]``.

        One edit from the holding key's colon to the end of the removed lines; the key's own line
        (a comment, trailing spaces) is kept, and so are the comment lines between it and the removed entry;
        the entry's own comments go with it, and so do the blank lines right above them when no comment is next
        to them, as when the last entry of a collection is removed (``_gap_above``): ``key: {}`` filled later,
        or keys inserted before the entry was removed, give the same text.
        """
        holder = self.node(path[:-1]) if path else None
        found = self.entry(holder, str(path[-1])) if isinstance(holder, MappingNode) else None
        if found is None or holder.flow_style:
            raise Unfixable(f"{_dotted(path) or 'the document'} would be left empty")
        knode, _ = found
        colon = self.text.find(":", knode.end_mark.index)
        key_line_end = self.line_end(colon)
        rest = self.text[colon + 1:key_line_end]
        if colon < 0 or self.text[knode.end_mark.index:colon].strip() or key_line_end > start \
                or (rest.strip() and not rest.strip().startswith("#")):
            raise Unfixable(f"{_dotted(path)} would be left empty")
        return Edit(colon + 1, end, f" {empty}{rest}{self.text[key_line_end:start]}")

    def append_item(self, path: Path, value: Any) -> Edit:
        """Add an item at the end of a list, in the list's own style."""
        seq = self.reach(path)
        if not isinstance(seq, SequenceNode):
            raise Unfixable(f"{_dotted(path)} is not a list")
        if seq.flow_style or not seq.value:
            close = seq.end_mark.index - 1
            opening = self.body_start(seq)
            if self.text[close] != "]" or self.text[opening] != "[":
                raise Unfixable("unexpected flow list layout")
            inner = self.text[opening + 1:close].rstrip()
            at = opening + 1 + len(inner)
            sep = ", " if inner.strip() and not inner.endswith(",") else ("" if not inner.strip() else " ")
            return Edit(at, at, sep + _flow(value))
        first_start = self.value_span(seq, 0)[0]
        dash = self.text.rfind("-", 0, first_start)
        column = dash - self.line_start(dash)
        last_end = self.value_span(seq, len(seq.value) - 1)[1]
        return self.insert_lines(self.line_end(last_end - 1), [f"{' ' * column}- {_flow(value)}"])


def _tag_fits(tag: str, value: Any) -> bool:
    kinds = {"!!str": str, "!!int": int, "!!bool": bool, "!!float": float}
    kind = kinds.get(tag)
    return kind is not None and isinstance(value, kind) and (kind is bool) == isinstance(value, bool)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar_text(k)}: {_flow(value[k])}" for k in sorted(value)) + "}"
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


def _merged(mapping: MappingNode, key: str, depth: int = 0) -> bool:
    """True when ``key`` reaches ``mapping`` through a YAML merge key (``<<: *defaults``)."""
    for knode, vnode in mapping.value:
        if knode.tag != "tag:yaml.org,2002:merge" or depth > 50:
            continue
        for source in vnode.value if isinstance(vnode, SequenceNode) else [vnode]:
            if not isinstance(source, MappingNode):
                continue
            if any(isinstance(k, ScalarNode) and k.value == key for k, _ in source.value):
                return True
            if _merged(source, key, depth + 1):
                return True
    return False


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
