"""The scan: files in, findings, problems and per-resource verdicts out. Pure, file by file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from yaml.nodes import Node

from rules._config import Config, default_config
from rules._kinds import is_known
from rules._match import in_scope
from rules._model import (
    Effect,
    Finding,
    Problem,
    Report,
    ResourceVerdict,
    Rule,
    Suppression,
    Violation,
)
from rules._registry import all_rules
from rules._resource import ObjectView, PodView, as_dict, get, view
from rules._suppress import (
    ANNOTATION,
    REASON_ANNOTATION,
    CommentSuppression,
    comment_suppression,
    parse_comments,
    split_ids,
)
from rules._yaml import Path, YamlError, compose_documents, construct, locate


def decode(file: str, data: bytes) -> str | Problem:
    """UTF-8 text (a BOM is dropped), or a problem naming the line of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return Problem(file, line, column, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})")
    return text[1:] if text.startswith("\ufeff") else text


def scan(files: Iterable[tuple[str, str | bytes]], config: Config | None = None) -> Report:
    """Scan ``(path, content)`` pairs one at a time, so memory follows the largest file."""
    config = config or default_config()
    report = Report(unconfigured=config.unconfigured())
    for path, content in files:
        report.extend(scan_file(path, content, config))
    return report


def scan_file(file: str, content: str | bytes, config: Config) -> Report:
    report = Report(files=1)
    if isinstance(content, bytes):
        decoded = decode(file, content)
        if isinstance(decoded, Problem):
            report.problems.append(decoded)
            return report
        content = decoded
    text = content
    if "{{" in text:
        line = text.count("\n", 0, text.index("{{")) + 1
        report.problems.append(Problem(file, line, 1, "template syntax ({{ ... }}): render the chart or "
                                       "template first; file skipped", "skipped"))
        return report
    if "\x00" in text:
        report.problems.append(Problem(file, 1, 1, "binary content (NUL bytes); file skipped", "skipped"))
        return report
    comments, problems = parse_comments(file, text, frozenset(r.id for r in all_rules()))
    report.problems.extend(problems)
    enabled = [r for r in all_rules() if config.rule(r.id).effect is not Effect.DISABLED]
    for raw in compose_documents(text):
        if raw.error:
            report.problems.append(Problem(file, raw.error.line, raw.error.column,
                                           f"invalid YAML: {raw.error.cause}"))
            continue
        if raw.node is None:
            continue
        report.documents += 1
        try:
            data = construct(raw.node)
        except YamlError as exc:
            report.problems.append(Problem(file, exc.line, exc.column,
                                           f"document {raw.index + 1} skipped: {exc.cause}"))
            continue
        if data is None:
            continue
        if not isinstance(data, dict):
            line = raw.node.start_mark.line + 1
            report.problems.append(Problem(file, line, raw.node.start_mark.column + 1,
                                           f"document {raw.index + 1} is not a mapping "
                                           f"(a {type(data).__name__}); skipped"))
            continue
        for obj, base in _objects(file, data, raw.node, report):
            _evaluate(file, raw.index, raw.node, obj, base, config, enabled, comments, report)
    return report


def _objects(file: str, data: dict[Any, Any], node: Node, report: Report) -> Iterator[tuple[dict[Any, Any], Path]]:
    """The Kubernetes objects of a document: itself, or the items of a ``kind: List``."""
    kind, api = data.get("kind"), data.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api, str):
        return
    if kind == "List" or (kind.endswith("List") and isinstance(data.get("items"), list)):
        for index, item in enumerate(data.get("items") or []):
            if isinstance(item, dict):
                yield item, ("items", index)
            else:
                key, _ = locate(node, ("items", index))
                report.problems.append(Problem(file, key.start_mark.line + 1, key.start_mark.column + 1,
                                               f"List item {index} is not a mapping; skipped"))
        return
    yield data, ()


