"""One pipeline for every entry point: the webhook's workers, the Action and the CLI all call
``review_pull_request``; they differ only in how they build the client.

get the pull request and its changed files ─► read ``.kubeguard.yaml`` at the BASE commit (a pull request
cannot relax its own rules) ─► scan the head versions (and the base versions, for the posture) ─►
verify a fix per finding against the head file ─► compose the review ─► publish: check run, review,
replies to fixed comments, dismissal of a stale blocking review, the summary comment.

Publishing is idempotent: comments carry fingerprints and are posted once per pull request, the summary
is edited in place, so a redelivered event or a retried job repeats nothing. The check run too: a run on the
head from an earlier attempt (a job killed mid-review and re-run by the queue) is taken over rather than left
in progress next to a new one.

Files are read ``Options.read_concurrency`` at a time (one request each; GitHub answers in 100-300 ms, so
a 3,000-file pull request read one by one took 5-15 minutes); results keep the order of the file list.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import fixes
import rules
from bot import diffmap, review
from bot import markdown as md
from bot.formats import fingerprint
from bot.github_limits import DEFAULT_READ_CONCURRENCY
from bot.markdown import superseded_reply
from bot.model import (
    Annotation,
    ChangedFile,
    CheckOutput,
    Conclusion,
    IssueComment,
    PostedCheckRun,
    PostedReview,
    PostedReviewComment,
    PullRequest,
    ReviewComment,
    ReviewEvent,
    ReviewPlan,
)

log = logging.getLogger("kubeguard.pipeline")
CHECK_NAME = "kubeguard"
MANIFEST_SUFFIXES = (".yaml", ".yml")
DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024  # a manifest larger than this is reported, not parsed
GITHUB_FILE_LIST_LIMIT = 3_000  # GET .../pulls/{n}/files lists at most this many files (100 per page)
MAX_CONFIG_BYTES = 256 * 1024  # a .kubeguard.yaml is a few KB; a huge one is refused before it is parsed


class Client(Protocol):
    """What the pipeline needs of GitHub (``bot.github_client.GitHubClient``; any object with these).
    ``file_content`` is called from several threads at once unless ``Options.read_concurrency`` is 1."""

    @property
    def app_id(self) -> int | None: ...
    def pull_request(self, number: int) -> PullRequest: ...
    def changed_files(self, number: int) -> list[ChangedFile]: ...
    def file_content(self, path: str, ref: str) -> bytes | None: ...
    def tree_paths(self, ref: str) -> list[str]: ...
    def review_comments(self, number: int) -> list[PostedReviewComment]: ...
    def reviews(self, number: int) -> list[PostedReview]: ...
    def issue_comments(self, number: int) -> list[IssueComment]: ...
    def create_review(self, number: int, commit_sha: str, body: str, event: ReviewEvent,
                      comments: Any) -> int: ...
    def dismiss_review(self, number: int, review_id: int, message: str) -> None: ...
    def reply_to_review_comment(self, number: int, comment_id: int, body: str) -> int: ...
    def delete_review_comment(self, comment_id: int) -> None: ...
    def upsert_issue_comment(self, number: int, marker: str, body: str) -> int: ...
    def check_runs(self, name: str, head_sha: str) -> list[PostedCheckRun]: ...
    def check_run_annotations(self, check_run_id: int) -> list[Annotation]: ...
    def create_check_run(self, name: str, head_sha: str, external_id: str | None = ...) -> int: ...
    def adopt_check_run(self, check_run_id: int, external_id: str) -> None: ...
    def complete_check_run(self, check_run_id: int, output: CheckOutput) -> None: ...
    def create_status(self, sha: str, state: str, description: str, context: str = ...,
                      target_url: str | None = ...) -> None: ...


@dataclass(frozen=True)
class Options:
    """Per-run choices; ``None`` means: take it from the base branch's configuration (then the default)."""

    filter_mode: str | None = None
    max_comments: int | None = None
    fail_on: str | None = None
    review_drafts: bool | None = None
    bot_login: str = "kubeguard[bot]"
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    publish_review: bool = True  # False: check run and summary only (a token that may not review)
    dry_run: bool = False  # compose everything, publish nothing (the Action's fallback for read-only tokens)
    read_concurrency: int = DEFAULT_READ_CONCURRENCY  # file reads in flight at once (1: one after the other)


