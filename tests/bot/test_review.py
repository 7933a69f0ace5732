"""bot/review.py: what the bot publishes, composed from real scans, real verified fixes and GitHub-style patches."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

import fixes
import rules
from bot import markdown as md
from bot import review
from bot.diffmap import FileDiff, FilterMode, file_diffs
from bot.formats import fingerprint
from bot.markdown import MAX_TEXT, bounded, fingerprint_of
from bot.model import (
    AnnotationLevel,
    ChangedFile,
    Conclusion,
    PostedReviewComment,
    PullRequest,
    ReviewComment,
    ReviewEvent,
    ReviewPlan,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG_TEXT = (ROOT / "examples" / ".kubeguard.yaml").read_text()
UNHEALTHY = (ROOT / "examples" / "unhealthy.yaml").read_text()
HEALTHY = (ROOT / "examples" / "healthy.yaml").read_text()
CONFIG = rules.load_config(CONFIG_TEXT)
# container-no-privilege (line 28 of the unhealthy example) denies; everything else audits
DENY = rules.load_config(CONFIG_TEXT.replace("rules:\n", "rules:\n  container-no-privilege:\n    effect: Deny\n", 1))
PR = PullRequest("acme", "deploy", 7, "1" * 40, "2" * 40, "main", "feature")
PATH = "deploy/app.yaml"


def gh_patch(before: str, after: str, context: int = 3) -> str:
    """Hunks only, as GitHub's ``files`` endpoint gives them."""
    def lines(text: str) -> list[str]:
        parts = text.split("\n")
        return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])

    out = [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
           for number, line in enumerate(difflib.unified_diff(lines(before), lines(after), n=context)) if number >= 2]
    return "".join(out).rstrip("\n")


class Scenario:
    """A pull request changing one file from ``base_text`` to ``head_text``, scanned and fixed for real."""

    def __init__(self, head_text: str, base_text: str | None = None, config: rules.Config = CONFIG,
                 path: str = PATH, status: str | None = None, patch: str | None = "auto",
                 previous_path: str | None = None) -> None:
        self.head_text, self.config, self.path = head_text, config, path
        self.head = rules.scan_file(path, head_text, config)
        self.base = None if base_text is None else rules.scan_file(previous_path or path, base_text, config)
        status = status or ("added" if base_text is None else "modified")
        if patch == "auto":
            patch = gh_patch(base_text or "", head_text)
        changed = gh_patch(base_text or "", head_text).split("\n")
        plus, minus = (sum(1 for line in changed if line[:1] == sign) for sign in "+-")
        self.diffs = file_diffs([ChangedFile(path, status, patch, previous_path, plus, minus)])
        settings = fixes.settings_from_config(config)
        self.fixes = {fingerprint(f): fixes.fix_finding(path, head_text, f, config, settings)
                      for f in self.head.findings if not f.suppressed}
        self.by_fp = {fingerprint(f): f for f in self.head.findings}

    @property
    def diff(self) -> FileDiff:
        return self.diffs[self.path]

    def compose(self, **kw: object) -> ReviewPlan:
        args: dict[str, object] = {"pr": PR, "head": self.head, "base": self.base, "fixes": self.fixes,
                                   "diffs": self.diffs, "config": self.config}
        args.update(kw)
        return review.compose(**args)  # type: ignore[arg-type]

    def finding(self, rule_id: str) -> rules.Finding:
        (found,) = [f for f in self.head.findings if f.rule.id == rule_id]
        return found

    def comment(self, plan: ReviewPlan, rule_id: str) -> ReviewComment:
        fp = fingerprint(self.finding(rule_id))
        (found,) = [c for c in plan.comments if c.fingerprint == fp]
        return found


def suggestion_lines(body: str) -> list[str] | None:
    lines = body.split("\n")
    for i, line in enumerate(lines):
        match = re.fullmatch(r"(`{3,})suggestion", line)
        if match:
            end = lines.index(match.group(1), i + 1)
            return lines[i + 1:end]
    return None


