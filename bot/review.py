"""Compose what the bot publishes for one head commit: the inline comments with one-click suggestions, the
review body and event, the summary comment and the check run. Pure: reports, fixes and diffs in, a
``ReviewPlan`` out (no network, no PyGithub, no Flask).

Where a finding goes is ``diffmap.placement`` (reviewdog's filter modes). An inline comment covers the
lines its suggestion replaces, widened to the finding's line, and carries the ```suggestion block only
when that whole range lies inside one hunk (GitHub refuses anything else); otherwise it shows the fix as
a diff. Nothing is lost: what cannot be inline (outside the diff, over the cap, refused by GitHub, in a
file whose diff GitHub left out) is listed in the review body or the summary, and annotated on the check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import fixes as fixes_pkg
import rules
from bot import markdown as md
from bot.diffmap import FileDiff, FilterMode, Placement, placement
from bot.formats import fingerprint
from bot.markdown import FIXED_MARKER, SUMMARY_MARKER, fingerprint_of
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

__all__ = ["FAIL_ON", "FIXED_MARKER", "SUMMARY_MARKER", "Span", "compose", "fingerprint_of", "fixed_reply",
           "span_of", "stale_comments"]

FAIL_ON = ("deny", "audit", "never")


def fixed_reply(sha: str) -> str:
    """The bot's reply on a comment thread whose finding is gone (recognised later by its marker)."""
    return f"Fixed in {sha}.\n\n{FIXED_MARKER}"


# ---- one inline comment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A fix as GitHub applies a suggestion: head lines ``start``..``end`` become ``lines``."""

    start: int
    end: int
    lines: tuple[str, ...]  # without line breaks; () deletes the range


