"""Plan, apply and verify fixes.

Every fix is proven before it is offered: applied to the file's text, the file is parsed and
scanned again; the targeted finding must be gone, no finding may appear that was not there,
and the parsed data must equal the original with exactly the fix's operations applied.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from fixes._edit import Document, Edit, Unfixable, apply
from fixes._model import Append, FixContext, FixSettings, Op, Remove, Safety, Set
from fixes._registry import fix_for
from rules import Config, Effect, Finding, scan_file
from rules._yaml import Path, YamlError, compose_documents, construct

MAX_ROUNDS = 500


@dataclass(frozen=True)
class FixResult:
    finding: Finding
    fixed: bool
    safety: Safety | None
    summary: str
    reason: str = ""  # why it is manual
    edits: tuple[Edit, ...] = ()
    before: str = ""
    after: str = ""


@dataclass
class FileFix:
    path: str
    before: str
    after: str
    results: list[FixResult] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after


def finding_key(f: Finding) -> tuple[Any, ...]:
    return (f.rule.id, f.document, f.resource, f.path)


def _documents(text: str) -> list[Any]:
    out = []
    for raw in compose_documents(text):
        if raw.error:
            raise Unfixable(f"the file does not parse: {raw.error.cause}")
        out.append((raw.node, construct(raw.node) if raw.node is not None else None))
    return out


def _edits(text: str, docs: list[Any], home: int, ops: list[Op]) -> list[Edit]:
    edits: list[Edit] = []
    for index in sorted({_doc_of(op, home) for op in ops}):
        node = docs[index][0]
        edits.extend(_doc_edits(Document(text, node), [op for op in ops if _doc_of(op, home) == index]))
    return edits


def _doc_of(op: Op, home: int) -> int:
    document = getattr(op, "document", None)
    return home if document is None else document


def _doc_edits(doc: Document, ops: list[Op]) -> list[Edit]:
    sets = [(op.path, op.value) for op in ops if isinstance(op, Set)]
    edits = doc.set_values(sets) if sets else []
    for op in ops:
        if isinstance(op, Remove):
            edits.append(doc.remove_item(op.path) if isinstance(op.path[-1], int) else doc.remove_entry(op.path))
        elif isinstance(op, Append):
            edits.append(doc.append_item(op.path, op.value))
    return edits


def simulate(data: Any, ops: list[Op]) -> Any:
    """The data the fix promises: the original with exactly these operations applied."""
    out = copy.deepcopy(data)
    removals: list[Path] = []
    for op in ops:
        if isinstance(op, Set):
            target = out
            for step in op.path[:-1]:
                if isinstance(target, dict):
                    if not isinstance(target.get(step), (dict, list)):
                        target[step] = {}
                    target = target[step]
                else:
                    target = target[step]
            target[op.path[-1]] = copy.deepcopy(op.value)
        elif isinstance(op, Append):
            _at(out, op.path).append(op.value)
        else:
            removals.append(op.path)
    for path in sorted(removals, key=lambda p: [str(s) if not isinstance(s, int) else f"{s:09d}" for s in p],
                       reverse=True):
        del _at(out, path[:-1])[path[-1]]
    return out


def _at(data: Any, path: Path) -> Any:
    for step in path:
        data = data[step]
    return data


def _remap(path: Path, ops: list[Op]) -> Path | None:
    """Where a path of the original sits after the fix's list-item removals (None: removed)."""
    removed = [op.path for op in ops if isinstance(op, Remove)]
    for r in removed:
        if path[: len(r)] == r:
            return None
    out = list(path)
    for r in removed:
        if isinstance(r[-1], int) and len(path) >= len(r) and tuple(path[: len(r) - 1]) == r[:-1]:
            index = path[len(r) - 1]
            if isinstance(index, int) and index > r[-1]:
                out[len(r) - 1] = out[len(r) - 1] - 1  # type: ignore[operator]
    return tuple(out)


