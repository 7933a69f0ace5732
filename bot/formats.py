"""Report renderers for the CLI: text (terminal), JSON (scripts), SARIF 2.1.0 (code scanning), GitHub annotations.

Renderers are pure: a report in, a string out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from rules import Config, Effect, Finding, Problem, Report, Rule, all_rules, control_scores, total_score

VERSION = "0.1.0"
DOCS_URL = "https://github.com/kubeguard/kubeguard/blob/main/docs/rules.md"
_SECURITY_SEVERITY = {"high": "8.0", "medium": "5.5", "low": "3.0"}


def fingerprint(finding: Finding) -> str:
    """Stable identity of a finding: rule, file, resource and YAML path; never line or message text."""
    r = finding.resource
    raw = "\x1f".join((finding.rule.id, finding.file, r.kind, r.namespace or "", r.name, finding.path_text))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def fails(report: Report, fail_on: str) -> bool:
    """True when something at or above the fail level is present (unreadable files count too)."""
    if fail_on == "never":
        return False
    levels = {Effect.DENY} if fail_on == "deny" else {Effect.DENY, Effect.AUDIT}
    if any(f.effect in levels and not f.suppressed for f in report.findings):
        return True
    return any(p.kind == "parse" for p in report.problems)


def _summary(report: Report) -> dict[str, Any]:
    scores = control_scores(report.verdicts)
    points, maximum = total_score(scores)
    return {
        "controls": [
            {"control": s.control.value, "maxScore": s.control.max_score, "resources": s.resources,
             "healthy": s.healthy, "unhealthy": s.unhealthy,
             "score": None if s.score is None else round(s.score, 2)}
            for s in scores
        ],
        "score": round(points, 2),
        "maxScore": maximum,
        "findings": sum(1 for f in report.findings if not f.suppressed),
        "suppressed": sum(1 for f in report.findings if f.suppressed),
    }


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule.id,
        "title": f.rule.title,
        "control": f.rule.control.value,
        "azurePolicy": f.rule.azure_policy,
        "severity": f.rule.severity.value,
        "effect": f.effect.value,
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "path": f.path_text,
        "related": [{"path": _path_text(p), "line": line} for p, line in f.related],
        "resource": f.resource.as_dict(),
        "container": f.container,
        "message": f.message,
        "suppressed": f.suppressed,
        "suppression": None if not f.suppression else {"kind": f.suppression.source, "reason": f.suppression.reason},
        "fingerprint": fingerprint(f),
    }


def _path_text(path: tuple[str | int, ...]) -> str:
    from rules._yaml import format_path

    return format_path(path)


def _problem_json(p: Problem) -> dict[str, Any]:
    return {"file": p.file, "line": p.line, "column": p.column, "kind": p.kind, "cause": p.cause}


def render_json(report: Report, config: Config) -> str:
    doc = {
        "tool": "kubeguard",
        "version": VERSION,
        "profile": config.profile.value,
        "files": report.files,
        "documents": report.documents,
        "findings": [_finding_json(f) for f in report.findings],
        "problems": [_problem_json(p) for p in report.problems],
        "summary": _summary(report),
        "unconfigured": {k: list(v) for k, v in report.unconfigured.items()},
    }
    # compact: the indenting encoder is pure Python and takes seconds on a large report; pipe to jq to read
    return json.dumps(doc, separators=(",", ":")) + "\n"


# ---- text -------------------------------------------------------------------------------------------------

_COLOURS = {"red": "\x1b[31m", "yellow": "\x1b[33m", "dim": "\x1b[2m", "bold": "\x1b[1m", "reset": "\x1b[0m"}


def render_text(report: Report, config: Config, colour: bool = False) -> str:
    def c(name: str, text: str) -> str:
        return f"{_COLOURS[name]}{text}{_COLOURS['reset']}" if colour else text

    out: list[str] = []
    by_file: dict[str, list[Finding | Problem]] = {}
    for item in [*report.problems, *report.findings]:
        by_file.setdefault(item.file, []).append(item)
    for file in sorted(by_file):
        out.append(c("bold", file))
        for item in sorted(by_file[file], key=lambda i: (i.line, i.column)):
            where = f"  {item.line}:{item.column}"
            if isinstance(item, Problem):
                out.append(f"{where}  {c('yellow', item.kind)}  {item.cause}")
                continue
            level = c("red", "deny ") if item.effect is Effect.DENY else c("yellow", "audit")
            if item.suppressed:
                level = c("dim", "suppr")
            out.append(f"{where}  {level}  {item.rule.id}  {item.message}")
            extra = f"{item.resource}" + (f", container {item.container}" if item.container else "")
            out.append(c("dim", f"      {extra} · {item.path_text} · {item.rule.control.value}"))
            if item.suppression:
                out.append(c("dim", f"      suppressed ({item.suppression.source}): {item.suppression.reason}"))
        out.append("")
    summary = _summary(report)
    active = [f for f in report.findings if not f.suppressed]
    out.append(f"{len(active)} finding(s) ({summary['suppressed']} suppressed), {len(report.problems)} problem(s) "
               f"in {report.files} file(s), {report.documents} document(s); profile {config.profile.value}")
    out.append(f"secure score {summary['score']:.2f} / {summary['maxScore']}")
    for control in summary["controls"]:
        if control["resources"]:
            out.append(f"  {control['control']}: {control['healthy']}/{control['resources']} healthy, "
                       f"{control['score']:.2f} / {control['maxScore']}")
    if report.unconfigured:
        out.append("unconfigured (Defender presets in use; set these in .kubeguard.yaml):")
        for rule_id, names in report.unconfigured.items():
            out.append(f"  {rule_id}: {', '.join(names)}")
    return "\n".join(out) + "\n"


# ---- GitHub workflow commands --------------------------------------------------------------------------------

def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report, config: Config) -> str:
    lines = []
    for f in report.findings:
        if f.suppressed:
            continue
        level = "error" if f.effect is Effect.DENY else "warning"
        title = escape_property(f"{f.rule.id}: {f.rule.title}")
        lines.append(f"::{level} file={escape_property(f.file)},line={f.line},col={f.column},title={title}::"
                     f"{escape_data(f.message + ' [' + f.rule.control.value + ']')}")
    for p in report.problems:
        lines.append(f"::warning file={escape_property(p.file)},line={p.line},col={p.column},"
                     f"title=kubeguard {p.kind}::{escape_data(p.cause)}")
    return "".join(line + "\n" for line in lines)


# ---- SARIF 2.1.0 -----------------------------------------------------------------------------------------

def _sarif_rule(rule: Rule) -> dict[str, Any]:
    params = ", ".join(f"{p.name}" for p in rule.params)
    help_text = f"{rule.title}\n\n{rule.remediation}\n\nAzure Policy {rule.azure_policy}; parameters: {params}."
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": (rule.rationale.strip().splitlines() or [rule.title])[0]},
        "helpUri": f"{DOCS_URL}#{rule.id}",
        "help": {
            "text": help_text,
            "markdown": f"**{rule.title}**\n\n{rule.remediation}\n\nSecurity control: {rule.control.value}. "
                        f"Azure Policy definition `{rule.azure_policy}`.",
        },
        "defaultConfiguration": {"level": "warning"},
        "properties": {
            "tags": ["security", "kubernetes", rule.control.value],
            "security-severity": _SECURITY_SEVERITY[rule.severity.value],
            "precision": "very-high",
        },
    }


def render_sarif(report: Report, config: Config) -> str:
    rule_list = list(all_rules())
    index = {r.id: i for i, r in enumerate(rule_list)}
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule.id,
            "ruleIndex": index[f.rule.id],
            "level": "error" if f.effect is Effect.DENY else "warning",
            "message": {"text": f.message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(f.file), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.line, "startColumn": f.column},
                },
                "logicalLocations": [{"name": str(f.resource), "fullyQualifiedName": f.path_text,
                                      "kind": "resource"}],
            }],
            "partialFingerprints": {"kubeguard/v1": fingerprint(f)},
            "properties": {"control": f.rule.control.value, "effect": f.effect.value,
                           "resource": f.resource.as_dict(), "path": f.path_text},
        }
        if f.suppression:
            result["suppressions"] = [{"kind": "inSource", "justification": f.suppression.reason}]
        results.append(result)
    notifications = [{
        "level": "error" if p.kind in ("parse", "internal") else "warning",
        "message": {"text": f"{p.kind}: {p.cause}"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(p.file), "uriBaseId": "%SRCROOT%"},
                                             "region": {"startLine": p.line, "startColumn": p.column}}}],
    } for p in report.problems]
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "kubeguard", "version": VERSION, "informationUri": DOCS_URL,
                                "rules": [_sarif_rule(r) for r in rule_list]}},
            "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
            "results": results,
            "properties": {"profile": config.profile.value},
        }],
    }
    return json.dumps(sarif, indent=2) + "\n"


def _uri(path: str) -> str:
    from urllib.parse import quote

    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return quote(path, safe="/")


RENDERERS = {"json": render_json, "sarif": render_sarif, "github": render_github}


def render(fmt: str, report: Report, config: Config, colour: bool = False) -> str:
    if fmt == "text":
        return render_text(report, config, colour)
    return RENDERERS[fmt](report, config)


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.file, f.line, f.column, f.rule.id))