def _evaluate(file: str, doc: int, node: Node, obj: dict[Any, Any], base: Path, config: Config,
              enabled: list[Rule], comments: list[CommentSuppression], report: Report) -> None:
    kind, api = obj.get("kind"), obj.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api, str) or not is_known(kind, api):
        return
    obj_view = view(obj, base, config.default_namespace)
    labels = obj_view.labels if isinstance(obj_view, PodView) else as_dict(get(obj, "metadata", "labels"))
    ignored, reason = _annotation_suppression(file, node, obj_view, report)
    for rule in enabled:
        if kind not in rule.kinds:
            continue
        rc = config.rule(rule.id)
        if not in_scope(obj_view.namespace, labels, rc.params):
            continue
        try:
            violations = list(rule.check(obj_view, rc.params, config.legacy))
        except Exception as exc:  # a rule bug must not lose the rest of the review
            line = node.start_mark.line + 1
            report.problems.append(Problem(file, line, 1, f"rule {rule.id} failed on {obj_view.resource}: "
                                           f"{type(exc).__name__}: {exc}", "internal"))
            continue
        healthy = True
        for violation in _collapse(violations):
            finding = _finding(file, doc, node, rule, rc.effect, obj_view, violation)
            suppression = None
            if rule.id in ignored and reason:
                suppression = Suppression("annotation", reason)
            else:
                suppression = comment_suppression(comments, rule.id, finding.line)
            if suppression:
                finding = _with_suppression(finding, suppression)
            else:
                healthy = False
            report.findings.append(finding)
        report.verdicts.append(ResourceVerdict(file, doc, obj_view.resource, rule.id, healthy))


def _collapse(violations: list[Violation]) -> list[Violation]:
    """Rego's violation set: identical messages are one violation (their places are kept as related)."""
    merged: dict[str, Violation] = {}
    for v in violations:
        first = merged.get(v.message)
        if first is None:
            merged[v.message] = v
        else:
            extra = tuple(p for p in (v.path, *v.related) if p != first.path and p not in first.related)
            merged[v.message] = Violation(first.path, first.message, first.container, first.related + extra)
    return list(merged.values())


def _position(node: Node, path: Path) -> tuple[int, int]:
    found, _ = locate(node, path)
    return found.start_mark.line + 1, found.start_mark.column + 1


def _finding(file: str, doc: int, node: Node, rule: Rule, effect: Effect, obj: ObjectView,
             v: Violation) -> Finding:
    line, column = _position(node, v.path)
    related = tuple((p, _position(node, p)[0]) for p in v.related)
    return Finding(rule=rule, effect=effect, file=file, line=line, column=column, path=v.path,
                   resource=obj.resource, document=doc, container=v.container, message=v.message,
                   related=related)


def _with_suppression(finding: Finding, suppression: Suppression) -> Finding:
    return replace(finding, suppression=suppression)


def _annotation_suppression(file: str, node: Node, obj: ObjectView,
                            report: Report) -> tuple[frozenset[str], str]:
    """Rule ids suppressed by annotations on the object or its pod template, and the reason."""
    places: list[tuple[Path, dict[Any, Any]]] = [((*obj.base, "metadata", "annotations"),
                                                  as_dict(get(obj.obj, "metadata", "annotations")))]
    if isinstance(obj, PodView) and obj.template:
        places.append(((*obj.meta_path, "annotations"), obj.annotations))
    ids: set[str] = set()
    reason = ""
    for path, notes in places:
        if ANNOTATION not in notes:
            continue
        text = notes.get(ANNOTATION)
        why = notes.get(REASON_ANNOTATION)
        line, column = _position(node, (*path, ANNOTATION))
        if not isinstance(why, str) or not why.strip():
            report.problems.append(Problem(file, line, column, f"{ANNOTATION} on {obj.resource} has no "
                                           f"{REASON_ANNOTATION}; not applied", "suppression"))
            continue
        named = split_ids(str(text))
        unknown = sorted(named - {r.id for r in all_rules()})
        if unknown:
            report.problems.append(Problem(file, line, column, f"{ANNOTATION} names unknown rule(s) "
                                           f"{', '.join(unknown)}", "suppression"))
        ids |= named
        reason = why.strip()
    return frozenset(ids), reason