@dataclass
class Outcome:
    """What a run did, for logs, the Action's outputs and tests."""

    pr: PullRequest | None = None
    skipped: str = ""  # why nothing was published (draft, superseded, closed)
    plan: ReviewPlan | None = None
    review_id: int | None = None
    rejected: list[ReviewComment] = field(default_factory=list)
    replied: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    dismissed: list[int] = field(default_factory=list)
    check_run_id: int | None = None
    used_status: bool = False
    config_error: str = ""
    findings: int = 0
    problems: list[rules.Problem] = field(default_factory=list)
    unlisted_files: int = 0  # changed files GitHub did not list (its list stops at 3,000): not reviewed

    @property
    def conclusion(self) -> Conclusion | None:
        return self.plan.check.conclusion if self.plan else (Conclusion.FAILURE if self.config_error else None)


def is_manifest(path: str) -> bool:
    return path.lower().endswith(MANIFEST_SUFFIXES)


# ---- reading ------------------------------------------------------------------------------------------


def load_base_config(client: Client, pr: PullRequest) -> rules.Config:
    """``.kubeguard.yaml`` as the BASE commit has it (defaults when absent). Raises ``rules.ConfigError``."""
    from bot.github_client import NotAFile

    source = f"{rules.CONFIG_FILE} (base {pr.base_ref}@{pr.base_sha[:7]})"
    try:
        data = client.file_content(rules.CONFIG_FILE, pr.base_sha)
    except NotAFile as exc:  # silently taking the defaults would hide the team's rules
        raise rules.ConfigError(source, 1, f"{exc}, not a file: links are not followed; commit the "
                                           "configuration itself") from None
    if data is None:
        return rules.default_config()
    if len(data) > MAX_CONFIG_BYTES:
        raise rules.ConfigError(source, 1, f"{len(data):,} bytes, over the limit of {MAX_CONFIG_BYTES:,} for a "
                                           "configuration: not read")
    text = rules.decode(source, data)
    if isinstance(text, rules.Problem):
        raise rules.ConfigError(source, text.line, text.cause)
    return rules.load_config(text, source)


def _fetch(client: Client, paths: Iterable[str], ref: str, max_bytes: int, problems: list[rules.Problem],
           concurrency: int = 1) -> dict[str, bytes]:
    """The files' bytes at ``ref``, in the order of ``paths``; what cannot be reviewed becomes a problem."""
    from bot.github_client import NotAFile

    paths = list(paths)
    out: dict[str, bytes] = {}
    for path, data in zip(paths, _read_all(client, paths, ref, concurrency), strict=True):
        if isinstance(data, NotAFile):
            what = f"a {data.kind}" + (f" (to {data.target})" if data.target else "")
            problems.append(rules.Problem(path, 1, 1, f"{what}: not followed, not reviewed (a target in the "
                                                      "pull request is reviewed at its own path)", "skipped"))
            continue
        if data is None:
            problems.append(rules.Problem(path, 1, 1, f"not found at {ref[:7]} (deleted or moved after the "
                                                      "event); not reviewed", "skipped"))
            continue
        if len(data) > max_bytes:
            problems.append(rules.Problem(path, 1, 1, f"{len(data):,} bytes, over the limit of {max_bytes:,} "
                                                      "per manifest; not reviewed", "skipped"))
            continue
        out[path] = data
    return out


