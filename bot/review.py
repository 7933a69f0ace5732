"""Compose what the bot publishes on a pull request: inline comments with one-click suggestions, the review
body, the summary comment and the check run. Pure: reports, fixes and diffs in, a ``ReviewPlan`` out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import fixes
import rules
from bot.diffmap import FileDiff, FilterMode, Placement, placement
from bot.formats import fingerprint
from bot.model import (
    Annotation,
    AnnotationLevel,
    CheckOutput,
    Conclusion,
    PostedReviewComment,
    PullRequest,
    ReviewComment,
    ReviewEvent,
    ReviewPlan,
)
from rules import Effect, Finding, Report

SUMMARY_MARKER = "<!-- kubeguard:summary -->"
FIXED_MARKER = "<!-- kubeguard:fixed -->"
_FINGERPRINT = re.compile(r"<!-- kubeguard:fingerprint=([0-9a-f]+) -->")
MAX_TEXT = 65_000
_LIST_LIMIT = 50


def fingerprint_of(body: str) -> str | None:
    found = _FINGERPRINT.search(body)
    return found.group(1) if found else None


def fixed_reply(sha: str) -> str:
    return f"Fixed in {sha}. {FIXED_MARKER}"


def _fence(text: str, info: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}" if text else f"{fence}{info}\n{fence}"


def _lines(text: str) -> list[str]:
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def widened(before: str, after: str, line: int) -> tuple[int, int, str] | None:
    """The fix as "replace head lines a..b with this text", widened to cover ``line`` too."""
    s = fixes.suggestion(before, after)
    if s is None:
        return None
    old = _lines(before)
    start, end = s.start_line, s.end_line
    middle = [s.replacement] if s.replacement else []  # an empty replacement deletes lines start..end
    if line < start:
        middle, start = [*old[line - 1:start - 1], *middle], line
    elif line > end:
        middle, end = [*middle, *old[end:line]], line
    text = "\n".join(middle)
    return start, end, text


def _header(f: Finding) -> str:
    return (f"**kubeguard · `{f.rule.id}`** — {f.rule.title} · severity {f.rule.severity.value} · "
            f"{f.effect.value}")


def comment_body(f: Finding, result: fixes.FixResult | None, fix_block: str, fp: str) -> str:
    parts = [_header(f), f"Security control: **{f.rule.control.value}**",
             f"> {f.message}", f"Resource: `{f.resource}`" + (f", container `{f.container}`" if f.container else "")]
    if f.rule.rationale:
        parts.append(f"Why it matters: {f.rule.rationale}")
    if result is not None and result.fixed:
        label = ""
        if result.safety is fixes.Safety.BEHAVIOUR:
            label = "⚠️ **changes behaviour: read before accepting.** "
        elif result.safety is fixes.Safety.VALUE:
            label = "The value comes from the `fixes:` configuration. "
        parts.append(f"Fix: {label}{result.summary}")
        parts.append(fix_block)
    else:
        reason = result.reason if result is not None else "no automatic fix was computed"
        parts.append(f"Manual fix: {reason}. {f.rule.remediation}")
    parts.append(f"To accept the risk, add `# kubeguard:ignore {f.rule.id} -- <reason>` on or above the line, "
                 f"or the annotations `kubeguard.io/ignore: {f.rule.id}` and `kubeguard.io/ignore-reason: <reason>`.")
    parts.append(f"<!-- kubeguard:fingerprint={fp} -->")
    return "\n\n".join(parts)


def _comment(f: Finding, result: fixes.FixResult | None, diff: FileDiff) -> ReviewComment:
    fp = fingerprint(f)
    if result is not None and result.fixed:
        span = widened(result.before, result.after, f.line)
        if span and diff.same_hunk(span[0], span[1]):
            start, end, text = span
            return ReviewComment(f.file, end, comment_body(f, result, _fence(text, "suggestion"), fp), fp,
                                 start if start < end else None)
        block = _fence(fixes.unified_diff(f.file, result.before, result.after).rstrip("\n"), "diff")
        return ReviewComment(f.file, f.line, comment_body(f, result, "The fix spans more than one hunk of "
                                                           "the diff:\n\n" + block, fp), fp)
    return ReviewComment(f.file, f.line, comment_body(f, result, "", fp), fp)


def _active(report: Report) -> list[Finding]:
    return [f for f in report.findings if not f.suppressed and f.effect is not Effect.DISABLED]


def _at_or_above(effect: Effect, fail_on: str) -> bool:
    return fail_on != "never" and (effect is Effect.DENY or (fail_on == "audit" and effect is Effect.AUDIT))


def _listing(items: Sequence[str]) -> list[str]:
    shown = [f"- {i}" for i in items[:_LIST_LIMIT]]
    if len(items) > _LIST_LIMIT:
        shown.append(f"- ... and {len(items) - _LIST_LIMIT} more")
    return shown


def _where(f: Finding) -> str:
    return f"`{f.file}:{f.line}` `{f.rule.id}`: {f.message}"


def _points(score: float | None, control: rules.Control) -> str:
    return "n/a" if score is None else f"{score:.2f} / {control.max_score}"


def posture_table(head: Report, base: Report | None) -> list[str]:
    now = {s.control: s for s in rules.control_scores(head.verdicts)}
    before = {s.control: s for s in rules.control_scores(base.verdicts)} if base is not None else {}
    findings: dict[rules.Control, int] = {}
    for f in _active(head):
        findings[f.rule.control] = findings.get(f.rule.control, 0) + 1
    rows = ["| Security control | Resources | Healthy | Findings | Score (head) | Score (base) | Change |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for control in rules.Control:
        s, b = now.get(control), before.get(control)
        head_score = s.score if s else None
        base_score = b.score if b else None
        base_text = "—" if base is None else _points(base_score, control)
        delta = f"{head_score - base_score:+.2f}" if head_score is not None and base_score is not None else ""
        rows.append(f"| {control.value} | {s.resources if s else 0} | {s.healthy if s else 0} | "
                    f"{findings.get(control, 0)} | {_points(head_score, control)} | {base_text} | {delta} |")
    return rows


def compose(*, pr: PullRequest, head: Report, base: Report | None, fixes: Mapping[str, fixes.FixResult],
            diffs: Mapping[str, FileDiff], config: rules.Config, mode: FilterMode = FilterMode.DIFF_CONTEXT,
            max_comments: int = 50, posted: frozenset[str] = frozenset(), fail_on: str = "deny",
            rejected: Sequence[ReviewComment] = ()) -> ReviewPlan:
    rejected_fps = {c.fingerprint for c in rejected}
    inline: list[Finding] = []
    outside: list[Finding] = []
    for f in sorted(_active(head), key=lambda f: (f.file, f.line, f.column, f.rule.id)):
        where = placement(diffs.get(f.file), f.line, mode)
        if where is Placement.INLINE:
            inline.append(f)
        elif where is Placement.SUMMARY:
            outside.append(f)
    current = frozenset(fingerprint(f) for f in inline)
    blocking = any(f.effect is Effect.DENY for f in inline)
    new = [f for f in inline if fingerprint(f) not in posted and fingerprint(f) not in rejected_fps]
    comments = [_comment(f, fixes.get(fingerprint(f)), diffs[f.file]) for f in new]
    posted_now, overflow = comments[:max_comments], comments[max_comments:]
    rejected_findings = [f for f in inline if fingerprint(f) in rejected_fps]

    deny = sum(f.effect is Effect.DENY for f in inline)
    body = [f"kubeguard reviewed `{pr.head_sha[:7]}`: {len(inline)} finding(s) in the diff ({deny} Deny, "
            f"{len(inline) - deny} Audit), {len(posted_now)} new inline comment(s)."]
    if overflow:
        body += ["", f"{len(overflow)} more finding(s) over the cap of {max_comments} inline comments:"]
        by_fp = {fingerprint(f): f for f in new}
        body += _listing([_where(by_fp[c.fingerprint]) for c in overflow])

    summary = _summary(pr, head, base, config, outside, rejected_findings, diffs)
    check = _check(head, inline + outside, fail_on, diffs)
    return ReviewPlan(pr.head_sha, tuple(posted_now), "\n".join(body),
                      ReviewEvent.REQUEST_CHANGES if blocking else ReviewEvent.COMMENT, summary, check,
                      current, blocking)


def _summary(pr: PullRequest, head: Report, base: Report | None, config: rules.Config, outside: list[Finding],
             rejected: list[Finding], diffs: Mapping[str, FileDiff]) -> str:
    points, maximum = rules.total_score(rules.control_scores(head.verdicts))
    lines = [SUMMARY_MARKER, f"### kubeguard: Azure Defender for Kubernetes posture at `{pr.head_sha[:7]}`", "",
             f"Secure score of the changed manifests: **{points:.2f} / {maximum}**"]
    if base is not None:
        b_points, _ = rules.total_score(rules.control_scores(base.verdicts))
        lines[-1] += f" (base: {b_points:.2f}, change {points - b_points:+.2f})"
    lines += ["", *posture_table(head, base)]
    unconfigured = config.unconfigured()
    if unconfigured:
        lines += ["", "**Rules still at Defender's presets** (set these in `.kubeguard.yaml` on the base branch):"]
        lines += _listing([f"`{rid}`: {', '.join(f'`{p}`' for p in params)}" for rid, params in unconfigured.items()])
    suppressed = [f for f in head.findings if f.suppressed and f.suppression is not None]
    if suppressed:
        lines += ["", "**Suppressions used:**"]
        lines += _listing([f"`{f.file}:{f.line}` `{f.rule.id}`: {f.suppression.reason}"  # type: ignore[union-attr]
                           for f in suppressed])
    if outside:
        lines += ["", "**Findings outside the diff:**", *_listing([_where(f) for f in outside])]
    if rejected:
        lines += ["", "**Findings GitHub would not take as inline comments:**",
                  *_listing([_where(f) for f in rejected])]
    missing = sorted(d.path for d in diffs.values() if d.patch_missing and d.status != "removed")
    if missing:
        lines += ["", "**Files whose diff GitHub did not provide** (binary or too large; checked, not commented):",
                  *_listing([f"`{p}`" for p in missing])]
    if head.problems:
        lines += ["", "**Problems:**", *_listing([f"`{p.file}:{p.line}`: {p.cause}" for p in head.problems])]
    text = "\n".join(lines)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 40] + "\n\n… (truncated)"


def _check(head: Report, in_scope: list[Finding], fail_on: str, diffs: Mapping[str, FileDiff]) -> CheckOutput:
    parse = [p for p in head.problems if p.kind == "parse" and p.file in diffs]
    failing = [f for f in in_scope if _at_or_above(f.effect, fail_on)]
    if failing or (parse and fail_on != "never"):
        conclusion = Conclusion.FAILURE
    elif in_scope:
        conclusion = Conclusion.NEUTRAL
    else:
        conclusion = Conclusion.SUCCESS
    annotations = [Annotation(f.file, f.line, f.line,
                              AnnotationLevel.FAILURE if f.effect is Effect.DENY else AnnotationLevel.WARNING,
                              f"{f.message} [{f.rule.control.value}]", f"{f.rule.id}: {f.rule.title}"[:255])
                   for f in in_scope]
    annotations += [Annotation(p.file, max(p.line, 1), max(p.line, 1), AnnotationLevel.FAILURE, p.cause,
                               "kubeguard: file not read") for p in parse]
    title = f"kubeguard: {len(in_scope)} finding(s)" + (f", {len(parse)} unreadable file(s)" if parse else "")
    summary = "\n".join([f"{len(failing)} at or above `{fail_on}`.", "", *posture_table(head, None)])
    return CheckOutput(conclusion, title, summary[:MAX_TEXT], tuple(annotations))


def stale_comments(posted: Sequence[PostedReviewComment], current: frozenset[str],
                   bot_login: str) -> list[tuple[PostedReviewComment, str]]:
    """The bot's earlier comments whose finding is gone: ``reply`` where someone answered, else ``delete``."""
    replies: dict[int, list[PostedReviewComment]] = {}
    for c in posted:
        if c.in_reply_to is not None:
            replies.setdefault(c.in_reply_to, []).append(c)
    out = []
    for c in posted:
        fp = fingerprint_of(c.body)
        if c.author != bot_login or c.in_reply_to is not None or fp is None or fp in current:
            continue
        thread = replies.get(c.id, [])
        if not thread:
            out.append((c, "delete"))
        elif not any(r.author == bot_login and FIXED_MARKER in r.body for r in thread):
            out.append((c, "reply"))
    return out
