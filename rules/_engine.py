"""The scan: files in, findings, problems and per-resource verdicts out. Pure, file by file."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rules._config import MATCH_KEYS, Config, RuleConfig, default_config
from rules._kinds import is_known
from rules._match import in_scope, reads_labels
from rules._model import (
    Effect,
    Problem,
    Report,
    Rule,
    Suppression,
    Violation,
    new_finding,
    new_verdict,
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
from rules._yaml import Located, Path, YamlError, compose_documents


def decode(file: str, data: bytes) -> str | Problem:
    """UTF-8 text (a BOM is dropped), or a problem naming the line of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[start:exc.start].decode("utf-8")) + 1  # in characters, as libyaml counts them
        return Problem(file, line, column, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})")
    return text[1:] if text.startswith("\ufeff") else text


@dataclass(frozen=True)
class _Plan:
    """What the scan needs from the configuration, worked out once per scan rather than per file or object."""

    known: frozenset[str]  # every rule id (suppression comments may name any)
    # the enabled rules with their configuration and scope key: rules whose match parameters
    # (MATCH_KEYS, all that ``in_scope`` reads) are equal share one ``in_scope`` answer per object
    enabled: tuple[tuple[Rule, RuleConfig, str], ...]
    legacy: bool = False
    # per kind, what ``_evaluate`` reads of each enabled rule that applies to it, in rule order:
    # (rule, rule id, check, parameters, effect, scope key)
    by_kind: dict[str, tuple[tuple[Rule, str, Any, dict[str, Any], Effect, str], ...]] = field(default_factory=dict)
    # scope keys whose label selector is empty: their ``in_scope`` answer depends on the namespace alone,
    # and is remembered per (scope key, namespace) for the whole scan in ``by_namespace``
    selectorless: frozenset[str] = frozenset()
    by_namespace: dict[tuple[str, str], bool] = field(default_factory=dict)


def _plan(config: Config) -> _Plan:
    enabled = []
    for rule in all_rules():
        rc = config.rule(rule.id)
        if rc.effect is not Effect.DISABLED:
            enabled.append((rule, rc, repr([rc.params.get(key) for key in MATCH_KEYS])))
    kinds = {kind for rule, _, _ in enabled for kind in rule.kinds}
    by_kind = {kind: tuple((rule, rule.id, rule.check, rc.params, rc.effect, scope_key)
                           for rule, rc, scope_key in enabled if kind in rule.kinds) for kind in kinds}
    selectorless = frozenset(scope_key for _, rc, scope_key in enabled if not reads_labels(rc.params))
    return _Plan(frozenset(r.id for r in all_rules()), tuple(enabled), config.legacy, by_kind, selectorless)


def scan(files: Iterable[tuple[str, str | bytes]], config: Config | None = None) -> Report:
    """Scan ``(path, content)`` pairs one at a time, so memory follows the largest file.

    While it runs, Python's cyclic garbage collector only collects the young generations: its
    automatic full collections walk every live object, the findings and verdicts kept so far
    included, so on a long stream they made the scan superlinear (10x the files took ~12x the
    time). Young collections still run after each file once the usual threshold is passed, so
    a cycle a file leaves behind is reclaimed as before; the state of ``gc`` is restored at the end.
    """
    config = config or default_config()
    plan = _plan(config)
    report = Report(unconfigured=config.unconfigured())
    collecting = gc.isenabled()
    threshold = gc.get_threshold()[0]
    if collecting:
        gc.disable()
    try:
        for path, content in files:
            report.extend(_scan_file(path, content, config, plan))
            if collecting and gc.get_count()[0] > threshold:
                gc.collect(1)
    finally:
        if collecting:
            gc.enable()
    return report


def scan_file(file: str, content: str | bytes, config: Config) -> Report:
    return _scan_file(file, content, config, _plan(config))


def _scan_file(file: str, content: str | bytes, config: Config, plan: _Plan) -> Report:
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
    comments, problems = parse_comments(file, text, plan.known)
    report.problems.extend(problems)
    for raw in compose_documents(text):
        if raw.error:
            report.problems.append(Problem(file, raw.error.line, raw.error.column,
                                           f"invalid YAML: {raw.error.cause}"))
            continue
        if raw.node is None:
            continue
        try:
            located = Located(raw.node)
            data = located.data
        except YamlError as exc:
            report.documents += 1
            report.problems.append(Problem(file, exc.line, exc.column,
                                           f"document {raw.index + 1} skipped: {exc.cause}"))
            continue
        if data is None:  # an empty document (`---` with nothing after it)
            continue
        report.documents += 1
        if not isinstance(data, dict):
            line = raw.node.start_mark.line + 1
            report.problems.append(Problem(file, line, raw.node.start_mark.column + 1,
                                           f"document {raw.index + 1} is not a mapping "
                                           f"(a {type(data).__name__}); skipped"))
            continue
        for obj, base in _objects(file, data, located, report):
            _evaluate(file, raw.index, located, obj, base, config, plan, comments, report)
    return report