def _read_all(client: Client, paths: Sequence[str], ref: str, concurrency: int) -> list[Any]:
    """``client.file_content`` of each path (a ``NotAFile`` in its place for a link), ``concurrency`` at a time,
    in the order of ``paths``. Any other error stops the reads not yet started and is raised."""
    from bot.github_client import NotAFile

    def read(path: str) -> bytes | NotAFile | None:
        try:
            return client.file_content(path, ref)
        except NotAFile as exc:
            return exc

    workers = min(max(1, concurrency), len(paths))
    if workers <= 1:
        return [read(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kubeguard-read") as pool:
        futures: list[Future[bytes | NotAFile | None]] = [pool.submit(read, p) for p in paths]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


# ---- the pipeline -------------------------------------------------------------------------------------


def review_pull_request(client: Client, number: int, options: Options | None = None, *,
                        expected_head: str | None = None) -> Outcome:
    """Review one pull request at its current head and publish the result."""
    options = options or Options()
    pr = client.pull_request(number)
    outcome = Outcome(pr=pr)
    if pr.state != "open":
        outcome.skipped = "the pull request is closed"
        return outcome
    if expected_head is not None and expected_head != pr.head_sha:
        outcome.skipped = f"superseded: the head moved from {expected_head[:7]} to {pr.head_sha[:7]}"
        return outcome

    check = _Check() if options.dry_run else _start_check(client, pr)
    try:
        config = load_base_config(client, pr)
    except rules.ConfigError as exc:
        outcome.config_error = str(exc)
        if not options.dry_run:
            _publish_config_error(client, pr, check, str(exc), outcome)
        return outcome
    settings = _settings(config, options)
    if pr.draft and not settings.review_drafts:
        outcome.skipped = "draft pull request (set review.drafts: true to review drafts)"
        if not options.dry_run:
            _finish_check(client, pr, check, CheckOutput(
                Conclusion.NEUTRAL, "kubeguard: draft skipped", "Draft pull requests are reviewed once ready."),
                outcome)
        return outcome

    files = client.changed_files(number)
    outcome.unlisted_files = max(0, (pr.changed_files or 0) - len(files))
    diffs = diffmap.file_diffs(files)
    problems: list[rules.Problem] = []
    head_paths = [f.path for f in files if f.status != "removed" and is_manifest(f.path)]
    if settings.mode is diffmap.FilterMode.NOFILTER:
        changed = {f.path for f in files}
        head_paths += [p for p in client.tree_paths(pr.head_sha) if is_manifest(p) and p not in changed]
    head_data = _fetch(client, head_paths, pr.head_sha, options.max_file_bytes, problems, options.read_concurrency)
    base_paths = {(f.previous_path or f.path): f.path for f in files
                  if f.status not in ("added",) and is_manifest(f.previous_path or f.path)}
    base_data = _fetch(client, base_paths, pr.base_sha, options.max_file_bytes, [], options.read_concurrency)

    head = rules.scan(head_data.items(), config)
    head.problems.extend(problems)
    base = rules.scan(((base_paths[p], d) for p, d in base_data.items()), config)
    outcome.findings = len(head.findings)
    outcome.problems = list(head.problems)

    fix_results = _fixes(head, head_data, diffs, config, settings.mode)
    posted = client.review_comments(number)
    closed = {c.in_reply_to for c in posted if c.author == options.bot_login and review.FIXED_MARKER in c.body}
    already = frozenset(fp for c in posted if c.author == options.bot_login and c.id not in closed
                        for fp in [review.fingerprint_of(c.body)] if fp)  # a finding back after "fixed": again

    def compose(rejected: list[ReviewComment]) -> ReviewPlan:
        return review.compose(pr=pr, head=head, base=base, fixes=fix_results, diffs=diffs, config=config,
                              mode=settings.mode, max_comments=settings.max_comments, posted=already,
                              fail_on=settings.fail_on, rejected=rejected, earlier=posted,
                              bot_login=options.bot_login)

    if outcome.unlisted_files:
        compose = _noting_unlisted(compose, outcome.unlisted_files, pr.changed_files or 0)
    plan = compose([])
    outcome.plan = plan
    if options.dry_run:
        return outcome
    if options.publish_review and plan.comments:
        plan = _post_review(client, pr, plan, outcome, compose, lambda: diffmap.file_diffs(
            client.changed_files(number)))
    outcome.plan = plan
    if options.publish_review:
        _tidy(client, pr, plan, posted, options.bot_login, outcome)
    client.upsert_issue_comment(number, review.SUMMARY_MARKER, plan.summary)
    _finish_check(client, pr, check, plan.check, outcome)
    return outcome


def _noting_unlisted(compose: Callable[[list[ReviewComment]], ReviewPlan], missing: int,
                     total: int) -> Callable[[list[ReviewComment]], ReviewPlan]:
    def composed(rejected: list[ReviewComment]) -> ReviewPlan:
        return note_unlisted(compose(rejected), missing, total)
    return composed


def note_unlisted(plan: ReviewPlan, missing: int, total: int) -> ReviewPlan:
    """Say, at the top of the summary and the check run, that ``missing`` of ``total`` changed files were never
    listed by GitHub and so not reviewed; a check that would pass is neutral, since part of the change is unseen."""
    note = (f"**{missing:,} of the pull request's {total:,} changed files were not reviewed**: GitHub lists at most "
            f"{GITHUB_FILE_LIST_LIMIT:,} files of a pull request. Scan them on a checkout (`kubeguard scan`, or "
            "the Action on a push), or split the pull request.")
    lines = plan.summary.split("\n")
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("### ")), min(1, len(lines)))
    summary = _fit("\n".join([*lines[:at], "", note, *lines[at:]]))
    check = plan.check
    conclusion = Conclusion.NEUTRAL if check.conclusion is Conclusion.SUCCESS else check.conclusion
    check = dataclasses.replace(check, conclusion=conclusion, summary=_fit(f"{note}\n\n{check.summary}"),
                                title=f"{check.title}, {missing:,} file(s) not reviewed"[:255])
    return dataclasses.replace(plan, summary=summary, check=check)