def apply_suggestion(text: str, comment: ReviewComment) -> str:
    """What GitHub's "Commit suggestion" does: the commented lines become the block's lines."""
    block = suggestion_lines(comment.body)
    assert block is not None
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(newline)
    start = comment.start_line or comment.line
    return newline.join([*lines[:start - 1], *block, *lines[comment.line:]])


def check_suggestions(s: Scenario, plan: ReviewPlan) -> int:
    """Every suggestion lies in one hunk, covers its finding's line, and applied alone yields the fixed file."""
    count = 0
    for c in plan.comments:
        if suggestion_lines(c.body) is None:
            continue
        count += 1
        finding = s.by_fp[c.fingerprint]
        start = c.start_line or c.line
        assert start <= finding.line <= c.line, (finding.rule.id, start, c.line)
        assert s.diffs[c.path].same_hunk(start, c.line)
        assert apply_suggestion(s.head_text, c) == s.fixes[c.fingerprint].after, finding.rule.id
        assert not any("\r" in line for line in suggestion_lines(c.body) or [])
    return count


# ---- the reference pair: healthy.yaml (base) -> unhealthy.yaml (head) ----------------------------------


@pytest.fixture(scope="module")
def pair() -> Scenario:
    return Scenario(UNHEALTHY, HEALTHY, DENY)


def test_one_comment_per_finding_every_suggestion_applies_to_the_fixed_file(pair: Scenario) -> None:
    plan = pair.compose()
    assert len(pair.diff.hunks) == 1  # the whole file changed: one hunk
    assert {c.fingerprint for c in plan.comments} == {fingerprint(f) for f in pair.head.findings}
    assert check_suggestions(pair, plan) == len(plan.comments) == 12
    assert [(c.path, c.line) for c in plan.comments] == sorted((c.path, c.line) for c in plan.comments)
    assert all(c.as_api()["side"] == "RIGHT" for c in plan.comments)


def test_suggestion_range_widened_to_the_finding_line(pair: Scenario) -> None:
    finding = pair.finding("container-resource-limits")  # reported on the container's name (line 22)
    result = pair.fixes[fingerprint(finding)]
    bare = fixes.suggestion(result.before, result.after)
    assert bare is not None and finding.line == 22 and bare.start_line > finding.line  # limits go below line 26
    comment = pair.comment(pair.compose(), "container-resource-limits")
    assert (comment.start_line, comment.line) == (22, bare.end_line)
    block = suggestion_lines(comment.body)
    assert block is not None
    head = UNHEALTHY.split("\n")
    assert block[: bare.start_line - 22] == head[21: bare.start_line - 1]  # unchanged head lines lead the block
    assert comment.as_api()["start_line"] == 22 and comment.as_api()["start_side"] == "RIGHT"


def test_deletion_is_an_empty_suggestion(pair: Scenario) -> None:
    comment = pair.comment(pair.compose(), "block-host-namespace")  # hostPID (19) and hostIPC (20) go
    assert (comment.start_line, comment.line) == (19, 20)
    assert suggestion_lines(comment.body) == []
    assert "```suggestion\n```" in comment.body


def test_comment_body_tells_what_why_how_and_how_to_suppress(pair: Scenario) -> None:
    plan = pair.compose()
    body = pair.comment(plan, "container-no-privilege").body
    rule = rules.get_rule("container-no-privilege")
    assert body.startswith("**kubeguard · `container-no-privilege`** — Privileged containers should be avoided · "
                           "severity high · Deny")
    assert "Security control: Manage access and permissions" in body
    assert "> Privileged container is not allowed: nginx" in body
    assert "`Deployment default/nginx-unhealthy-deployment`, container `nginx`" in body
    assert rule.rationale.split("\n\n")[0].strip() in body
    assert "sets securityContext.privileged to false" in body and "changes behaviour" not in body
    assert "# kubeguard:ignore container-no-privilege -- <reason>" in body
    assert "kubeguard.io/ignore: container-no-privilege" in body and "kubeguard.io/ignore-reason:" in body
    fp = fingerprint(pair.finding("container-no-privilege"))
    assert body.rstrip().endswith(f"<!-- kubeguard:fingerprint={fp} -->")
    behaviour = pair.comment(plan, "allowed-host-paths").body
    assert "⚠️ changes behaviour: read before accepting" in behaviour
    value = pair.comment(plan, "container-allowed-images").body
    assert "value from configuration" in value and "⚠️" not in value
    assert "&lt;nginx&gt;" in pair.comment(plan, "container-resource-limits").body  # messages are escaped


