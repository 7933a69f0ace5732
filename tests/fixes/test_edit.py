"""Edge cases of the text-edit engine (``fixes._edit``) that no golden needs a whole manifest for."""

from __future__ import annotations

from typing import Any

import pytest

from fixes import Edit, Unfixable, apply
from fixes._edit import Document, finish_edits
from rules._yaml import compose_documents, construct


def _doc(text: str) -> Document:
    return Document(text, next(compose_documents(text)).node)


def set_values(text: str, *assignments: tuple[tuple[Any, ...], Any]) -> str:
    after = apply(text, _doc(text).set_values(list(assignments)))
    next(compose_documents(after))  # still parses
    return after


def remove(text: str, path: tuple[Any, ...]) -> str:
    doc = _doc(text)
    edit = doc.remove_item(path) if isinstance(path[-1], int) else doc.remove_entry(path)
    return apply(text, finish_edits(text, [edit]))


def append(text: str, path: tuple[Any, ...], value: Any) -> str:
    return apply(text, [_doc(text).append_item(path, value)])


def data(text: str) -> Any:
    return construct(next(compose_documents(text)).node)


def test_inserted_lines_take_the_line_break_of_the_line_above() -> None:
    text = "a:\r\n  x: 1\r\nb:\n  y: 1\n"
    assert set_values(text, (("a", "z"), 2), (("b", "z"), 3)) == "a:\r\n  x: 1\r\n  z: 2\r\nb:\n  y: 1\n  z: 3\n"


def test_a_space_before_the_colon() -> None:
    assert set_values("a :\nb: 1\n", (("a",), 1)) == "a : 1\nb: 1\n"
    assert set_values("a :\nb: 1\n", (("a", "c"), 1)) == "a :\n  c: 1\nb: 1\n"


def test_a_custom_tag_is_not_rewritten() -> None:
    with pytest.raises(Unfixable, match="custom tag"):
        set_values("a: !flag true\n", (("a",), 80))
    assert set_values("a: !!str x\n", (("a",), "z")) == "a: !!str z\n"


def test_the_nearest_indentation_wins_in_a_mixed_file() -> None:
    text = "top:\n    four: {}\n    deep:\n        x: 1\nother:\n  two:\n    y: 1\n  new:\n"
    assert set_values(text, (("other", "new", "k"), 1)).endswith("  new:\n    k: 1\n")
    assert "    deep:\n        x: 1\n        z: 1\n" in set_values(text, (("top", "deep", "z"), 1))


def test_new_first_key_goes_above_its_comment_but_not_above_a_deeper_one() -> None:
    text = "m:\n  # about b\n  b: 1\n"
    assert set_values(text, (("m", "a"), 0)) == "m:\n  a: 0\n  # about b\n  b: 1\n"
    text = "m:\n    # a note about m\n  b: 1\n"
    assert set_values(text, (("m", "a"), 0)) == "m:\n    # a note about m\n  a: 0\n  b: 1\n"


def test_a_deeper_comment_and_the_blank_lines_under_it_stay_with_the_entry_above() -> None:
    """After an entry or first under the holding key, a key goes below a comment deeper than the keys (what a
    removal or emptying of the entry's content leaves) and the blank lines under it: the same place both ways."""
    assert set_values("m:\n  a: 1\n    # deeper\n\n  c: 1\n", (("m", "b"), 0)) == \
        "m:\n  a: 1\n    # deeper\n\n  b: 0\n  c: 1\n"
    assert set_values("m:\n    # deeper\n\n  # about c\n  c: 1\n", (("m", "b"), 0)) == \
        "m:\n    # deeper\n\n  b: 0\n  # about c\n  c: 1\n"
    assert set_values("m:\n  a: 1\n\n  c: 1\n", (("m", "b"), 0)) == "m:\n  a: 1\n  b: 0\n\n  c: 1\n"  # no comment
    # one blank line under the comment is its own; a further one stays below the new key
    assert set_values("m:\n    # deeper\n\n\n  c: 1\n", (("m", "b"), 0)) == "m:\n    # deeper\n\n  b: 0\n\n  c: 1\n"
    # `key: {}` is filled where a first key would go: below a comment deeper than the new keys
    assert set_values("m: {}\n    # deeper\n\nz: 1\n", (("m", "a"), 1)) == "m:\n    # deeper\n\n  a: 1\nz: 1\n"
    assert set_values("m: {}\n  # at the new keys' column\nz: 1\n", (("m", "a"), 1)) == \
        "m:\n  a: 1\n  # at the new keys' column\nz: 1\n"