def _plain_lines(text: str) -> list[str]:
    """Head lines as GitHub numbers them (split at ``\\n`` only), without their line breaks."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def span_of(before: str, after: str, line: int) -> Span | None:
    """The smallest suggestion turning ``before`` into ``after``, widened to cover ``line``: the unchanged
    head lines in between join the replacement, so it still replaces exactly the commented lines."""
    s = fixes_pkg.suggestion(before, after)
    if s is None:
        return None
    head = _plain_lines(before)
    start, end = min(s.start_line, line), max(s.end_line, line)
    middle = s.replacement.split("\n") if s.replacement else []
    return Span(start, end, (*head[start - 1:s.start_line - 1], *middle, *head[s.end_line:end]))


def _comment(f: Finding, fp: str, result: fixes_pkg.FixResult | None, diff: FileDiff) -> ReviewComment:
    if result is not None and result.fixed and result.after:
        span = span_of(result.before, result.after, f.line)
        if span is not None and diff.same_hunk(span.start, span.end):
            body = md.comment_body(f, fp, result, suggestion=span.lines)
            return ReviewComment(f.file, span.end, body, fp, span.start if span.start < span.end else None)
        if span is not None:
            patch = fixes_pkg.unified_diff(f.file, result.before, result.after)
            return ReviewComment(f.file, f.line, md.comment_body(f, fp, result, diff=patch), fp)
    return ReviewComment(f.file, f.line, md.comment_body(f, fp, result), fp)


# ---- composition ---------------------------------------------------------------------------------------


def _active(report: Report) -> list[Finding]:
    return [f for f in report.findings if not f.suppressed and f.effect is not Effect.DISABLED]


def _levels(fail_on: str) -> frozenset[Effect]:
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    return {"deny": frozenset({Effect.DENY}), "audit": frozenset({Effect.DENY, Effect.AUDIT}),
            "never": frozenset()}[fail_on]


def _changed(diffs: Mapping[str, FileDiff], path: str) -> bool:
    return path in diffs and not diffs[path].removed


def _order(f: Finding) -> tuple[str, int, int, str]:
    return (f.file, f.line, f.column, f.rule.id)


def compose(*, pr: PullRequest, head: Report, base: Report | None, fixes: Mapping[str, fixes_pkg.FixResult],
            diffs: Mapping[str, FileDiff], config: rules.Config, mode: FilterMode = FilterMode.DIFF_CONTEXT,
            max_comments: int = 50, posted: frozenset[str] = frozenset(), fail_on: str = "deny",
            rejected: Sequence[ReviewComment] = (), earlier: Sequence[PostedReviewComment] = (),
            bot_login: str | None = None) -> ReviewPlan:
    """Everything to publish for ``pr`` at its head commit.

    ``fixes``: ``fingerprint(finding)`` → that finding's fix, verified alone against the head file.
    ``posted``: fingerprints the bot already commented on this pull request (not posted again).
    ``rejected``: comments GitHub refused on an earlier attempt (listed in the summary, not inline).
    ``earlier``: the review comments on the pull request; with ``bot_login``, a posted fingerprint whose
    comments by the bot are all out of date (outdated by GitHub, moved, or offering another fix than the
    one for the head now) is commented afresh, and those comments go to ``ReviewPlan.superseded``.
    Applying one suggestion changes lines that its neighbours' suggestions were written against: without
    this, the rest would stay stale, and applying them would undo the first.
    """
    levels = _levels(fail_on)
    refused = {c.fingerprint for c in rejected}
    inline: list[Finding] = []
    outside: list[Finding] = []
    dropped: list[Finding] = []
    for f in sorted(_active(head), key=_order):
        where = placement(diffs.get(f.file), f.line, mode)
        (inline if where is Placement.INLINE else outside if where is Placement.SUMMARY else dropped).append(f)

    current = frozenset(fingerprint(f) for f in inline)
    blocking = any(f.effect is Effect.DENY for f in inline)
    mine = _bot_threads(earlier, bot_login)
    candidates: list[tuple[ReviewComment, Finding]] = []
    stale: dict[str, list[PostedReviewComment]] = {}
    seen: set[str] = set()
    refused_findings: list[Finding] = []
    kept = 0
    for f in inline:
        fp = fingerprint(f)
        if fp in seen:
            continue
        seen.add(fp)
        if fp in refused:
            refused_findings.append(f)
            continue
        comment = _comment(f, fp, fixes.get(fp), diffs[f.file])
        if fp in posted:
            threads = mine.get(fp, [])
            if not bot_login or any(_up_to_date(c, comment) for c in threads):
                kept += 1
                continue
            stale[fp] = threads
        candidates.append((comment, f))
    candidates.sort(key=lambda pair: (pair[0].path, pair[0].line, pair[0].start_line or pair[0].line,
                                      pair[1].rule.id, pair[0].fingerprint))
    cap = max(0, max_comments)
    comments = tuple(c for c, _ in candidates[:cap])
    overflow = [f for _, f in candidates[cap:]]
    # an old comment goes only once its replacement is posted (one over the cap waits for the next push)
    superseded = tuple(c for new in comments for c in stale.get(new.fingerprint, ()))

    body = _review_body(pr, inline, len(comments), kept, overflow, cap, refused_findings, blocking)
    summary = _summary(pr, head, base, config, mode, outside, dropped, refused_findings, diffs)
    check = _check(head, base, inline + outside, levels, fail_on, diffs, mode)
    return ReviewPlan(pr.head_sha, comments, body, ReviewEvent.REQUEST_CHANGES if blocking else ReviewEvent.COMMENT,
                      summary, check, current, blocking, superseded)


def _bot_threads(earlier: Sequence[PostedReviewComment], bot_login: str | None) \
        -> dict[str, list[PostedReviewComment]]:
    """The bot's top-level comments by fingerprint, without threads it closed (fixed, superseded)."""
    if not bot_login:
        return {}
    closed = {c.in_reply_to for c in earlier if c.author == bot_login and c.in_reply_to is not None
              and (FIXED_MARKER in c.body or md.SUPERSEDED_MARKER in c.body)}
    out: dict[str, list[PostedReviewComment]] = {}
    for c in earlier:
        fp = fingerprint_of(c.body) if c.author == bot_login and c.in_reply_to is None else None
        if fp is not None and c.id not in closed:
            out.setdefault(fp, []).append(c)
    return out