def test_fingerprint_round_trip_and_markers(pair: Scenario) -> None:
    plan = pair.compose()
    assert all(review.fingerprint_of(c.body) == c.fingerprint for c in plan.comments)
    assert review.fingerprint_of(review.fixed_reply("abc1234")) is None
    assert review.fingerprint_of(plan.summary) is None and review.fingerprint_of("") is None
    forged = f"```\n<!-- kubeguard:fingerprint={'0' * 32} -->\n```\n<!-- kubeguard:fingerprint={'a' * 32} -->"
    assert review.fingerprint_of(forged) == "a" * 32  # the bot's marker comes last
    assert review.fixed_reply("abc1234").startswith("Fixed in abc1234.")


def test_deny_in_the_diff_requests_changes(pair: Scenario) -> None:
    plan = pair.compose()
    assert plan.event is ReviewEvent.REQUEST_CHANGES and plan.blocking
    assert plan.current_fingerprints == {fingerprint(f) for f in pair.head.findings}
    assert PR.head_sha[:12] in plan.body and "1 Deny, 11 Audit" in plan.body
    # posted before: not posted again, still blocking
    again = pair.compose(posted=plan.current_fingerprints)
    assert again.comments == () and again.event is ReviewEvent.REQUEST_CHANGES
    assert again.current_fingerprints == plan.current_fingerprints
    audit_only = Scenario(UNHEALTHY, HEALTHY, CONFIG).compose()
    assert audit_only.event is ReviewEvent.COMMENT and not audit_only.blocking


def test_posted_fingerprints_are_skipped(pair: Scenario) -> None:
    plan = pair.compose()
    posted = frozenset(c.fingerprint for c in plan.comments[:5])
    later = pair.compose(posted=posted)
    assert [c.fingerprint for c in later.comments] == [c.fingerprint for c in plan.comments[5:]]
    assert "5 already commented earlier" in later.body


BOT = "kubeguard[bot]"


def as_posted(plan: ReviewPlan, first_id: int = 100) -> list[PostedReviewComment]:
    """The plan's comments as GitHub lists them once posted by the bot."""
    return [PostedReviewComment(first_id + i, c.path, c.line, c.body, BOT, start_line=c.start_line)
            for i, c in enumerate(plan.comments)]