def fix_finding(file: str, text: str, finding: Finding, config: Config, settings: FixSettings,
                before_findings: list[Finding] | None = None) -> FixResult:
    spec = fix_for(finding.rule.id)
    if spec is None:
        return FixResult(finding, False, None, "", "this rule has no automatic fix")
    try:
        docs = _documents(text)
        data = docs[finding.document][1]
        ctx = FixContext(finding, data, tuple(d for _, d in docs), config.rule(finding.rule.id).params, settings,
                         config.legacy)
        ops = spec.build(ctx)
        if not ops:
            raise Unfixable("nothing to change")
        edits = _edits(text, docs, finding.document, ops)
        after = apply(text, edits)
        _verify(file, text, after, finding, ops, docs, config, before_findings)
    except Unfixable as exc:
        return FixResult(finding, False, None, spec.summary, str(exc))
    except (YamlError, KeyError, IndexError, TypeError, ValueError) as exc:
        return FixResult(finding, False, None, spec.summary, f"no safe edit ({type(exc).__name__}: {exc})")
    return FixResult(finding, True, spec.safety_of(ops), spec.summary, "", tuple(edits), text, after)


def _verify(file: str, before: str, after: str, finding: Finding, ops: list[Op], docs: list[Any],
            config: Config, before_findings: list[Finding] | None) -> None:
    try:
        after_docs = _documents(after)
    except (Unfixable, YamlError) as exc:
        raise Unfixable(f"withdrawn: the edited file does not parse ({exc})") from None
    if len(after_docs) != len(docs):
        raise Unfixable("withdrawn: the edit changed the number of documents")
    for index, ((_, old), (_, new)) in enumerate(zip(docs, after_docs, strict=True)):
        mine = [op for op in ops if _doc_of(op, finding.document) == index]
        expected = simulate(old, mine) if mine else old
        if new != expected:
            raise Unfixable("withdrawn: the edit changed data outside the fix's own paths")
    if before_findings is None:
        before_findings = scan_file(file, before, config).findings
    after_report = scan_file(file, after, config)
    if after_report.problems != scan_file(file, before, config).problems:
        raise Unfixable("withdrawn: the edit changes what the scanner reports as problems")
    allowed = set()
    for f in before_findings:
        path = _remap(f.path, ops) if f.document == finding.document else f.path
        if path is not None:
            allowed.add((f.rule.id, f.document, f.resource, path))
    target = (finding.rule.id, finding.document, finding.resource, finding.path)
    for f in after_report.findings:
        key = finding_key(f)
        if key == target:
            raise Unfixable("withdrawn: the finding is still reported after the edit")
        if key not in allowed:
            raise Unfixable(f"withdrawn: the edit would introduce a new finding ({f.rule.id}: {f.message})")


def fix_file(file: str, text: str, config: Config, settings: FixSettings, *,
             rule_ids: Iterable[str] | None = None, max_safety: Safety = Safety.VALUE) -> FileFix:
    """Apply every verified fix the selection allows, one at a time, re-scanning in between.

    Fixes are applied in a canonical order and each insertion lands at a position that does not
    depend on the others, so the result equals fixing the findings one by one in any order.
    """
    selected = set(rule_ids) if rule_ids is not None else None
    result = FileFix(file, text, text)
    manual: dict[tuple[Any, ...], FixResult] = {}
    for _ in range(MAX_ROUNDS):
        findings = scan_file(file, result.after, config).findings
        candidates = sorted((f for f in findings if not f.suppressed and f.effect is not Effect.DISABLED
                             and (selected is None or f.rule.id in selected)
                             and finding_key(f) not in manual),
                            key=lambda f: (f.document, f.rule.id, [str(s) for s in f.path]))
        progressed = False
        for finding in candidates:
            attempt = fix_finding(file, result.after, finding, config, settings, findings)
            if attempt.fixed and attempt.safety is not None and attempt.safety.rank <= max_safety.rank:
                result.results.append(attempt)
                result.after = attempt.after
                progressed = True
                break
            if not attempt.fixed:
                manual[finding_key(finding)] = attempt
            else:
                manual[finding_key(finding)] = FixResult(finding, False, attempt.safety, attempt.summary,
                                                         f"not applied: the fix {attempt.safety.value} "
                                                         f"({attempt.summary}) is above the selected safety")
        if not progressed:
            break
    remaining = {finding_key(f) for f in scan_file(file, result.after, config).findings}
    original = {finding_key(f): f for f in scan_file(file, text, config).findings}
    for key, r in manual.items():
        if key in remaining:  # report it where it is in the file as given
            result.results.append(replace(r, finding=original.get(key, r.finding)))
    return result