def test_a_removable_key_never_anchors_an_insertion() -> None:
    """A key some fix removes (``FixSpec.removes``) is no anchor: the insertion lands in the same place with the
    key there or removed (regression: ``resources`` went after a ``ports`` list the host-port fix removes)."""
    text = "c:\n  image: x\n  securityContext: {}\n  ports:\n  - hostPort: 80\n"
    gone = remove(text, ("c", "ports"))
    removable = frozenset({"ports"})
    for before in (text, gone):
        doc = Document(before, next(compose_documents(before)).node, removable)
        after = apply(before, doc.set_values([(("c", "resources", "cpu"), "1")]))
        assert after.startswith('c:\n  image: x\n  resources:\n    cpu: "1"\n  securityContext: {}\n')
    # without the declaration the key anchors: after `ports` while it is there
    assert set_values(text, (("c", "resources", "cpu"), 1)).endswith("  - hostPort: 80\n  resources:\n    cpu: 1\n")


def test_a_key_goes_after_the_last_removable_key_that_sorts_before_it() -> None:
    """A run of keys a fix may remove right after the anchor: the new key goes after the last of them that sorts
    before it (``ports``), past one that does not (``volumeMounts``), so removing that one before or after the
    insertion gives one text (regression: ``resources`` went before ``volumeMounts``, and after ``ports`` once
    ``volumeMounts`` was gone). Removing ``ports`` and keeping ``volumeMounts`` still depends on the order: the
    limit ``Document._anchor`` describes."""
    text = "c:\n  image: x\n  volumeMounts: []\n  ports: []\n  z: 1\n"
    removable = frozenset({"ports", "volumeMounts"})

    def insert(before: str) -> str:
        doc = Document(before, next(compose_documents(before)).node, removable)
        return apply(before, doc.set_values([(("c", "resources"), 1)]))

    assert insert(text) == "c:\n  image: x\n  volumeMounts: []\n  ports: []\n  resources: 1\n  z: 1\n"
    assert remove(insert(text), ("c", "volumeMounts")) == insert(remove(text, ("c", "volumeMounts")))


@pytest.mark.parametrize(("text", "path", "expected"), [
    ("l: [a, b, c]\n", ("l", 1), "l: [a, c]\n"),
    ("l: [a, b, c]\n", ("l", 2), "l: [a, b]\n"),
    ("l: [a]\n", ("l", 0), "l: []\n"),
    ("m: {a: 1, b: 2,}\n", ("m", "b"), "m: {a: 1,}\n"),
    ("m: {\n  a: 1,\n  b: 2\n}\n", ("m", "a"), "m: {\n  b: 2\n}\n"),
    ("m: {\n  a: 1,\n  b: 2\n}\n", ("m", "b"), "m: {\n  a: 1\n}\n"),
    ("l:\n- a\n", ("l", 0), "l: []\n"),
    ("l:  # keep\n  - a\nz: 1\n", ("l", 0), "l: []  # keep\nz: 1\n"),
    ("x: &x 1\nl:\n- *x\n- b\n", ("l", 0), "x: &x 1\nl:\n- b\n"),
    ("l:\n- a\n- b", ("l", 1), "l:\n- a"),
    ("l:\r\n- a\r\n- b", ("l", 1), "l:\r\n- a"),
])
def test_removals(text: str, path: tuple[Any, ...], expected: str) -> None:
    assert remove(text, path) == expected
    assert data(expected) is not None