def test_up_to_date_comments_are_kept_and_out_of_date_ones_replaced(pair: Scenario) -> None:
    plan = pair.compose()
    posted = as_posted(plan)
    fps = frozenset(c.fingerprint for c in plan.comments)
    again = pair.compose(posted=fps, earlier=posted, bot_login=BOT)
    assert again.comments == () and again.superseded == ()
    assert f"{len(fps)} already commented earlier" in again.body

    by_fp = {c.fingerprint: c for c in plan.comments}
    limits = fingerprint(pair.finding("container-resource-limits"))
    images = fingerprint(pair.finding("container-allowed-images"))
    privileged = fingerprint(pair.finding("container-no-privilege"))
    changed = []
    for c in posted:
        if fingerprint_of(c.body) == limits:  # GitHub marked it outdated
            c = PostedReviewComment(c.id, c.path, None, c.body, BOT)
        elif fingerprint_of(c.body) == images:  # its suggestion was written against other lines
            c = PostedReviewComment(c.id, c.path, c.line, c.body.replace(
                md.fix_digest_of(c.body) or "", "0" * 16), BOT, start_line=c.start_line)
        elif fingerprint_of(c.body) == privileged:  # moved: it no longer covers the lines of the fix
            c = PostedReviewComment(c.id, c.path, c.line + 1, c.body, BOT, start_line=c.start_line)
        changed.append(c)
    later = pair.compose(posted=fps, earlier=changed, bot_login=BOT)
    assert sorted(c.fingerprint for c in later.comments) == sorted([limits, images, privileged])
    assert all(c == by_fp[c.fingerprint] for c in later.comments)  # the fix for the head as it is now
    assert sorted(c.id for c in later.superseded) == sorted(
        c.id for c in posted if fingerprint_of(c.body) in (limits, images, privileged))

    # a human's comment, or the bot's reply, never counts as the bot's comment on a finding
    forged = [PostedReviewComment(1, PATH, c.line, c.body, "mallory", start_line=c.start_line) for c in posted]
    assert len(pair.compose(posted=fps, earlier=forged, bot_login=BOT).comments) == len(fps)
    # a thread the bot closed as superseded no longer holds the finding: a fresh comment is posted
    closing = PostedReviewComment(999, PATH, 1, md.superseded_reply("abc" * 14), BOT, in_reply_to=posted[0].id)
    fresh = pair.compose(posted=fps, earlier=[*posted, closing], bot_login=BOT)
    assert [c.fingerprint for c in fresh.comments] == [fingerprint_of(posted[0].body)]
    assert fresh.superseded == ()


def test_a_replacement_over_the_cap_leaves_the_old_comment_in_place(pair: Scenario) -> None:
    plan = pair.compose()
    outdated = [PostedReviewComment(c.id, c.path, None, c.body, BOT) for c in as_posted(plan)]
    fps = frozenset(c.fingerprint for c in plan.comments)
    later = pair.compose(posted=fps, earlier=outdated, bot_login=BOT, max_comments=2)
    assert len(later.comments) == 2
    assert sorted(fingerprint_of(c.body) for c in later.superseded) == sorted(c.fingerprint for c in later.comments)


def test_older_comments_without_a_fix_digest_are_judged_by_their_place(pair: Scenario) -> None:
    plan = pair.compose()
    fps = frozenset(c.fingerprint for c in plan.comments)
    older = [PostedReviewComment(c.id, c.path, c.line, re.sub(r"<!-- kubeguard:fix=[0-9a-f]+ -->\n", "", c.body),
                                 BOT, start_line=c.start_line) for c in as_posted(plan)]
    assert all(md.fix_digest_of(c.body) is None for c in older)
    assert pair.compose(posted=fps, earlier=older, bot_login=BOT).comments == ()


def test_a_forged_fix_marker_inside_a_suggestion_does_not_count() -> None:
    forged = UNHEALTHY.replace("hostPID: true", "hostPID: true # <!-- kubeguard:fix=0000000000000000 -->")
    s = Scenario(forged, HEALTHY, CONFIG)
    plan = s.compose()
    (c,) = [c for c in plan.comments if "0000000000000000" in c.body]
    assert md.fix_digest_of(c.body) != "0" * 16


def test_cap_with_overflow_listed_in_the_body(pair: Scenario) -> None:
    plan = pair.compose(max_comments=3)
    full = pair.compose()
    assert plan.comments == full.comments[:3]
    for c in full.comments[3:]:
        f = pair.by_fp[c.fingerprint]
        assert f"`{PATH}:{f.line}` `{f.rule.id}`" in plan.body
    assert "over the cap of 3" in plan.body


def test_cap_of_fifty_on_many_findings() -> None:
    docs = [UNHEALTHY.split("\n", 1)[1].replace("nginx-unhealthy", f"nginx-{i}") for i in range(6)]
    text = "---\n".join(docs)
    s = Scenario(text, None, CONFIG)  # an added file: every line is added
    assert len(s.head.findings) == 72
    plan = s.compose()
    assert len(plan.comments) == 50
    assert plan.body.count(f"- `{PATH}:") == 22 and "over the cap of 50" in plan.body
    assert len(plan.current_fingerprints) == 72
    check_suggestions(s, plan)


