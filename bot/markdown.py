"""The text the bot publishes: inline comment bodies, the summary comment, the check-run summary.

Pure string building. Anything that comes from a manifest (messages, names, reasons) is escaped, so a
pull request cannot inject markup, mentions or a fake hidden marker into what the bot writes; code and
fixes go in fences longer than any backtick run inside them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence

import fixes
import rules
from rules import Effect, Finding, Report

SUMMARY_MARKER = "<!-- kubeguard:summary -->"
FIXED_MARKER = "<!-- kubeguard:fixed -->"
SUPERSEDED_MARKER = "<!-- kubeguard:superseded -->"
FINGERPRINT_MARKER = "<!-- kubeguard:fingerprint={} -->"
_FINGERPRINT = re.compile(r"<!-- kubeguard:fingerprint=([0-9a-f]{8,64}) -->")
FIX_MARKER = "<!-- kubeguard:fix={} -->"
_FIX = re.compile(r"<!-- kubeguard:fix=([0-9a-f]{16}) -->")
MAX_TEXT = 65_000  # GitHub: comment bodies and check-run output at most 65,535 characters
MESSAGE_CHARS = 300  # a message in a list is cut here


def fingerprint_marker(fp: str) -> str:
    return FINGERPRINT_MARKER.format(fp)


def fingerprint_of(body: str) -> str | None:
    """The fingerprint of a kubeguard comment (the last marker: quoted manifest text cannot forge it)."""
    found = _FINGERPRINT.findall(body or "")
    return found[-1] if found else None


def fix_digest(kind: str, lines: Sequence[str]) -> str:
    """A short digest of the fix a comment offers (``kind``: suggestion, diff or manual, and its text).

    A later run compares it with the fix it would offer now: a suggestion written against older lines
    would undo or garble the author's newer edits if applied, so such a comment is replaced.
    """
    return hashlib.sha256("\n".join([kind, *lines]).encode()).hexdigest()[:16]


def fix_digest_of(body: str) -> str | None:
    """The fix digest of a kubeguard comment (the last one before the fingerprint), None on older comments."""
    found = _FIX.findall(body or "")
    return found[-1] if found else None


def superseded_reply(sha: str) -> str:
    """The bot's one reply on a thread whose suggestion went out of date (a fresh comment replaces it)."""
    return (f"The suggestion here no longer matches the file at {code(sha[:12])}; a fresh comment with an "
            f"up-to-date suggestion replaces it. This thread stays for the discussion.\n\n{SUPERSEDED_MARKER}")


# ---- escaping and fences -----------------------------------------------------------------------------

_ESCAPE = re.compile(r"([\\`*_\[\]|~#!])")


def escape(text: str) -> str:
    """Inline markdown text with no markup, HTML or mention in it."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _ESCAPE.sub(r"\\\1", text)
    return text.replace("@", "@\u200b")  # no @mention notifications from manifest text


def one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: str) -> str:
    """An inline code span, whatever backticks the text holds."""
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(lines: Sequence[str], info: str = "") -> str:
    """A fenced block of these lines, the fence longer than any backtick run inside (no lines: empty block)."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    ticks = "`" * max(3, longest + 1)
    return "\n".join([f"{ticks}{info}", *lines, ticks])


def quote(text: str) -> str:
    return "\n".join(f"> {escape(line)}" if line.strip() else ">" for line in text.strip().splitlines())


def bullets(items: Sequence[str], limit: int) -> list[str]:
    shown = [f"- {item}" for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"- ... and {len(items) - limit} more")
    return shown


def where(f: Finding) -> str:
    """One line naming a finding: file:line, rule, effect, resource, message."""
    return (f"{code(f'{f.file}:{f.line}')} {code(f.rule.id)} ({f.effect.value}) {code(str(f.resource))}: "
            f"{escape(one_line(f.message))}")


def _rst(text: str) -> str:
    return text.replace("``", "`")