def _fit(text: str) -> str:
    if len(text) <= md.MAX_TEXT:
        return text
    return text[: md.MAX_TEXT - 40].rsplit("\n", 1)[0] + "\n\n... (truncated)"


@dataclass(frozen=True)
class _Settings:
    mode: diffmap.FilterMode
    max_comments: int
    fail_on: str
    review_drafts: bool


def _settings(config: rules.Config, options: Options) -> _Settings:
    section = config.extensions.get("review", {}) or {}

    def pick(given: Any, key: str, default: Any) -> Any:
        return given if given is not None else section.get(key, default)

    mode = options.filter_mode or config.extensions.get("filter") or diffmap.FilterMode.DIFF_CONTEXT.value
    return _Settings(diffmap.FilterMode.parse(str(mode)), int(pick(options.max_comments, "maxComments", 50)),
                     str(pick(options.fail_on, "failOn", "deny")), bool(pick(options.review_drafts, "drafts", False)))


def _fixes(report: rules.Report, data: dict[str, bytes], diffs: dict[str, diffmap.FileDiff],
           config: rules.Config, mode: diffmap.FilterMode) -> dict[str, fixes.FixResult]:
    """One verified fix per finding that may be commented inline, each computed on the head file alone."""
    settings = fixes.settings_from_config(config)
    out: dict[str, fixes.FixResult] = {}
    by_file: dict[str, list[rules.Finding]] = {}
    for f in report.findings:
        if f.suppressed or f.effect is rules.Effect.DISABLED:
            continue
        if diffmap.placement(diffs.get(f.file), f.line, mode) is not diffmap.Placement.INLINE:
            continue
        by_file.setdefault(f.file, []).append(f)
    for path, findings in by_file.items():
        text = rules.decode(path, data[path])
        if isinstance(text, rules.Problem):
            continue
        everything = [f for f in report.findings if f.file == path]
        for f in findings:
            try:
                out[fingerprint(f)] = fixes.fix_finding(path, text, f, config, settings, before_findings=everything)
            except Exception:  # a fix that cannot be computed is a manual finding, never a lost review
                log.exception("fix failed for %s:%s %s", path, f.line, f.rule.id)
    return out


@dataclass(frozen=True)
class _Check:
    """Where the verdict goes: a check run (``taken_over`` when it is an earlier attempt's), else a commit status."""

    run_id: int | None = None
    use_status: bool = False
    taken_over: PostedCheckRun | None = None


def check_external_id(pr: PullRequest) -> str:
    """The ``external_id`` of the bot's check runs: which pull request a run reviews (one head may be in several)."""
    return f"{CHECK_NAME}:pull/{pr.number}"


def _start_check(client: Client, pr: PullRequest) -> _Check:
    """A check run in progress: the newest kubeguard run on the head from an earlier attempt (a job killed
    mid-review, a redelivered event) if there is one, else a new one; the earlier attempts' other runs still in
    progress are completed as superseded. A token that may not create check runs (403) uses a commit status."""
    from bot.github_client import GitHubError

    external_id = check_external_id(pr)
    try:
        earlier = [r for r in client.check_runs(CHECK_NAME, pr.head_sha) if _ours(client, r, external_id)]
    except GitHubError as exc:
        if exc.status not in (403, 404):
            raise
        earlier = []  # may not read check runs: creating one is refused too, and the status is used
    if earlier:
        run = earlier[-1]
        try:
            client.adopt_check_run(run.id, external_id)
        except GitHubError as exc:  # another app's run after all (an Action's token lists every app's)
            if exc.status not in (403, 404):
                raise
            log.info("check run %s is not this app's (%s): a new one", run.id, exc)
        else:
            for stale in earlier[:-1]:
                if stale.status != "completed":
                    _supersede(client, pr, stale.id, run.id)
            return _Check(run.id, taken_over=run)
    try:
        return _Check(client.create_check_run(CHECK_NAME, pr.head_sha, external_id=external_id))
    except GitHubError as exc:
        if exc.status not in (403, 404):
            raise
        client.create_status(pr.head_sha, "pending", "kubeguard is reviewing the manifests")
        return _Check(use_status=True)


