"""Plan, apply and verify fixes.

Every fix is proven before it is offered: applied to the file's text, the file is parsed and
scanned again; the targeted finding must be gone, no finding may appear that was not there,
and the parsed data must equal the original with exactly the fix's operations applied.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import rules
from fixes._edit import Document, Edit, Unfixable, apply, finish_edits
from fixes._model import Append, FixContext, FixSettings, Op, Remove, Safety, Set
from fixes._registry import fix_for, removable_keys
from rules import Config, Effect, Finding, Problem, Report, scan_file
from rules._yaml import Path, YamlError, compose_documents, construct, format_path


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
    problems: list[Problem] = field(default_factory=list)  # what the scan of the file as given could not read

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
        mine = [op for op in ops if _doc_of(op, home) == index]
        edits.extend(_doc_edits(Document(text, node, removable_keys()), mine))
    return finish_edits(text, edits)


def _doc_of(op: Op, home: int) -> int:
    document = getattr(op, "document", None)
    return home if document is None else document


def _doc_edits(doc: Document, ops: list[Op]) -> list[Edit]:
    sets = [(op.path, op.value) for op in ops if isinstance(op, Set)]
    edits = doc.set_values(sets) if sets else []
    removed = [op.path for op in ops if isinstance(op, Remove)]
    for op in ops:
        if isinstance(op, Remove):
            remove = doc.remove_item if isinstance(op.path[-1], int) else doc.remove_entry
            edits.append(remove(op.path, removed))
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


def _scan(file: str, text: str, config: Config) -> Report:
    return scan_file(file, text, config)


class _State:
    """A text of the file with its scan, and (composed once, on demand) its documents."""

    def __init__(self, text: str, report: Report, docs: list[Any] | None = None) -> None:
        self.text = text
        self.report = report
        self._docs = docs

    def docs(self) -> list[Any]:
        if self._docs is None:
            self._docs = _documents(self.text)
        return self._docs


def fix_finding(file: str, text: str, finding: Finding, config: Config, settings: FixSettings,
                before_findings: list[Finding] | None = None) -> FixResult:
    """Compute, apply and verify the fix of one finding of ``text`` (a manual result when none verifies)."""
    report = _scan(file, text, config)
    if before_findings is not None:
        report = Report(findings=list(before_findings), problems=report.problems)
    return _attempt(file, _State(text, report), finding, config, settings)[0]


def _attempt(file: str, state: _State, finding: Finding, config: Config,
             settings: FixSettings) -> tuple[FixResult, _State | None]:
    spec = fix_for(finding.rule.id)
    if spec is None:
        return FixResult(finding, False, None, "", "this rule has no automatic fix"), None
    try:
        docs = state.docs()
        data = docs[finding.document][1]
        ctx = FixContext(finding, data, tuple(d for _, d in docs), config.rule(finding.rule.id).params, settings,
                         config.legacy)
        ops = spec.build(ctx)
        if not ops:
            raise Unfixable("nothing to change")
        edits = _edits(state.text, docs, finding.document, ops)
        after = apply(state.text, edits)
        if after == state.text:
            raise Unfixable("nothing to change")
        after_state = _verify(file, state, after, finding, ops, config)
    except Unfixable as exc:
        return FixResult(finding, False, None, spec.summary, str(exc)), None
    except (YamlError, KeyError, IndexError, TypeError, ValueError) as exc:
        return FixResult(finding, False, None, spec.summary, f"no safe edit ({type(exc).__name__}: {exc})"), None
    return FixResult(finding, True, spec.safety_of(ops), spec.summary, "", tuple(edits), state.text, after), after_state


def _problems(report: Report) -> Counter[tuple[str, str]]:
    """What the scanner could not read, regardless of where: an edit above a problem moves its line."""
    return Counter((p.kind, p.cause) for p in report.problems)


def _verify(file: str, before: _State, after: str, finding: Finding, ops: list[Op], config: Config) -> _State:
    docs = before.docs()
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
    _keep_suppressed(before.report, docs, after_docs, finding, ops)
    after_report = _scan(file, after, config)
    if _problems(after_report) != _problems(before.report):
        raise Unfixable("withdrawn: the edit changes what the scanner reports as problems")
    allowed: dict[tuple[Any, ...], set[bool]] = {}
    for f in before.report.findings:
        path = _remap(f.path, ops) if f.document == finding.document else f.path
        if path is not None:
            allowed.setdefault((f.rule.id, f.document, f.resource, path), set()).add(f.suppressed)
    # where the target would be now: a removed node's path may be taken by a later list item's finding
    target_path = _remap(finding.path, ops)
    target = (finding.rule.id, finding.document, finding.resource, target_path)
    for f in after_report.findings:
        key = finding_key(f)
        if target_path is not None and key == target:
            raise Unfixable("withdrawn: the finding is still reported after the edit")
        if key not in allowed:
            raise Unfixable(f"withdrawn: the edit would introduce a new finding ({f.rule.id}: {f.message})")
        if f.suppressed not in allowed[key]:
            raise Unfixable(f"withdrawn: the edit moves a line under or away from a kubeguard:ignore comment "
                            f"({f.rule.id} would be {'hidden' if f.suppressed else 'reported again'})")
    return _State(after, after_report, after_docs)


_MISSING = object()


def _value_at(data: Any, path: Path) -> Any:
    for step in path:
        there = isinstance(data, dict) and step in data
        if not (there or (isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data))):
            return _MISSING
        data = data[step]
    return data


def _keep_suppressed(report: Report, docs: list[Any], after_docs: list[Any], finding: Finding,
                     ops: list[Op]) -> None:
    """A suppressed finding marks a value its author keeps on purpose: no fix of another finding changes it
    (the privilege-escalation fix would otherwise also unset a deliberately kept ``privileged: true``)."""
    for f in report.findings:
        mine = [op for op in ops if _doc_of(op, finding.document) == f.document]
        if f.suppression is None or not mine:
            continue
        old = _value_at(docs[f.document][1], f.path)
        moved = _remap(f.path, mine) if f.document == finding.document else f.path
        new = _MISSING if moved is None else _value_at(after_docs[f.document][1], moved)
        if old is not new and (type(old) is not type(new) or old != new):
            raise Unfixable(f"the fix would change {format_path(f.path)}, which a suppression of {f.rule.id} keeps "
                            f"as written ({f.suppression.reason}): change it by hand, or lift the suppression")


def _candidates(report: Report, selected: frozenset[str] | None, skip: dict[tuple[Any, ...], FixResult]) \
        -> list[Finding]:
    return sorted((f for f in report.findings if not f.suppressed and f.effect is not Effect.DISABLED
                   and (selected is None or f.rule.id in selected) and finding_key(f) not in skip),
                  key=lambda f: (f.document, f.rule.id, [str(s) for s in f.path]))


def _run(file: str, state: _State, config: Config, settings: FixSettings, selected: frozenset[str] | None,
         max_safety: Safety) -> tuple[list[FixResult], dict[tuple[Any, ...], FixResult], _State]:
    """Fix one finding at a time in the canonical order, each verified against the text it edits.

    A finding whose fix failed is tried again once later fixes have changed the text (one may have
    unblocked it). Every applied fix removes a finding and adds none, so this ends.
    """
    applied: list[FixResult] = []
    manual: dict[tuple[Any, ...], FixResult] = {}
    retried_at = 0  # how many fixes were applied when the findings put aside were last tried
    while True:
        progressed = False
        for finding in _candidates(state.report, selected, manual):
            attempt, after = _attempt(file, state, finding, config, settings)
            if attempt.fixed and attempt.safety is not None and attempt.safety.rank <= max_safety.rank:
                assert after is not None
                applied.append(attempt)
                state = after
                progressed = True
                break
            if not attempt.fixed:
                manual[finding_key(finding)] = attempt
            else:
                manual[finding_key(finding)] = FixResult(finding, False, attempt.safety, attempt.summary,
                                                         f"not applied: the fix {attempt.safety.value} "
                                                         f"({attempt.summary}) is above the selected safety")
        if not progressed:
            if manual and len(applied) > retried_at:
                retried_at = len(applied)
                manual.clear()
                continue
            return applied, manual, state


# ---- files of many documents: each fixed on its own ------------------------------------------------------

# Rules whose fix may edit another document of the file (a Deployment's port and the Services that target
# it): fixed over the whole file, after the documents are fixed one by one.
CROSS_DOCUMENT = frozenset({"container-allowed-ports"})
_MARKER = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
_PREAMBLE = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]*(?:#[^\n]*)?")


@dataclass
class _Piece:
    """A run of whole documents of the file, from a ``---`` line to the next (the first from the top)."""

    start: int  # offset in the original text
    text: str
    first_document: int
    first_line: int  # 0-based line of the file where the piece starts
    report: Report


def _pieces(file: str, text: str, config: Config, whole: Report) -> list[_Piece] | None:
    """The file cut at its ``---`` lines, if every piece read alone scans exactly as it does in the file.

    Findings of a document depend only on that document (and on comments, by line), so each piece can be
    fixed as a file of its own: a fix is then verified in time proportional to its document, not the file.
    """
    cuts = [m.start() for m in _MARKER.finditer(text) if m.start() > 0]
    if not cuts:
        return None
    if _PREAMBLE.fullmatch(text, 0, cuts[0]):  # comments only above the first `---`: they go with it
        cuts = cuts[1:]
    bounds = [0, *cuts, len(text)]
    pieces: list[_Piece] = []
    document = 0
    for start, end in itertools.pairwise(bounds):
        piece = text[start:end]
        report = _scan(file, piece, config)
        pieces.append(_Piece(start, piece, document, text.count("\n", 0, start), report))
        document += sum(1 for _ in compose_documents(piece))
    if len(pieces) < 2 or _signature(whole) != sorted(
            (s for p in pieces for s in _signature(p.report, p.first_document, p.first_line)), key=repr):
        return None
    return pieces


def _signature(report: Report, document: int = 0, line: int = 0) -> list[tuple[Any, ...]]:
    out = [("finding", f.rule.id, f.document + document, f.resource, tuple(map(str, f.path)), f.line + line,
            f.column, f.suppressed, f.message, f.effect.value) for f in report.findings]
    out += [("problem", p.kind, p.cause, p.line + line, p.column) for p in report.problems]
    return sorted(out, key=repr)


def _lift(finding: Finding, document: int, line: int) -> Finding:
    if not document and not line:
        return finding
    return replace(finding, document=finding.document + document, line=finding.line + line,
                   related=tuple((p, n + line) for p, n in finding.related))


def _by_pieces(file: str, text: str, config: Config, settings: FixSettings, selected: frozenset[str] | None,
               max_safety: Safety, whole: Report, pieces: list[_Piece]) \
        -> tuple[list[FixResult], dict[tuple[Any, ...], FixResult], str] | None:
    """Every piece fixed alone, spliced back; None when the spliced file does not scan as its pieces did."""
    local = frozenset(selected if selected is not None else rules.rule_ids()) - CROSS_DOCUMENT
    applied: list[FixResult] = []
    manual: dict[tuple[Any, ...], FixResult] = {}
    done: list[str] = []  # the fixed text of the pieces so far
    current = text
    expected: list[tuple[Any, ...]] = []
    for piece in pieces:
        prefix = "".join(done)
        suffix = text[piece.start + len(piece.text):]
        offset, line = len(prefix), prefix.count("\n")
        results, left, final = _run(file, _State(piece.text, piece.report), config, settings, local, max_safety)
        for r in results:
            after = prefix + r.after + suffix
            applied.append(replace(r, finding=_lift(r.finding, piece.first_document, line),
                                   edits=tuple(Edit(e.start + offset, e.end + offset, e.text) for e in r.edits),
                                   before=current, after=after))
            current = after
        for r in left.values():
            lifted = _lift(r.finding, piece.first_document, piece.first_line)
            manual[finding_key(lifted)] = replace(r, finding=lifted)
        expected += _signature(final.report, piece.first_document, line)
        done.append(final.text)
    spliced = "".join(done)
    if _signature(_scan(file, spliced, config)) != sorted(expected, key=repr):
        return None
    return applied, manual, spliced


def fix_file(file: str, text: str, config: Config, settings: FixSettings, *,
             rule_ids: Iterable[str] | None = None, max_safety: Safety = Safety.VALUE) -> FileFix:
    """Apply every verified fix the selection allows, one at a time, re-scanning in between.

    Fixes are applied in a canonical order and each insertion lands at a position that does not
    depend on the others, so the result equals fixing the findings one by one in any order. A finding
    whose fix failed is tried again once later fixes have changed the file (one may have unblocked it).

    A file of many documents is fixed document by document (each fix verified on its own document, so
    the cost grows with the file, not with its square), then the fixes that span documents over the
    whole file; should the spliced file not scan as its documents did, the whole file is fixed at once.
    """
    selected = frozenset(rule_ids) if rule_ids is not None else None
    whole = _scan(file, text, config)
    result = FileFix(file, text, text, problems=list(whole.problems))
    manual: dict[tuple[Any, ...], FixResult] = {}
    pieces = _pieces(file, text, config, whole)
    split = _by_pieces(file, text, config, settings, selected, max_safety, whole, pieces) if pieces else None
    if split is not None:
        result.results, manual, spliced = split
        cross = CROSS_DOCUMENT if selected is None else selected & CROSS_DOCUMENT
        state = _State(spliced, _scan(file, spliced, config))
        if cross:
            more, left, state = _run(file, state, config, settings, cross, max_safety)
            result.results += more
            manual.update(left)
    else:
        result.results, manual, state = _run(file, _State(text, whole), config, settings, selected, max_safety)
    result.after = state.text
    remaining = {finding_key(f) for f in state.report.findings}
    original = {finding_key(f): f for f in whole.findings}
    left = [replace(r, finding=original.get(key, r.finding)) for key, r in manual.items()  # where it is in
            if key in remaining]                                                            # the file as given
    result.results += sorted(left, key=lambda r: (r.finding.line, r.finding.column, r.finding.rule.id))
    return result