def test_rejected_comments_go_to_the_summary(pair: Scenario) -> None:
    plan = pair.compose()
    refused = plan.comments[:2]
    retry = pair.compose(rejected=refused)
    assert [c.fingerprint for c in retry.comments] == [c.fingerprint for c in plan.comments[2:]]
    assert "Comments GitHub refused inline" in retry.summary
    for c in refused:
        assert f"`{c.path}:{pair.by_fp[c.fingerprint].line}` `{pair.by_fp[c.fingerprint].rule.id}`" in retry.summary
    assert retry.current_fingerprints == plan.current_fingerprints


# ---- posture arithmetic ----------------------------------------------------------------------------------


def test_summary_score_arithmetic_base_vs_head() -> None:
    # base: the healthy pair; head adds the unhealthy pair next to it (one file, four objects)
    s = Scenario(HEALTHY + "---\n" + UNHEALTHY, HEALTHY, CONFIG)
    plan = s.compose()
    summary = plan.summary
    assert summary.startswith(review.SUMMARY_MARKER)
    # Remediate vulnerabilities (6 points): 1 of 1 healthy before, 1 of 2 after
    assert "| Remediate vulnerabilities | 6 | 1 → 2 | 1 → 1 | 0 → 1 | 6 × 1/1 = 6.00 | 6 × 1/2 = 3.00 | -3.00 |" \
        in summary
    # Restrict network access counts the Deployments and the Services: 2 of 2 before, 2 of 4 after
    assert "| Restrict unauthorized network access | 4 | 2 → 4 | 2 → 2 | 0 → 3 | 4 × 2/2 = 4.00 | 4 × 2/4 = 2.00 " \
           "| -2.00 |" in summary
    # the unhealthy Deployment passes AppArmor under azure-current: still all healthy
    assert "| Remediate security configurations | 4 | 1 → 2 | 1 → 2 | 0 → 0 | 4 × 1/1 = 4.00 | 4 × 2/2 = 4.00 " \
           "| +0.00 |" in summary
    points = 6 * 1 / 2 + 4 * 1 / 2 + 4 * 2 / 2 + 4 * 2 / 4 + 2 * 1 / 2
    assert points == 12.0
    assert f"| **Total** | | | | 0 → 12 | 20.00 / 20 | {points:.2f} / 20 | **-8.00** |" in summary
    assert "(base 20.00 / 20; this pull request: -8.00)" in summary
    # the check run carries the same table
    assert "| Remediate vulnerabilities | 6 | 1 → 2 |" in plan.check.summary


def test_summary_without_base_shows_head_only() -> None:
    s = Scenario(UNHEALTHY, None, CONFIG)
    plan = s.compose()
    assert "| Manage access and permissions | 4 | 1 | 0 | 7 | 4 × 0/1 = 0.00 |" in plan.summary
    lines = plan.summary.split("\n")
    assert lines[3] == f"Head `{PR.head_sha[:12]}` · filter `diff_context`."
    assert next(line for line in lines if line.startswith("Secure score")) == \
        "Secure score of the changed manifests: **4.00 / 20**."
    assert "base" not in plan.check.summary