@pytest.mark.parametrize(("text", "path", "expected"), [
    ("m:\n  a: 1\n\n  b: 2\nz: 1\n", ("m", "b"), "m:\n  a: 1\nz: 1\n"),  # the last entry: the blank goes too
    ("m:\n  a: 1\n\n  # about b\n  b: 2\n", ("m", "b"), "m:\n  a: 1\n"),  # ... above its comment
    ("m:\n  a: 1\n\n  b: 2\n  c: 3\n", ("m", "b"), "m:\n  a: 1\n\n  c: 3\n"),  # not the last: it stays
    ("m:\n  a:\n    x: 1\n    # deeper\n\n  b: 2\n", ("m", "b"), "m:\n  a:\n    x: 1\n    # deeper\n\n"),
    ("m:\n\n  b: 2\nz: 1\n", ("m", "b"), "m: {}\nz: 1\n"),  # emptied: the blank under the key goes
    ("m:  # keep\n  # c\n\n  b: 2\nz: 1\n", ("m", "b"), "m: {}  # keep\n  # c\n\nz: 1\n"),  # under a comment
    ("m:\n  a: 1\n\n  b: 2\n  # after\nz: 1\n", ("m", "b"), "m:\n  a: 1\n\n  # after\nz: 1\n"),  # a comment after
    ("m:\n  a: 1\n  # c\n\n\n  b: 2\nz: 1\n", ("m", "b"), "m:\n  a: 1\n  # c\n\nz: 1\n"),  # one stays under it
    ("m:\n  a: 1\n\n  b: 2\n# about z\nz: 1\n", ("m", "b"), "m:\n  a: 1\n# about z\nz: 1\n"),  # a shallower one
    ("l:\n- a\n\n- b\nz: 1\n", ("l", 1), "l:\n- a\nz: 1\n"),
    ("l:\n- a\n\n- b\n- c\n", ("l", 1), "l:\n- a\n\n- c\n"),
    ("l:\r\n\r\n- a\r\nz: 1\r\n", ("l", 0), "l: []\r\nz: 1\r\n"),
    ("m:\r\n  a: 1\r\n  \r\n  b: 2\r\n", ("m", "b"), "m:\r\n  a: 1\r\n"),  # a blank line of spaces, CRLF
    ("m:\n  a: 1\n\n  b: 2", ("m", "b"), "m:\n  a: 1"),  # still no final newline
    ("m:\n\n  b: 2", ("m", "b"), "m: {}"),
])
def test_a_blank_line_goes_with_a_removed_entry_that_leaves_nothing_after_it(
        text: str, path: tuple[Any, ...], expected: str) -> None:
    assert remove(text, path) == expected


@pytest.mark.parametrize(("text", "path", "expected"), [
    ("m:\n  a: 1\n  b:\n    x: 1\n    # about b\n\n  c: 1\n", ("m", "b"), "m:\n  a: 1\n  c: 1\n"),
    ("m:\n  a: 1\n  b: 2\n      # about b\n  c: 1\n", ("m", "b"), "m:\n  a: 1\n  c: 1\n"),
    ("l:\n- a\n- b\n  # about b\n- c\n", ("l", 1), "l:\n- a\n- c\n"),
    ("m:\n  a: 1\n  b: 2\n  # about c\n  c: 1\n", ("m", "b"), "m:\n  a: 1\n  # about c\n  c: 1\n"),
])
def test_a_removed_entry_takes_the_deeper_comments_after_it(text: str, path: tuple[Any, ...], expected: str) -> None:
    """A comment deeper than the keys after an entry belongs to it (insertions after the entry go below it, see
    ``Document._past_entry``), so it goes with the entry, with the blank lines among and under it; left behind
    it would belong to the entry above, and a key inserted after that one would land on another side of it
    depending on whether the removal came first (regression of the composition property)."""
    assert remove(text, path) == expected