def _ours(client: Client, run: PostedCheckRun, external_id: str) -> bool:
    """A run of this pull request by the bot: its external id, or, for a run of this very app created before runs
    carried one, no external id at all (a bare token cannot tell its app's runs from, say, a workflow job's)."""
    if run.external_id is not None:
        return run.external_id == external_id
    return client.app_id is not None and run.app_id == client.app_id


def _supersede(client: Client, pr: PullRequest, run_id: int, current: int) -> None:
    """Complete an earlier attempt's run, neutral (it never blocks a merge), pointing at the current one."""
    from bot.github_client import GitHubError

    try:
        client.complete_check_run(run_id, CheckOutput(
            Conclusion.NEUTRAL, "kubeguard: superseded",
            f"This attempt at reviewing {pr.head_sha[:7]} was interrupted or replaced; check run {current} has "
            "the review."))
    except GitHubError as exc:
        if exc.status not in (403, 404):
            raise
        log.warning("could not complete the superseded check run %s: %s", run_id, exc)


_STATUS = {Conclusion.SUCCESS: "success", Conclusion.NEUTRAL: "success", Conclusion.FAILURE: "failure"}


def _finish_check(client: Client, pr: PullRequest, check: _Check, output: CheckOutput, outcome: Outcome) -> None:
    """Complete the check run (or set the final status). GitHub only ever appends annotations: on a run taken
    over, those already there are not sent again; if some of them are no longer findings (they cannot be removed),
    the verdict goes to a fresh run and the old one is completed as superseded."""
    outcome.used_status = check.use_status
    if check.run_id is None:
        if check.use_status:
            client.create_status(pr.head_sha, _STATUS[output.conclusion], output.title)
        return
    run_id, earlier = check.run_id, check.taken_over
    if earlier is not None and earlier.annotations_count:
        missing = collections.Counter(output.annotations)
        missing.subtract(client.check_run_annotations(earlier.id))
        if any(count < 0 for count in missing.values()):
            run_id = client.create_check_run(CHECK_NAME, pr.head_sha, external_id=check_external_id(pr))
            client.complete_check_run(run_id, output)
            _supersede(client, pr, earlier.id, run_id)
            outcome.check_run_id = run_id
            return
        fresh: list[Annotation] = []
        for annotation in output.annotations:  # in the plan's order
            if missing[annotation] > 0:
                missing[annotation] -= 1
                fresh.append(annotation)
        output = dataclasses.replace(output, annotations=tuple(fresh))
    client.complete_check_run(run_id, output)
    outcome.check_run_id = run_id


def _publish_config_error(client: Client, pr: PullRequest, check: _Check, error: str, outcome: Outcome) -> None:
    text = (f"{review.SUMMARY_MARKER}\n### kubeguard could not read its configuration\n\n"
            f"`{error}`\n\nThe configuration is read from the base branch; fix it there. No manifest was reviewed.")
    client.upsert_issue_comment(pr.number, review.SUMMARY_MARKER, text)
    _finish_check(client, pr, check, CheckOutput(
        Conclusion.FAILURE, "kubeguard: configuration error", text.split("\n", 1)[1]), outcome)


def _post_review(client: Client, pr: PullRequest, plan: ReviewPlan, outcome: Outcome,
                 compose: Callable[[list[ReviewComment]], ReviewPlan],
                 fresh_diffs: Callable[[], dict[str, diffmap.FileDiff]]) -> ReviewPlan:
    """Post the review; on 422 re-check the comments against a fresh diff (the head may have moved), then,
    if GitHub still refuses, post it without inline comments: those move to the summary, none is lost."""
    from bot.github_client import ReviewRejected

    try:
        outcome.review_id = client.create_review(pr.number, pr.head_sha, plan.body, plan.event, plan.comments)
        return plan
    except ReviewRejected as exc:
        log.warning("review rejected (%s); checking the comments against the current diff", exc)
    diffs = fresh_diffs()
    rejected = [c for c in plan.comments if not _fits(c, diffs.get(c.path))]
    plan = compose(rejected)
    if plan.comments:
        try:
            outcome.review_id = client.create_review(pr.number, pr.head_sha, plan.body, plan.event, plan.comments)
            outcome.rejected = rejected
            return plan
        except ReviewRejected as exc:
            log.warning("review rejected again (%s); posting it without inline comments", exc)
            rejected += list(plan.comments)
            plan = compose(rejected)
    outcome.rejected = rejected
    outcome.review_id = client.create_review(pr.number, pr.head_sha, plan.body, plan.event, ())
    return plan