def test_summary_lists_unconfigured_rules_suppressions_and_problems() -> None:
    head = UNHEALTHY.replace("          privileged: true\n",
                             "          privileged: true  # kubeguard:ignore container-no-privilege -- eBPF agent\n")
    s = Scenario(head, HEALTHY, rules.default_config())
    plan = s.compose()
    unconfigured = rules.default_config().unconfigured()
    assert unconfigured and "Rules still at Defender's presets" in plan.summary
    for rule_id, params in unconfigured.items():
        assert f"`{rule_id}`: " + ", ".join(f"`{p}`" for p in params) in plan.summary
    assert "Suppressions used" in plan.summary and "eBPF agent" in plan.summary
    fp = fingerprint(s.finding("container-no-privilege"))
    assert fp not in plan.current_fingerprints and all(c.fingerprint != fp for c in plan.comments)

    broken = Scenario("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n", "apiVersion: v1\n", CONFIG)
    assert broken.head.problems
    p = broken.head.problems[0]
    assert f"`{p.file}:{p.line}`" in broken.compose().summary


def test_summary_stays_under_the_limit_with_very_many_findings() -> None:
    many = "---\n".join(UNHEALTHY.split("\n", 1)[1].replace("nginx-unhealthy", f"n{i}") for i in range(150))
    head = rules.scan_file("other/big.yaml", many, CONFIG)
    diffs = file_diffs([ChangedFile(PATH, "modified", gh_patch("a: 1\n", "a: 2\n"))])
    plan = review.compose(pr=PR, head=head, base=None, fixes={}, diffs=diffs, config=CONFIG,
                          mode=FilterMode.NOFILTER)
    assert len(head.findings) == 1800
    assert len(plan.summary) <= MAX_TEXT and "... and " in plan.summary
    assert len(plan.check.annotations) == 1800 and plan.comments == ()
    assert len(plan.check.summary) <= 65535
    text = bounded(["x" * 100], [("**List:**", ["y" * 1000] * 500)])
    assert len(text) <= MAX_TEXT and "... and" in text


# ---- diff mapping in the review ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_hunks() -> Scenario:
    # base differs from head at the image (line 23) and the Service's targetPort (line 55): two hunks
    base = UNHEALTHY.replace("nginx:1.15.2", "nginx:1.15.1").replace("targetPort: 9001", "targetPort: 9002")
    return Scenario(UNHEALTHY, base, DENY)


def test_suggestion_across_two_hunks_falls_back_to_a_diff_block(two_hunks: Scenario) -> None:
    s = two_hunks
    assert [(h.start, h.end) for h in s.diff.hunks] == [(20, 26), (52, 55)]
    finding = s.finding("container-allowed-ports")  # containerPort (25) and the Service's targetPort (55)
    bare = fixes.suggestion(s.fixes[fingerprint(finding)].before, s.fixes[fingerprint(finding)].after)
    assert bare is not None and (bare.start_line, bare.end_line) == (25, 55)
    comment = s.comment(s.compose(), "container-allowed-ports")
    assert (comment.start_line, comment.line) == (None, 25)
    assert suggestion_lines(comment.body) is None and "```diff\n" in comment.body
    assert "-          targetPort: 9001" in comment.body or "-    targetPort: 9001" in comment.body
    check_suggestions(s, s.compose())


def test_filter_modes_in_the_review(two_hunks: Scenario) -> None:
    s = two_hunks
    in_hunks = {fingerprint(f) for f in s.head.findings if s.diff.in_hunk(f.line)}
    added = {fingerprint(f) for f in s.head.findings if s.diff.is_added(f.line)}
    assert added == {fingerprint(s.finding("container-allowed-images"))}
    assert in_hunks < {fingerprint(f) for f in s.head.findings}

    context = s.compose()
    assert {c.fingerprint for c in context.comments} == in_hunks == context.current_fingerprints
    assert "Findings outside the diff" not in context.summary and "outside the changed lines are not" in context.summary
    # container-no-privilege (Deny, line 28) is outside both hunks: no blocking review, and the check passes it by
    assert context.event is ReviewEvent.COMMENT
    assert context.check.conclusion is Conclusion.NEUTRAL
    assert len(context.check.annotations) == len(in_hunks)

    only_added = s.compose(mode=FilterMode.ADDED)
    assert {c.fingerprint for c in only_added.comments} == added

    file_mode = s.compose(mode=FilterMode.FILE)
    assert {c.fingerprint for c in file_mode.comments} == in_hunks
    assert "Findings outside the diff" in file_mode.summary
    assert "`container-no-privilege` (Deny)" in file_mode.summary
    assert file_mode.event is ReviewEvent.COMMENT  # a Deny outside the diff does not request changes
    assert file_mode.check.conclusion is Conclusion.FAILURE  # but it is in scope for the check
    assert len(file_mode.check.annotations) == len(s.head.findings)
    check_suggestions(s, file_mode)