def _objects(file: str, data: dict[Any, Any], located: Located,
             report: Report) -> Iterator[tuple[dict[Any, Any], Path]]:
    """The Kubernetes objects of a document: itself, or the items of a ``kind: List``."""
    kind, api = data.get("kind"), data.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api, str):
        return
    if kind == "List" or (kind.endswith("List") and isinstance(data.get("items"), list)):
        for index, item in enumerate(data.get("items") or []):
            if isinstance(item, dict):
                yield item, ("items", index)
            else:
                line, column = located.position(("items", index))
                report.problems.append(Problem(file, line, column,
                                               f"List item {index} is not a mapping; skipped"))
        return
    yield data, ()


def _evaluate(file: str, doc: int, located: Located, obj: dict[Any, Any], base: Path, config: Config,
              plan: _Plan, comments: list[CommentSuppression], report: Report) -> None:
    kind, api = obj.get("kind"), obj.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api, str) or not is_known(kind, api):
        return
    obj_view = view(obj, base, config.default_namespace)
    labels = obj_view.labels if isinstance(obj_view, PodView) else as_dict(get(obj, "metadata", "labels"))
    ignored = _annotation_suppression(file, located, obj_view, report)
    applying = plan.by_kind.get(kind, ())
    if not applying:
        return
    legacy = plan.legacy
    resource = obj_view.resource
    namespace = obj_view.namespace
    position = located.position
    findings = report.findings
    verdicts = report.verdicts
    scoped: dict[str, bool] = {}  # scope key -> in_scope answer for this object
    selectorless = plan.selectorless
    by_namespace = plan.by_namespace
    for rule, rule_id, check, params, effect, scope_key in applying:
        matched = scoped.get(scope_key)
        if matched is None:
            if scope_key in selectorless:
                matched = by_namespace.get((scope_key, namespace))
                if matched is None:
                    matched = by_namespace[scope_key, namespace] = in_scope(namespace, labels, params)
            else:
                matched = in_scope(namespace, labels, params)
            scoped[scope_key] = matched
        if not matched:
            continue
        try:
            violations = check(obj_view, params, legacy)
            if violations.__class__ is not list:  # the rules return lists; any other iterable is read once
                violations = list(violations)
        except Exception as exc:  # a rule bug must not lose the rest of the review
            line = located.root.start_mark.line + 1
            report.problems.append(Problem(file, line, 1, f"rule {rule_id} failed on {resource}: "
                                           f"{type(exc).__name__}: {exc}", "internal"))
            continue
        healthy = True
        if violations:
            for v in _collapse(violations) if len(violations) > 1 else violations:
                # built at once with its suppression (new_finding: a Finding, without dataclass overhead)
                line, column = position(v.path)
                related = tuple([(p, position(p)[0]) for p in v.related]) if v.related else ()
                if rule_id in ignored:
                    suppression: Suppression | None = Suppression("annotation", ignored[rule_id])
                else:
                    suppression = comment_suppression(comments, rule_id, line) if comments else None
                    if suppression is None:
                        healthy = False
                findings.append(new_finding(rule, effect, file, line, column, v.path, resource, doc,
                                            v.container, v.message, related, suppression))
        verdicts.append(new_verdict(file, doc, resource, rule_id, healthy))


def _collapse(violations: list[Violation]) -> list[Violation]:
    """Rego's violation set: identical messages are one violation (their places are kept as related)."""
    if len(violations) < 2:
        return violations
    if len(violations) == 2:  # the usual case (two findings for one container): no set to build
        if violations[0].message != violations[1].message:
            return violations
    elif len({v.message for v in violations}) == len(violations):
        return violations  # no message twice: nothing to merge
    merged: dict[str, Violation] = {}
    for v in violations:
        first = merged.get(v.message)
        if first is None:
            merged[v.message] = v
        else:
            extra = tuple(p for p in (v.path, *v.related) if p != first.path and p not in first.related)
            merged[v.message] = Violation(first.path, first.message, first.container, first.related + extra)
    return list(merged.values())


def _annotation_suppression(file: str, located: Located, obj: ObjectView, report: Report) -> dict[str, str]:
    """Rule ids suppressed by annotations on the object or its pod template, each with its own reason."""
    own = as_dict(get(obj.obj, "metadata", "annotations"))
    template = isinstance(obj, PodView) and obj.template
    if ANNOTATION not in own and not (template and ANNOTATION in obj.annotations):  # type: ignore[attr-defined]
        return {}  # the usual case: no suppression annotation at all
    places: list[tuple[Path, dict[Any, Any]]] = [((*obj.base, "metadata", "annotations"), own)]
    if template:
        places.append(((*obj.meta_path, "annotations"), obj.annotations))  # type: ignore[attr-defined]
    ignored: dict[str, str] = {}
    for path, notes in places:
        if ANNOTATION not in notes:
            continue
        text = notes.get(ANNOTATION)
        why = notes.get(REASON_ANNOTATION)
        line, column = located.position((*path, ANNOTATION))
        if not isinstance(why, str) or not why.strip():
            report.problems.append(Problem(file, line, column, f"{ANNOTATION} on {obj.resource} has no "
                                           f"{REASON_ANNOTATION}; not applied", "suppression"))
            continue
        named = split_ids(str(text))
        unknown = sorted(named - {r.id for r in all_rules()})
        if unknown:
            report.problems.append(Problem(file, line, column, f"{ANNOTATION} names unknown rule(s) "
                                           f"{', '.join(unknown)}", "suppression"))
        for rule_id in named:
            ignored.setdefault(rule_id, why.strip())
    return ignored