def _fits(comment: ReviewComment, diff: diffmap.FileDiff | None) -> bool:
    if diff is None or not diff.in_hunk(comment.line):
        return False
    return comment.start_line is None or diff.same_hunk(comment.start_line, comment.line)


def _tidy(client: Client, pr: PullRequest, plan: ReviewPlan, posted: list[PostedReviewComment], bot_login: str,
          outcome: Outcome) -> None:
    """Earlier bot comments whose finding is gone: reply "fixed" where someone answered, else delete them;
    the same for comments whose suggestion a fresh comment replaced (a "superseded" reply); dismiss the bot's
    blocking review once nothing blocking remains."""
    answered = {c.in_reply_to for c in posted if c.in_reply_to is not None}
    for comment in plan.superseded:
        if comment.id in answered:
            client.reply_to_review_comment(pr.number, comment.id, superseded_reply(pr.head_sha))
            outcome.replied.append(comment.id)
        else:
            client.delete_review_comment(comment.id)
            outcome.deleted.append(comment.id)
    for comment, action in review.stale_comments(posted, plan.current_fingerprints, bot_login):
        if action == "reply":
            client.reply_to_review_comment(pr.number, comment.id, review.fixed_reply(pr.head_sha))
            outcome.replied.append(comment.id)
        else:
            client.delete_review_comment(comment.id)
            outcome.deleted.append(comment.id)
    if plan.blocking:
        return
    for r in client.reviews(pr.number):
        if r.author == bot_login and r.state == "CHANGES_REQUESTED":
            client.dismiss_review(pr.number, r.id, f"Nothing blocking remains at {pr.head_sha[:7]}.")
            outcome.dismissed.append(r.id)


# ---- the webhook service's job handler ------------------------------------------------------------------

_APP_LOGINS: dict[tuple[int, str], str] = {}


def app_login(settings: Any) -> str:
    """The GitHub App's bot login (``<slug>[bot]``), resolved by one ``GET /app`` and cached per process
    (a forking worker resolves it before forking, so its work horses inherit it). Raises what the request
    raises (GitHub unreachable, bad credentials)."""
    from bot.github_client import AppCredentials, app_slug

    key = (settings.app_id, settings.github_api_url)
    if key not in _APP_LOGINS:
        app = AppCredentials(settings.app_id, settings.private_key)
        _APP_LOGINS[key] = f"{app_slug(app, settings.github_api_url)}[bot]"
    return _APP_LOGINS[key]


def run_job(settings: Any, job: Any) -> None:
    """Review the pull request of a queued webhook job (``bot.jobs.Job``) as the GitHub App's installation.

    Raising marks the job failed (retried with backoff, then parked as dead). The review is idempotent, so
    the queue's at-least-once delivery repeats nothing. A job whose head sha is no longer the pull request's
    head is skipped: the push that moved it queued a job of its own.
    """
    from bot.github_client import AppCredentials, installation_budget, installation_client

    if settings.app_id is None or settings.private_key is None or job.installation_id is None:
        raise RuntimeError("the service needs KUBEGUARD_APP_ID, a private key and an installation id")
    app = AppCredentials(settings.app_id, settings.private_key)
    login = app_login(settings)
    # GitHub's secondary limit is per installation: the jobs of one running at once share one budget
    budget = installation_budget(settings.github_api_url, job.installation_id, settings.reads_per_minute,
                                 redis_url=settings.redis_url)
    client = installation_client(f"{job.owner}/{job.repo}", app, job.installation_id,
                                 base_url=settings.github_api_url,
                                 write_interval=settings.write_interval,
                                 reads_per_minute=settings.reads_per_minute, read_budget=budget)
    expected = job.head_sha if job.event == "pull_request" else None
    options = Options(bot_login=login, review_drafts=settings.review_drafts or None,
                      read_concurrency=settings.read_concurrency)
    outcome = review_pull_request(client, job.number, options, expected_head=expected)
    log.info("reviewed %s#%s: %s", f"{job.owner}/{job.repo}", job.number,
             outcome.skipped or f"{outcome.findings} finding(s), review {outcome.review_id}")