def test_unchanged_files_only_with_nofilter(two_hunks: Scenario) -> None:
    s = two_hunks
    other = rules.scan_file("other.yaml", UNHEALTHY, DENY)
    head = rules.Report()
    head.extend(s.head)
    head.extend(other)
    args = {"pr": PR, "head": head, "base": s.base, "fixes": s.fixes, "diffs": s.diffs, "config": DENY}
    file_mode = review.compose(mode=FilterMode.FILE, **args)  # type: ignore[arg-type]
    nofilter = review.compose(mode=FilterMode.NOFILTER, **args)  # type: ignore[arg-type]
    assert "`other.yaml:" not in file_mode.summary and "`other.yaml:28` `container-no-privilege`" in nofilter.summary
    assert all(c.path == PATH for c in nofilter.comments)
    assert {a.path for a in nofilter.check.annotations} == {PATH, "other.yaml"}


def test_missing_patch_is_named_in_the_summary_never_silently_lost() -> None:
    s = Scenario(UNHEALTHY, HEALTHY, DENY, patch=None)
    context = s.compose()
    assert context.comments == () and context.event is ReviewEvent.COMMENT
    assert f"`{PATH}`: diff not available from GitHub" in context.summary
    assert "12 finding(s) in the file" in context.summary
    file_mode = s.compose(mode=FilterMode.FILE)
    assert file_mode.comments == () and file_mode.summary.count(f"- `{PATH}:") == 12
    assert file_mode.check.conclusion is Conclusion.FAILURE and len(file_mode.check.annotations) == 12


def test_renamed_file_comments_on_the_new_path() -> None:
    s = Scenario(UNHEALTHY, HEALTHY, DENY, path="apps/new.yaml", status="renamed", previous_path="apps/old.yaml")
    plan = s.compose()
    assert plan.comments and {c.path for c in plan.comments} == {"apps/new.yaml"}
    pure = Scenario(UNHEALTHY, UNHEALTHY, DENY, path="apps/new.yaml", status="renamed", patch=None,
                    previous_path="apps/old.yaml")
    assert pure.diff.hunks == () and not pure.diff.patch_missing
    assert pure.compose().comments == ()
    assert pure.compose(mode=FilterMode.FILE).summary.count("- `apps/new.yaml:") == 12


def test_crlf_file_suggestions_apply_exactly() -> None:
    s = Scenario(UNHEALTHY.replace("\n", "\r\n"), HEALTHY.replace("\n", "\r\n"), DENY)
    plan = s.compose()
    assert check_suggestions(s, plan) == 12


def test_fence_longer_than_a_backtick_run_in_the_replacement() -> None:
    # a comment holding a run of four backticks between the container's name (22) and where its limits go
    head = UNHEALTHY.replace("        ports:\n", "        ports:  # see ````notes````\n")
    s = Scenario(head, HEALTHY, CONFIG)
    comment = s.comment(s.compose(), "container-resource-limits")
    assert "`````suggestion\n" in comment.body and "\n`````\n" in comment.body
    assert any("````notes````" in line for line in suggestion_lines(comment.body) or [])
    check_suggestions(s, s.compose())