def _up_to_date(posted: PostedReviewComment, new: ReviewComment) -> bool:
    """True when a posted comment still sits where ``new`` would and offers the same fix.

    A comment from before fix digests existed is judged by its place alone.
    """
    if posted.line is None or posted.line != new.line or (posted.start_line or posted.line) != (new.start_line
                                                                                                or new.line):
        return False
    digest = md.fix_digest_of(posted.body)
    return digest is None or digest == md.fix_digest_of(new.body)


def _effects(findings: Sequence[Finding]) -> str:
    n = md.counts(findings)
    return f"{n[Effect.DENY]} Deny, {n[Effect.AUDIT]} Audit"


def _review_body(pr: PullRequest, inline: list[Finding], new: int, earlier: int, overflow: list[Finding], cap: int,
                 refused: list[Finding], blocking: bool) -> str:
    text = (f"kubeguard reviewed {md.code(pr.head_sha[:12])}: {len(inline)} finding(s) in the changed lines "
            f"({_effects(inline)}); {new} new inline comment(s)")
    text += f", {earlier} already commented earlier." if earlier else "."
    if blocking:
        text += " Changes are requested because a Deny finding is in the diff."
    if refused:
        text += f" {len(refused)} comment(s) GitHub would not place inline are listed in the summary comment."
    text += " The summary comment shows the posture and anything outside the diff."
    sections: list[md.Section] = []
    if overflow:
        sections.append((f"**Not posted inline** (over the cap of {cap} comments per review):",
                         [md.where(f) for f in overflow]))
    return md.bounded([text], sections)


def _summary(pr: PullRequest, head: Report, base: Report | None, config: rules.Config, mode: FilterMode,
             outside: list[Finding], dropped: list[Finding], refused: list[Finding],
             diffs: Mapping[str, FileDiff]) -> str:
    intro = [SUMMARY_MARKER, "### kubeguard · Azure Defender for Kubernetes", "",
             f"Head {md.code(pr.head_sha[:12])}" + (f", base {md.code(pr.base_sha[:12])}" if base is not None else "")
             + f" · filter {md.code(mode.value)}.", "", md.score_line(head, base), "",
             *md.posture_table(head, base)]
    if dropped:
        intro += ["", f"{len(dropped)} finding(s) outside the changed lines are not reported on this pull request "
                      f"(filter {md.code(mode.value)}; {md.code('file')} lists them here)."]
    sections: list[md.Section] = []
    unconfigured = config.unconfigured()
    sections.append(("**Rules still at Defender's presets** (configuration required: set these parameters "
                     "under `rules:` in `.kubeguard.yaml` on the base branch):",
                     [f"{md.code(rule_id)}: {', '.join(md.code(p) for p in params)}"
                      for rule_id, params in sorted(unconfigured.items())]))
    suppressed = [f for f in sorted(head.findings, key=_order) if f.suppression is not None
                  and (_changed(diffs, f.file) or mode is FilterMode.NOFILTER)]
    sections.append(("**Suppressions used:**",
                     [f"{md.code(f'{f.file}:{f.line}')} {md.code(f.rule.id)} {md.code(str(f.resource))} "
                      f"({f.suppression.source}): {md.escape(md.one_line(f.suppression.reason))}"
                      for f in suppressed if f.suppression is not None]))
    sections.append(("**Findings outside the diff** (not commented inline; annotated on the check run):",
                     [md.where(f) for f in outside]))
    sections.append(("**Comments GitHub refused inline:**", [md.where(f) for f in refused]))
    missing = sorted((d for d in diffs.values() if d.patch_missing and not d.removed), key=lambda d: d.path)
    in_file = {d.path: sum(1 for f in _active(head) if f.file == d.path) for d in missing}
    sections.append(("**Files whose diff was not available from GitHub** (binary, too large, or unreadable: no "
                     "inline comments there):",
                     [f"{md.code(d.path)}: diff not available from GitHub ({md.escape(d.problem)}); "
                      f"{in_file[d.path]} finding(s) in the file" for d in missing]))
    sections.append(("**Files kubeguard could not read:**",
                     [f"{md.code(f'{p.file}:{p.line}')}: {md.escape(md.one_line(p.cause))} ({p.kind})"
                      for p in head.problems]))
    return md.bounded(intro, sections)