def why(rule: rules.Rule) -> str:
    """The first paragraph of the rule's rationale: why it matters, not how Azure checks it."""
    first = rule.rationale.strip().split("\n\n", 1)[0]
    return _rst(" ".join(first.split()))


# ---- the inline comment ------------------------------------------------------------------------------

_SAFETY_NOTE = {
    fixes.Safety.SAFE: "safe: only tightens a setting",
    fixes.Safety.VALUE: "ℹ️ uses a value from configuration (the `fixes:` section of `.kubeguard.yaml`): "
                        "check it suits this workload",
    fixes.Safety.BEHAVIOUR: "⚠️ changes behaviour: read before accepting",
}


def header(f: Finding) -> str:
    return (f"**kubeguard · {code(f.rule.id)}** — {escape(f.rule.title)} · severity {f.rule.severity.value} · "
            f"{f.effect.value}")


def comment_body(f: Finding, fp: str, result: fixes.FixResult | None, *, suggestion: Sequence[str] | None = None,
                 diff: str | None = None) -> str:
    """The body of one inline comment: ``suggestion`` the lines replacing the commented range, or ``diff``
    the fix as a unified diff when it cannot be a suggestion; neither for a manual finding."""
    rule = f.rule
    located = f"Resource {code(str(f.resource))}"
    if f.container:
        located += f", container {code(f.container)}"
    located += f", at {code(f.path_text)}." if f.path_text else "."
    parts = [header(f) + f"\nSecurity control: {rule.control.value}", quote(f.message), located,
             f"**Why it matters:** {escape(why(rule))}"]
    fixed = result is not None and result.fixed and (suggestion is not None or diff is not None)
    if suggestion is not None and fixed:
        digest = fix_digest("suggestion", suggestion)
    elif diff is not None and fixed:
        digest = fix_digest("diff", diff.split("\n"))
    else:
        digest = fix_digest("manual", [result.reason or ""] if result is not None else [])
    if fixed and result is not None:
        note = _SAFETY_NOTE.get(result.safety) if result.safety else None
        label = f" ({note})" if note and result.safety is not fixes.Safety.BEHAVIOUR else ""
        warning = f"**{note}.** " if result.safety is fixes.Safety.BEHAVIOUR and note else ""
        parts.append(f"**Fix**{label}: {warning}{escape(result.summary)}.")
        if suggestion is not None:
            parts.append(fence(suggestion, "suggestion"))
        else:
            parts.append("The fix reaches lines outside this part of the diff, so it cannot be a one-click "
                         "suggestion; apply it by hand:")
            parts.append(fence((diff or "").rstrip("\n").split("\n"), "diff"))
    else:
        reason = result.reason if result is not None and result.reason else "no automatic fix could be verified"
        parts.append(f"**Manual fix:** {escape(reason)}. {_rst(rule.remediation)}")
    parts.append(suppress_help(rule.id))
    parts.append(FIX_MARKER.format(digest) + "\n" + fingerprint_marker(fp))
    return "\n\n".join(parts)


def suppress_help(rule_id: str) -> str:
    return "\n".join([
        "<details><summary>Accept the risk instead (with a reason)</summary>", "",
        "A comment on the line, or on the line above it:", "",
        fence([f"# kubeguard:ignore {rule_id} -- <reason>"], "yaml"), "",
        "or annotations on the object:", "",
        fence(["metadata:", "  annotations:", f"    kubeguard.io/ignore: {rule_id}",
               '    kubeguard.io/ignore-reason: "<reason>"'], "yaml"), "",
        "The suppression stays visible in the summary.", "</details>"])


# ---- posture: Azure's secure-score arithmetic ---------------------------------------------------------


def _arith(s: rules.ControlScore | None, control: rules.Control) -> str:
    if s is None or s.score is None:
        return "—"
    return f"{control.max_score} × {s.healthy}/{s.resources} = {s.score:.2f}"