def test_entries_removed_together_leave_no_blank_line_at_the_end() -> None:
    text = "m:\n  a: 1\n\n  b: 2\n\n  c: 3\nz: 1\n"
    doc = _doc(text)
    paths = [("m", "b"), ("m", "c")]
    assert apply(text, finish_edits(text, [doc.remove_entry(p, paths) for p in paths])) == "m:\n  a: 1\nz: 1\n"


def test_an_emptied_mapping_with_a_blank_line_composes_with_an_insertion_after_it() -> None:
    """``c:`` with a blank line above its only entry, which is removed, then ``c`` filled in again, and a key
    inserted after ``c``: either order gives one text (the composition property's BLANK_BEFORE_EMPTIED_ONLY_KEY)."""
    text = "m:\n  c:\n\n    add: 1\n  z: 1\n"
    removable = frozenset({"c", "add"})

    def insert(before: str, path: tuple[Any, ...], value: Any) -> str:
        doc = Document(before, next(compose_documents(before)).node, removable)
        return apply(before, doc.set_values([(path, value)]))

    def empty_and_fill(before: str) -> str:
        return insert(remove(before, ("m", "c", "add")), ("m", "c", "drop"), 1)

    inserted_first = empty_and_fill(insert(text, ("m", "r"), 1))
    emptied_first = insert(empty_and_fill(text), ("m", "r"), 1)
    assert inserted_first == emptied_first == "m:\n  c:\n    drop: 1\n  r: 1\n  z: 1\n"


def test_removing_an_anchor_that_is_used_elsewhere_is_refused() -> None:
    with pytest.raises(Unfixable, match="anchor &v"):
        remove("l:\n- &v {a: 1}\n- b\nm: *v\n", ("l", 0))
    assert remove("l:\n- &v {a: 1}\n- b\n", ("l", 0)) == "l:\n- b\n"  # an unused anchor goes with its item


def test_editing_inside_an_alias_is_refused_but_replacing_it_is_local() -> None:
    text = "a: &s {x: 1}\nb: *s\n"
    with pytest.raises(Unfixable, match=r"b is the YAML alias \*s"):
        set_values(text, (("b", "y"), 2))
    t = "a: &t 1\nb: *t\n"
    assert set_values(t, (("b",), 2)) == "a: &t 1\nb: 2\n"


def test_append_keeps_the_list_style_and_a_missing_final_newline() -> None:
    assert append("l:\n  - a\n  - b", ("l",), "c") == "l:\n  - a\n  - b\n  - c"
    assert append("l: [a]\n", ("l",), "b") == "l: [a, b]\n"
    assert append("l: &x []\n", ("l",), "b") == "l: &x [b]\n"


def test_quoting_is_kept_where_it_can_hold_the_value() -> None:
    assert set_values("a: 'x'\n", (("a",), "it's")) == "a: 'it''s'\n"
    assert set_values("a: 'x'\n", (("a",), "two\nlines")) == 'a: "two\\nlines"\n'
    assert set_values('a: "x"\n', (("a",), 80)) == "a: 80\n"
    assert set_values("a: x\n", (("a",), "true")) == 'a: "true"\n'
    for text in ("1:30", "1e3", "0x1F", "2001-12-14", "Yes", "~", "1_000"):  # YAML 1.1 would read another type
        assert set_values("a: x\n", (("a",), text)) == f'a: "{text}"\n'
    assert set_values("a: x\n", (("a",), "registry.example.com/app:1.2")) == "a: registry.example.com/app:1.2\n"


def test_deletions_merge_and_the_file_still_ends_without_a_newline() -> None:
    text = "a: 1\nb: 2\nc: 3"
    merged = finish_edits(text, [Edit(5, 10, ""), Edit(10, 14, "")])
    assert merged == [Edit(4, 14, "")] and apply(text, merged) == "a: 1"
    assert finish_edits(text, [Edit(5, 10, ""), Edit(8, 14, "")]) == [Edit(4, 14, "")]
    with pytest.raises(Unfixable, match="overlapping"):
        finish_edits(text, [Edit(5, 10, "x"), Edit(8, 14, "")])