def test_manual_finding_says_how_to_fix_it(pair: Scenario) -> None:
    f = pair.finding("container-no-privilege")
    manual = dict(pair.fixes)
    manual[fingerprint(f)] = fixes.FixResult(f, False, None, "sets securityContext.privileged to false",
                                             "the value sits in a Helm template")
    body = pair.comment(pair.compose(fixes=manual), "container-no-privilege").body
    assert "**Manual fix:** the value sits in a Helm template." in body
    assert f.rule.remediation in body and "```suggestion" not in body
    del manual[fingerprint(f)]
    assert "**Manual fix:**" in pair.comment(pair.compose(fixes=manual), "container-no-privilege").body


# ---- the check run -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "fail_on", "expected"), [
    (DENY, "deny", Conclusion.FAILURE),
    (CONFIG, "deny", Conclusion.NEUTRAL),
    (CONFIG, "audit", Conclusion.FAILURE),
    (DENY, "never", Conclusion.NEUTRAL),
])
def test_check_conclusion_per_fail_on(config: rules.Config, fail_on: str, expected: Conclusion) -> None:
    s = Scenario(UNHEALTHY, HEALTHY, config)
    check = s.compose(fail_on=fail_on).check
    assert check.conclusion is expected
    assert len(check.annotations) == 12
    levels = {a.title.split(":")[0]: a.level for a in check.annotations}
    assert levels["container-no-privilege"] is (AnnotationLevel.FAILURE if config is DENY else AnnotationLevel.WARNING)
    assert levels["container-allowed-images"] is AnnotationLevel.WARNING
    a = next(a for a in check.annotations if a.title.startswith("container-no-privilege"))
    assert a.start_line == a.end_line == 28 and a.message.startswith("Privileged container is not allowed")
    assert a.title == "container-no-privilege: Privileged containers should be avoided"


def test_check_succeeds_without_findings_and_fails_on_a_parse_problem() -> None:
    clean = Scenario(HEALTHY, HEALTHY.replace("replicas: 3", "replicas: 2"), DENY)
    plan = clean.compose()
    assert plan.check.conclusion is Conclusion.SUCCESS and plan.check.annotations == ()
    assert plan.event is ReviewEvent.COMMENT and plan.comments == ()
    broken = Scenario("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n", "apiVersion: v1\n", DENY)
    assert any(p.kind == "parse" for p in broken.head.problems)
    assert broken.compose().check.conclusion is Conclusion.FAILURE
    assert broken.compose(fail_on="never").check.conclusion is Conclusion.NEUTRAL
    assert broken.compose().check.annotations[0].level is AnnotationLevel.FAILURE
    with pytest.raises(ValueError, match="fail_on"):
        broken.compose(fail_on="sometimes")


# ---- earlier comments ----------------------------------------------------------------------------------------


def test_stale_comments_reply_or_delete() -> None:
    bot = "kubeguard[bot]"

    def marked(fp: str) -> str:
        return f"finding\n\n<!-- kubeguard:fingerprint={fp} -->"

    current, gone, answered, done = "a" * 32, "b" * 32, "c" * 32, "d" * 32
    posted = [
        PostedReviewComment(1, PATH, 10, marked(current), bot),
        PostedReviewComment(2, PATH, 11, marked(gone), bot),
        PostedReviewComment(3, PATH, None, marked(answered), bot),
        PostedReviewComment(4, PATH, 12, "we need this", "alice", in_reply_to=3),
        PostedReviewComment(5, PATH, 13, marked(done), bot),
        PostedReviewComment(6, PATH, 13, "ok", "alice", in_reply_to=5),
        PostedReviewComment(7, PATH, 13, review.fixed_reply("abc"), bot, in_reply_to=5),
        PostedReviewComment(8, PATH, 14, marked(gone), "mallory"),  # not the bot's
        PostedReviewComment(9, PATH, 15, marked(gone), bot, in_reply_to=1),  # a reply itself
        PostedReviewComment(10, PATH, 16, "a plain bot comment", bot),
    ]
    stale = review.stale_comments(posted, frozenset({current}), bot)
    assert [(c.id, action) for c, action in stale] == [(2, "delete"), (3, "reply")]
    assert review.stale_comments(posted, frozenset({current, gone, answered, done}), bot) == []