def _findings_by_control(report: Report) -> dict[rules.Control, int]:
    out: dict[rules.Control, int] = {}
    for f in report.findings:
        if not f.suppressed and f.effect is not Effect.DISABLED:
            out[f.rule.control] = out.get(f.rule.control, 0) + 1
    return out


def posture_table(head: Report, base: Report | None) -> list[str]:
    """Per security control: resources, healthy, findings and score = max × healthy / resources, for the
    base and the head of the pull request, and what the pull request changes."""
    now = {s.control: s for s in rules.control_scores(head.verdicts)}
    now_findings = _findings_by_control(head)
    if base is None:
        rows = ["| Security control | Max | Resources | Healthy | Findings | Score |", "|---|---:|---:|---:|---:|---:|"]
        for c in rules.Control:
            s = now[c]
            rows.append(f"| {c.value} | {c.max_score} | {s.resources} | {s.healthy} | {now_findings.get(c, 0)} | "
                        f"{_arith(s, c)} |")
        points, maximum = rules.total_score(now.values())
        rows.append(f"| **Total** | {maximum} | | | {sum(now_findings.values())} | **{points:.2f} / {maximum}** |")
        return rows
    then = {s.control: s for s in rules.control_scores(base.verdicts)}
    then_findings = _findings_by_control(base)
    rows = ["| Security control | Max | Resources base → head | Healthy base → head | Findings base → head "
            "| Score base | Score head | Change |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c in rules.Control:
        s, b = now[c], then[c]
        change = "—"
        if s.score is not None and b.score is not None:
            change = f"{s.score - b.score:+.2f}"
        elif s.score is not None:
            change = "new"
        elif b.score is not None:
            change = "gone"
        rows.append(f"| {c.value} | {c.max_score} | {b.resources} → {s.resources} | {b.healthy} → {s.healthy} | "
                    f"{then_findings.get(c, 0)} → {now_findings.get(c, 0)} | {_arith(b, c)} | {_arith(s, c)} | "
                    f"{change} |")
    points, maximum = rules.total_score(now.values())
    b_points, b_maximum = rules.total_score(then.values())
    rows.append(f"| **Total** | | | | {sum(then_findings.values())} → {sum(now_findings.values())} | "
                f"{b_points:.2f} / {b_maximum} | {points:.2f} / {maximum} | **{points - b_points:+.2f}** |")
    return rows


def score_line(head: Report, base: Report | None) -> str:
    points, maximum = rules.total_score(rules.control_scores(head.verdicts))
    text = f"Secure score of the changed manifests: **{points:.2f} / {maximum}**"
    if base is not None:
        b_points, b_maximum = rules.total_score(rules.control_scores(base.verdicts))
        text += f" (base {b_points:.2f} / {b_maximum}; this pull request: {points - b_points:+.2f})"
    return text + "."


# ---- bounded documents --------------------------------------------------------------------------------


Section = tuple[str, Sequence[str]]  # (heading paragraph, list items)


def bounded(head_lines: Iterable[str], sections: Sequence[Section], limit: int = MAX_TEXT,
            items: int = 100) -> str:
    """Fixed text then listed sections, each list cut with "... and N more" until the whole fits ``limit``."""
    fixed = "\n".join(head_lines)
    for per in (items, 30, 10, 3, 0):
        parts = [fixed]
        for heading, listed in sections:
            if listed:
                parts.append(heading + "\n\n" + "\n".join(bullets(list(listed), per)))
        text = "\n\n".join(parts)
        if len(text) <= limit:
            return text
    cut = text[: limit - 40].rsplit("\n", 1)[0]
    return cut + "\n\n... (truncated)"


def counts(findings: Iterable[Finding]) -> Mapping[Effect, int]:
    out = {Effect.DENY: 0, Effect.AUDIT: 0}
    for f in findings:
        if f.effect in out:
            out[f.effect] += 1
    return out