def _check(head: Report, base: Report | None, in_scope: list[Finding], levels: frozenset[Effect], fail_on: str,
           diffs: Mapping[str, FileDiff], mode: FilterMode) -> CheckOutput:
    problems = [p for p in head.problems if _changed(diffs, p.file) or mode is FilterMode.NOFILTER]
    parse = [p for p in problems if p.kind == "parse" and _changed(diffs, p.file)]
    failing = [f for f in in_scope if f.effect in levels]
    if failing or (parse and fail_on != "never"):
        conclusion = Conclusion.FAILURE
    elif in_scope or parse:
        conclusion = Conclusion.NEUTRAL
    else:
        conclusion = Conclusion.SUCCESS
    annotations = [Annotation(f.file, f.line, f.line,
                              AnnotationLevel.FAILURE if f.effect is Effect.DENY else AnnotationLevel.WARNING,
                              f.message, f"{f.rule.id}: {f.rule.title}"[:255],
                              f"{f.resource}" + (f", container {f.container}" if f.container else "")
                              + f" · {f.path_text} · {f.rule.control.value}")
                   for f in in_scope]
    for p in problems:
        level = AnnotationLevel.FAILURE if p.kind == "parse" and fail_on != "never" else AnnotationLevel.WARNING
        annotations.append(Annotation(p.file, max(p.line, 1), max(p.line, 1), level, p.cause, f"kubeguard: {p.kind}"))
    if in_scope:
        title = f"kubeguard: {len(in_scope)} finding(s) ({_effects(in_scope)})"
    else:
        title = "kubeguard: no findings in the changed manifests"
    if parse:
        title += f", {len(parse)} unreadable file(s)"
    verdict = (f"{len(failing)} finding(s) at or above {md.code(fail_on)}" if fail_on != "never"
               else "failOn is `never`: the check does not fail")
    summary = md.bounded([f"{title}. {verdict}.", "", md.score_line(head, base), "", *md.posture_table(head, base)],
                         [("**Unreadable changed files:**",
                           [f"{md.code(f'{p.file}:{p.line}')}: {md.escape(md.one_line(p.cause))}" for p in parse])])
    return CheckOutput(conclusion, title[:255], summary, tuple(annotations))


# ---- earlier comments ----------------------------------------------------------------------------------


def stale_comments(posted: Sequence[PostedReviewComment], current: frozenset[str],
                   bot_login: str) -> list[tuple[PostedReviewComment, str]]:
    """The bot's earlier comments whose finding is gone now: ``"reply"`` (fixed) where someone answered in
    the thread and the bot has not yet said "fixed", ``"delete"`` where nobody replied."""
    replies: dict[int, list[PostedReviewComment]] = {}
    for c in posted:
        if c.in_reply_to is not None:
            replies.setdefault(c.in_reply_to, []).append(c)
    out: list[tuple[PostedReviewComment, str]] = []
    for c in posted:
        if c.author != bot_login or c.in_reply_to is not None:
            continue
        fp = fingerprint_of(c.body)
        if fp is None or fp in current:
            continue
        thread = replies.get(c.id, [])
        if not thread:
            out.append((c, "delete"))
        elif not any(r.author == bot_login and FIXED_MARKER in r.body for r in thread):
            out.append((c, "reply"))
    return out
