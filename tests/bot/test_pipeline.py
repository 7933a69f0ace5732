"""The review pipeline end to end: the real GitHub client (PyGithub) against the fake GitHub on loopback,
which validates every request against GitHub's OpenAPI description and refuses comments outside the diff."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fake_github import FakeGitHub

from bot import action, review
from bot.github_client import GitHubClient, retry_policy
from bot.model import Conclusion, ReviewEvent
from bot.pipeline import Options, Outcome, review_pull_request

ROOT = Path(__file__).resolve().parents[2]
CONFIG = (ROOT / "examples" / ".kubeguard.yaml").read_text()
DENY_CONFIG = CONFIG.replace("  container-allowed-images:\n", "  container-allowed-images:\n    effect: Deny\n")
UNHEALTHY = (ROOT / "examples" / "unhealthy.yaml").read_text()
HEALTHY = (ROOT / "examples" / "healthy.yaml").read_text()
TOKEN = "ghs_" + "1" * 36
BOT = "kubeguard[bot]"


def client(fake: FakeGitHub, token: str = TOKEN) -> GitHubClient:
    return GitHubClient("acme/deploy", token=token, base_url=fake.url, write_interval=0,
                        retry=retry_policy(total=3, backoff=0.01, secondary_wait=0.1))


@pytest.fixture
def pr(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    fake_github.add_pull("acme", "deploy", 7, base_files={".kubeguard.yaml": DENY_CONFIG, "app.yaml": HEALTHY},
                         head_files={".kubeguard.yaml": DENY_CONFIG, "app.yaml": UNHEALTHY})
    return fake_github


def annotations_of(run: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted((a["path"], a["start_line"], a["end_line"], a["annotation_level"], a["message"])
                  for a in run["annotations"])


def sorted_annotations(outcome: Outcome) -> list[tuple[Any, ...]]:
    assert outcome.plan is not None
    return sorted((a.path, a.start_line, a.end_line, a.level.value, a.message) for a in outcome.plan.check.annotations)


def apply_suggestion(text: str, body: str, start: int, end: int) -> str:
    block = body.split("```suggestion\n", 1)[1].split("\n```", 1)[0]
    lines = text.split("\n")
    return "\n".join([*lines[:start - 1], *block.split("\n"), *lines[end:]])


def test_review_lands_on_the_lines_with_suggestions_summary_and_check(pr: FakeGitHub) -> None:
    outcome = review_pull_request(client(pr), 7)
    assert outcome.plan is not None and outcome.review_id is not None
    reviews = pr.reviews("acme", "deploy", 7)
    assert len(reviews) == 1 and reviews[0]["state"] == "CHANGES_REQUESTED"  # the image rule is Deny
    posts = [r for r in pr.requests if r.method == "POST" and r.path.endswith("/reviews")]
    assert len(posts) == 1  # one request for all comments
    comments = pr.review_comments("acme", "deploy", 7)
    rules_commented = {review.fingerprint_of(c["body"]) for c in comments}
    assert len(comments) == len(outcome.plan.comments) >= 12
    assert None not in rules_commented
    bodies = "\n".join(c["body"] for c in comments)
    for control in ("Manage access and permissions", "Restrict unauthorized network access",
                    "Remediate vulnerabilities", "Protect applications against DDoS attack"):
        # (the fifth, Remediate security configurations, is AppArmor's, which azure-current passes here)
        assert control in bodies
    # every suggestion, applied alone to the head file, removes its finding and keeps the YAML readable
    suggested = [c for c in comments if "```suggestion" in c["body"]]
    assert len(suggested) >= 8
    privileged = next(c for c in suggested if "`container-no-privilege`" in c["body"])
    start = privileged.get("start_line") or privileged["line"]
    fixed = apply_suggestion(UNHEALTHY, privileged["body"], start, privileged["line"])
    assert "privileged: false" in fixed and "privileged: true" not in fixed
    summaries = [c for c in pr.issue_comments("acme", "deploy", 7) if review.SUMMARY_MARKER in c["body"]]
    assert len(summaries) == 1 and "Secure score" in summaries[0]["body"]
    (run,) = pr.check_runs("acme", "deploy")
    assert run["conclusion"] == "failure" and run["name"] == "kubeguard"
    assert len(run["annotations"]) == len(outcome.plan.check.annotations) >= 12


def test_a_second_run_on_the_same_head_posts_nothing_new(pr: FakeGitHub) -> None:
    review_pull_request(client(pr), 7)
    first = len(pr.review_comments("acme", "deploy", 7))
    again = review_pull_request(client(pr), 7)
    assert again.plan is not None and again.plan.comments == ()
    assert len(pr.review_comments("acme", "deploy", 7)) == first
    assert len(pr.reviews("acme", "deploy", 7)) == 1
    assert len([c for c in pr.issue_comments("acme", "deploy", 7) if review.SUMMARY_MARKER in c["body"]]) == 1
    (run,) = pr.check_runs("acme", "deploy")  # the same run, completed again; its annotations sent once
    assert run["status"] == "completed" and run["id"] == again.check_run_id
    assert annotations_of(run) == sorted_annotations(again)


def test_a_fixing_push_deletes_or_answers_old_comments_and_dismisses_the_blocking_review(pr: FakeGitHub) -> None:
    review_pull_request(client(pr), 7)
    comments = pr.review_comments("acme", "deploy", 7)
    answered = comments[0]
    pr.add_review_comment("acme", "deploy", 7, "app.yaml", answered["line"], "we need this", "alice",
                          in_reply_to=answered["id"])
    head = pr.push("acme", "deploy", 7, {".kubeguard.yaml": DENY_CONFIG, "app.yaml": HEALTHY})
    outcome = review_pull_request(client(pr), 7)
    assert outcome.replied == [answered["id"]]
    assert len(outcome.deleted) == len(comments) - 1
    left = pr.review_comments("acme", "deploy", 7)
    assert any(c["body"].startswith(f"Fixed in {head}") for c in left)
    states = [r["state"] for r in pr.reviews("acme", "deploy", 7)]  # replies come as reviews of their own
    assert states[0] == "DISMISSED" and "CHANGES_REQUESTED" not in states
    assert pr.check_runs("acme", "deploy")[-1]["conclusion"] == "success"


def test_the_configuration_comes_from_the_base_branch(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    relaxed = "rules:\n" + "".join(f"  {r}: {{effect: Disabled}}\n" for r in
                                   ("container-no-privilege", "container-allowed-images"))
    fake_github.add_pull("acme", "deploy", 8, base_files={".kubeguard.yaml": DENY_CONFIG},
                         head_files={".kubeguard.yaml": relaxed, "app.yaml": UNHEALTHY})
    outcome = review_pull_request(client(fake_github), 8)
    assert outcome.plan is not None and outcome.plan.event is ReviewEvent.REQUEST_CHANGES
    bodies = [c["body"] for c in fake_github.review_comments("acme", "deploy", 8)]
    assert any("`container-no-privilege`" in b for b in bodies)


def test_a_broken_base_configuration_fails_the_check_and_says_where(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    fake_github.add_pull("acme", "deploy", 9, base_files={".kubeguard.yaml": "rules:\n  no-such-rule: {}\n"},
                         head_files={".kubeguard.yaml": "rules:\n  no-such-rule: {}\n", "app.yaml": UNHEALTHY})
    outcome = review_pull_request(client(fake_github), 9)
    assert outcome.conclusion is Conclusion.FAILURE and ":2:" in outcome.config_error
    assert fake_github.reviews("acme", "deploy", 9) == []
    (summary,) = fake_github.issue_comments("acme", "deploy", 9)
    assert "no-such-rule" in summary["body"]


def test_a_rejected_review_is_sent_again_and_nothing_is_lost(pr: FakeGitHub) -> None:
    pr.inject("POST", r"/pulls/7/reviews$", 422, body={
        "message": "Unprocessable Entity", "errors": ["Pull request review thread line must be part of the diff"]})
    outcome = review_pull_request(client(pr), 7)
    assert outcome.review_id is not None
    assert len(pr.reviews("acme", "deploy", 7)) == 1
    assert len(pr.review_comments("acme", "deploy", 7)) == len(outcome.plan.comments) > 0  # type: ignore[union-attr]


def test_server_errors_and_rate_limits_are_retried(pr: FakeGitHub) -> None:
    pr.inject("GET", r"/pulls/7/files", 502)
    pr.inject("POST", r"/check-runs$", 403)  # a secondary rate limit with Retry-After
    outcome = review_pull_request(client(pr), 7)
    assert outcome.review_id is not None and outcome.check_run_id is not None


def test_filter_added_comments_only_on_added_lines(pr: FakeGitHub) -> None:
    outcome = review_pull_request(client(pr), 7, Options(filter_mode="added"))
    assert outcome.plan is not None
    (diff_file,) = [f for f in pr.requests if f.path.endswith("/files")][:1]
    assert diff_file.status == 200
    assert all(c.line for c in outcome.plan.comments)


def test_action_on_a_pull_request_event_reviews_and_writes_outputs(pr: FakeGitHub, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    out, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "acme/deploy",
           "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": pr.url, "GITHUB_OUTPUT": str(out),
           "GITHUB_STEP_SUMMARY": str(summary), "KUBEGUARD_WRITE_INTERVAL": "0", "KUBEGUARD_BOT_LOGIN": BOT}
    assert action.run(env) == 1
    assert "conclusion=failure" in out.read_text() and "blocking=true" in out.read_text()
    assert review.SUMMARY_MARKER in summary.read_text()
    assert len(pr.reviews("acme", "deploy", 7)) == 1


def test_action_with_a_read_only_token_falls_back_to_annotations(pr: FakeGitHub, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    pr.inject("POST", r"/check-runs$", 403, body={"message": "Resource not accessible by integration"})
    pr.inject("POST", r"/statuses/", 403, body={"message": "Resource not accessible by integration"})
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "acme/deploy",
           "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": pr.url, "KUBEGUARD_WRITE_INTERVAL": "0"}
    assert action.run(env) == 1
    printed = capsys.readouterr().out
    assert "::error file=app.yaml,line=" in printed
    assert pr.reviews("acme", "deploy", 7) == []


def test_a_finding_that_comes_back_after_fixed_is_commented_again(pr: FakeGitHub) -> None:
    review_pull_request(client(pr), 7)
    answered = pr.review_comments("acme", "deploy", 7)[0]
    pr.add_review_comment("acme", "deploy", 7, "app.yaml", answered["line"], "ok", "alice",
                          in_reply_to=answered["id"])
    pr.push("acme", "deploy", 7, {".kubeguard.yaml": DENY_CONFIG, "app.yaml": HEALTHY})
    review_pull_request(client(pr), 7)
    pr.push("acme", "deploy", 7, {".kubeguard.yaml": DENY_CONFIG, "app.yaml": UNHEALTHY})
    outcome = review_pull_request(client(pr), 7)
    assert outcome.plan is not None
    assert review.fingerprint_of(answered["body"]) in {c.fingerprint for c in outcome.plan.comments}


def test_odd_files_are_reported_and_the_others_still_reviewed(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    fake_github.add_pull(
        "acme", "deploy", 11,
        base_files={".kubeguard.yaml": DENY_CONFIG, "old.yaml": HEALTHY, "gone.yaml": HEALTHY},
        head_files={".kubeguard.yaml": DENY_CONFIG, "new.yaml": HEALTHY, "app.yaml": UNHEALTHY,
                    "binary.yaml": b"\xff\xfe\x00kind: Pod", "broken.yaml": "kind: Pod\n  bad: [\n",
                    "huge.yaml": UNHEALTHY, "big.yaml": "# big\n" + UNHEALTHY},
        renames={"new.yaml": "old.yaml"}, omit_patch={"huge.yaml"})
    outcome = review_pull_request(client(fake_github), 11, Options(max_file_bytes=len(UNHEALTHY) + 2))
    assert outcome.plan is not None and outcome.review_id is not None
    causes = {p.file: p.cause for p in outcome.problems}
    assert "binary.yaml" in causes and "broken.yaml" in causes and "over the limit" in causes["big.yaml"]
    commented = {c["path"] for c in fake_github.review_comments("acme", "deploy", 11)}
    assert commented == {"app.yaml"}  # huge.yaml has no patch from GitHub: summary only
    (summary,) = [c["body"] for c in fake_github.issue_comments("acme", "deploy", 11)]
    assert "huge.yaml" in summary and "broken.yaml" in summary
    assert fake_github.check_runs("acme", "deploy")[-1]["conclusion"] == "failure"


def test_action_in_check_mode_posts_no_review(pr: FakeGitHub, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "acme/deploy",
           "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": pr.url, "KUBEGUARD_WRITE_INTERVAL": "0", "INPUT_MODE": "check"}
    assert action.run(env) == 1
    assert pr.reviews("acme", "deploy", 7) == []
    assert pr.check_runs("acme", "deploy")[0]["conclusion"] == "failure"


def test_a_push_that_fixes_half_leaves_the_other_half_open(pr: FakeGitHub) -> None:
    first = review_pull_request(client(pr), 7)
    assert first.plan is not None
    half = UNHEALTHY.replace("privileged: true", "privileged: false").replace(
        "allowPrivilegeEscalation: true", "allowPrivilegeEscalation: false").replace(
        "readOnlyRootFilesystem: false", "readOnlyRootFilesystem: true")
    assert half != UNHEALTHY
    pr.push("acme", "deploy", 7, {".kubeguard.yaml": DENY_CONFIG, "app.yaml": half})
    second = review_pull_request(client(pr), 7)
    assert second.plan is not None
    # the open ones are posted already; only a suggestion written over the edited lines is replaced (the
    # ports fix spans the container, lines 25-55: applied as posted, it would undo the push)
    assert [c.start_line for c in second.plan.comments] == [25]
    (replaced,) = second.plan.superseded
    assert review.fingerprint_of(replaced.body) == second.plan.comments[0].fingerprint
    assert replaced.id in second.deleted
    gone = {c.fingerprint for c in first.plan.comments} - second.plan.current_fingerprints
    assert len(gone) + len(second.plan.superseded) == len(second.deleted) and len(gone) >= 3
    open_now = {review.fingerprint_of(c["body"]) for c in pr.review_comments("acme", "deploy", 7)}
    assert open_now == second.plan.current_fingerprints


def test_a_pull_request_of_300_manifests_takes_a_bounded_number_of_requests(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    head = {".kubeguard.yaml": DENY_CONFIG, "app.yaml": UNHEALTHY}
    head.update({f"apps/app-{i:03d}.yaml": HEALTHY.replace("name: redis-healthy-deployment", f"name: app-{i}", 1)
                 for i in range(299)})
    fake_github.add_pull("acme", "deploy", 12, base_files={".kubeguard.yaml": DENY_CONFIG}, head_files=head)
    before = len(fake_github.requests)
    outcome = review_pull_request(client(fake_github), 12)
    used = len(fake_github.requests) - before
    print(f"300 manifest files: {used} API requests")
    assert outcome.plan is not None and outcome.review_id is not None
    # one content request per file, 100 files per page, and a constant number for the rest
    assert used <= 300 + 3 + 15
    assert len([r for r in fake_github.requests if r.method == "POST" and r.path.endswith("/reviews")]) == 1


def test_drafts_are_skipped_unless_the_base_configuration_asks(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    fake_github.add_pull("acme", "deploy", 13, base_files={".kubeguard.yaml": DENY_CONFIG}, draft=True,
                         head_files={".kubeguard.yaml": DENY_CONFIG, "app.yaml": UNHEALTHY})
    skipped = review_pull_request(client(fake_github), 13)
    assert skipped.skipped.startswith("draft") and fake_github.reviews("acme", "deploy", 13) == []
    assert fake_github.check_runs("acme", "deploy")[-1]["conclusion"] == "neutral"
    drafts = DENY_CONFIG + "review:\n  drafts: true\n"
    fake_github.add_pull("acme", "deploy", 14, base_files={".kubeguard.yaml": drafts}, draft=True,
                         head_files={".kubeguard.yaml": drafts, "app.yaml": UNHEALTHY})
    assert review_pull_request(client(fake_github), 14).review_id is not None


TINY = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  k: v\n"


# Run in a process of its own, so tracemalloc sees the pipeline's allocations only (tracing the fake GitHub's
# threads too made the run seven times slower) and the two sides use both cores.
_REVIEW_IN_A_CHILD = """
import json, sys, time, tracemalloc
from bot.github_client import GitHubClient, retry_policy
from bot.pipeline import review_pull_request
url, token, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = GitHubClient("acme/deploy", token=token, base_url=url, write_interval=0, reads_per_minute=None,
                      retry=retry_policy(total=3, backoff=0.01, secondary_wait=0.1))  # loopback: no minute budget
tracemalloc.start()
start = time.monotonic()
outcome = review_pull_request(client, number)
elapsed = time.monotonic() - start
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"elapsed": elapsed, "peak": peak, "review_id": outcome.review_id, "findings": outcome.findings,
                  "unlisted": outcome.unlisted_files, "problems": [str(p) for p in outcome.problems]}))
"""


def test_a_pull_request_of_3000_files_is_reviewed_whole_in_bounded_time_memory_and_requests(
        fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    head: dict[str, str | bytes] = {".kubeguard.yaml": DENY_CONFIG, "app.yaml": UNHEALTHY}  # + 2,999: 3,000 changed
    head.update({f"cm/{i:04d}.yaml": TINY.format(i=i) for i in range(2_999)})
    fake_github.add_pull("acme", "deploy", 15, base_files={".kubeguard.yaml": DENY_CONFIG}, head_files=head)
    before = len(fake_github.requests)
    started = time.monotonic()
    child = subprocess.run([sys.executable, "-c", _REVIEW_IN_A_CHILD, fake_github.url, TOKEN, "15"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - started
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.splitlines()[-1])
    used = fake_github.requests[before:]
    pages = [r for r in used if r.path.endswith("/pulls/15/files")]
    print(f"3,000-file pull request: review {result['elapsed']:.1f} s ({wall:.1f} s with the process), "
          f"peak {result['peak'] / 2**20:.0f} MiB traced, {len(used)} API requests ({len(pages)} pages of files)")
    assert result["review_id"] is not None and result["unlisted"] == 0 and result["problems"] == []
    assert len(pages) == 30 and all(r.query.get("per_page") == "100" for r in pages)
    fetched = {r.path.split("/contents/", 1)[1] for r in used if "/contents/" in r.path}
    assert fetched == set(head)  # every file of the pull request was read, once (and the base's configuration)
    assert len(used) <= 3_000 + 30 + 15
    assert {c["path"] for c in fake_github.review_comments("acme", "deploy", 15)} == {"app.yaml"}
    (summary,) = [c["body"] for c in fake_github.issue_comments("acme", "deploy", 15)]
    assert "not reviewed" not in summary
    assert result["elapsed"] < 120, f"{result['elapsed']:.1f} s"
    assert result["peak"] < 200 * 2**20, f"peak {result['peak'] / 2**20:.0f} MiB"


def test_files_beyond_githubs_list_of_3000_are_named_as_not_reviewed(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    head: dict[str, str | bytes] = {f"docs/{i:04d}.md": f"page {i}\n" for i in range(2_999)}
    head[".kubeguard.yaml"] = DENY_CONFIG  # unchanged: not a changed file
    head["app.yaml"] = UNHEALTHY  # listed (sorted before docs/)
    head.update({f"zz/{i}.yaml": UNHEALTHY for i in range(25)})  # sorted last: beyond the 3,000 GitHub lists
    fake_github.add_pull("acme", "deploy", 16, base_files={".kubeguard.yaml": DENY_CONFIG}, head_files=head)
    outcome = review_pull_request(client(fake_github), 16)
    assert outcome.plan is not None and outcome.pr is not None
    assert outcome.pr.changed_files == 3_025 and outcome.unlisted_files == 25
    (summary,) = [c["body"] for c in fake_github.issue_comments("acme", "deploy", 16)]
    assert "25 of the pull request's 3,025 changed files were not reviewed" in summary
    assert "3,000" in summary
    (run,) = fake_github.check_runs("acme", "deploy")
    assert "25 file(s) not reviewed" in run["output"]["title"]
    assert "25 of the pull request's 3,025 changed files were not reviewed" in run["output"]["summary"]
    assert not any("/contents/zz/" in r.path for r in fake_github.requests)


def test_a_clean_partial_review_is_neutral_not_success(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    head: dict[str, str | bytes] = {f"docs/{i:04d}.md": f"page {i}\n" for i in range(3_000)}
    head[".kubeguard.yaml"] = DENY_CONFIG
    head["zz/app.yaml"] = UNHEALTHY  # the only manifest, not listed
    fake_github.add_pull("acme", "deploy", 17, base_files={".kubeguard.yaml": DENY_CONFIG}, head_files=head)
    outcome = review_pull_request(client(fake_github), 17)
    assert outcome.unlisted_files == 1 and outcome.findings == 0
    (run,) = fake_github.check_runs("acme", "deploy")
    assert run["conclusion"] == "neutral"


# ---- the check run: one per head and pull request, whatever happened to earlier attempts ------------------

APP_TOKEN = "ghs_" + "2" * 36  # the kubeguard GitHub App's installation token (app 4242) next to the Action's


class Killed(BaseException):
    """The job's process dies here (the OOM killer, a lost node): nothing after this line runs."""


def runs_on(fake: FakeGitHub, sha: str) -> list[dict[str, Any]]:
    return sorted((r for r in fake.check_runs("acme", "deploy") if r["head_sha"] == sha), key=lambda r: r["id"])


def test_a_job_killed_mid_review_is_rerun_into_its_check_run_which_ends_completed(
        pr: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import pipeline

    def killed(*_: object, **__: object) -> None:
        raise Killed

    monkeypatch.setattr(pipeline.rules, "scan", killed)
    with pytest.raises(Killed):
        review_pull_request(client(pr), 7)
    (stuck,) = pr.check_runs("acme", "deploy")
    assert stuck["status"] == "in_progress"
    monkeypatch.undo()
    outcome = review_pull_request(client(pr), 7)  # the queue's second attempt
    (run,) = pr.check_runs("acme", "deploy")
    assert run["id"] == stuck["id"] == outcome.check_run_id
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    assert annotations_of(run) == sorted_annotations(outcome)
    listing = next(r for r in pr.requests if r.method == "GET" and r.path.endswith("/check-runs"))
    assert listing.query["check_name"] == "kubeguard" and listing.query["filter"] == "all"


def test_a_job_killed_between_annotation_batches_is_completed_without_repeating_one(
        fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    head = {".kubeguard.yaml": DENY_CONFIG, **{f"apps/{i}.yaml": UNHEALTHY for i in range(5)}}
    fake_github.add_pull("acme", "deploy", 18, base_files={".kubeguard.yaml": DENY_CONFIG}, head_files=head)
    fake_github.inject("PATCH", r"/check-runs/\d+$", 500, skip=1)  # the second batch of 50: the job dies there
    with pytest.raises(Exception, match="500"):
        review_pull_request(client(fake_github), 18)
    (partial,) = fake_github.check_runs("acme", "deploy")
    assert partial["status"] == "in_progress" and partial["output"]["annotations_count"] == 50
    outcome = review_pull_request(client(fake_github), 18)
    (run,) = fake_github.check_runs("acme", "deploy")
    assert outcome.plan is not None and len(outcome.plan.check.annotations) > 50
    assert run["id"] == partial["id"] and run["status"] == "completed" and run["conclusion"] == "failure"
    assert annotations_of(run) == sorted_annotations(outcome)  # GitHub appends: none sent twice


def test_annotations_no_longer_true_move_the_verdict_to_a_fresh_run_and_the_old_one_is_superseded(
        pr: FakeGitHub) -> None:
    first = review_pull_request(client(pr), 7)
    again = review_pull_request(client(pr), 7, Options(max_file_bytes=64))  # app.yaml is no longer reviewed
    assert again.plan is not None
    old, new = runs_on(pr, client(pr).pull_request(7).head_sha)
    assert (old["id"], new["id"]) == (first.check_run_id, again.check_run_id)
    assert old["conclusion"] == "neutral" and old["output"]["title"] == "kubeguard: superseded"
    assert f"check run {new['id']}" in old["output"]["summary"]
    assert new["status"] == "completed" and new["conclusion"] == again.plan.check.conclusion.value
    assert annotations_of(new) == sorted_annotations(again)


def test_of_several_earlier_attempts_the_newest_run_is_completed_and_the_others_superseded(pr: FakeGitHub) -> None:
    from bot.pipeline import check_external_id

    c = client(pr)
    pull = c.pull_request(7)
    ours = check_external_id(pull)
    first, second = (c.create_check_run("kubeguard", pull.head_sha, external_id=ours) for _ in range(2))
    other_pull = c.create_check_run("kubeguard", pull.head_sha, external_id="kubeguard:pull/8")  # same head
    outcome = review_pull_request(client(pr), 7)
    runs = {r["id"]: r for r in runs_on(pr, pull.head_sha)}
    assert outcome.check_run_id == second and len(runs) == 3
    assert runs[first]["status"] == "completed" and runs[first]["conclusion"] == "neutral"
    assert runs[second]["status"] == "completed" and runs[second]["conclusion"] == "failure"
    assert runs[other_pull]["status"] == "in_progress"  # another pull request's review is not this one's


def test_a_run_of_another_app_is_left_alone_and_the_token_makes_its_own(pr: FakeGitHub) -> None:
    from bot.pipeline import check_external_id

    pr.add_token(APP_TOKEN, app_id=4242)
    pull = client(pr).pull_request(7)
    apps = client(pr, APP_TOKEN).create_check_run("kubeguard", pull.head_sha, external_id=check_external_id(pull))
    outcome = review_pull_request(client(pr), 7)  # an Action's token lists every app's runs
    runs = {r["id"]: r for r in runs_on(pr, pull.head_sha)}
    assert set(runs) == {apps, outcome.check_run_id}
    assert runs[apps]["status"] == "in_progress" and runs[apps]["app"]["id"] == 4242
    assert runs[outcome.check_run_id]["conclusion"] == "failure"
    (refused,) = [r for r in pr.requests if r.method == "PATCH" and r.status == 403]
    assert refused.path.endswith(f"/check-runs/{apps}")


def test_a_token_that_may_not_write_check_runs_reports_by_commit_status(pr: FakeGitHub) -> None:
    from bot.pipeline import check_external_id

    pr.add_token(APP_TOKEN, app_id=4242)
    pr.add_token("pat", login="alice")  # a user's token: GitHub refuses it check runs (403)
    pull = client(pr).pull_request(7)
    apps = client(pr, APP_TOKEN).create_check_run("kubeguard", pull.head_sha, external_id=check_external_id(pull))
    outcome = review_pull_request(client(pr, "pat"), 7, Options(bot_login="alice"))
    assert outcome.used_status and outcome.check_run_id is None and outcome.review_id is not None
    assert [(s["state"], s["context"]) for s in pr.statuses("acme", "deploy", pull.head_sha)] == [
        ("pending", "kubeguard"), ("failure", "kubeguard")]
    (run,) = pr.check_runs("acme", "deploy")
    assert run["id"] == apps and run["status"] == "in_progress" and run["output"]["annotations_count"] == 0


def test_an_apps_own_runs_from_before_external_ids_are_taken_over_and_other_apps_not_even_listed(
        fake_github: FakeGitHub, rsa_key: tuple[str, str]) -> None:
    from bot.github_client import AppCredentials, installation_client

    private, public = rsa_key
    fake_github.register_app(99, public, installations={5: ["acme/deploy"]}, slug="kubeguard")
    fake_github.add_repo("acme", "deploy")
    fake_github.add_pull("acme", "deploy", 7, base_files={".kubeguard.yaml": DENY_CONFIG, "app.yaml": HEALTHY},
                         head_files={".kubeguard.yaml": DENY_CONFIG, "app.yaml": UNHEALTHY})
    app = installation_client("acme/deploy", AppCredentials(99, private), 5, base_url=fake_github.url,
                              write_interval=0, retry=retry_policy(total=3, backoff=0.01, secondary_wait=0.1))
    head = app.pull_request(7).head_sha
    legacy = app.create_check_run("kubeguard", head)  # stuck in progress, from a version without external ids
    fake_github.add_token(APP_TOKEN, app_id=4242)
    foreign = client(fake_github, APP_TOKEN).create_check_run("kubeguard", head)
    outcome = review_pull_request(app, 7)
    assert outcome.check_run_id == legacy
    listing = next(r for r in fake_github.requests if r.method == "GET" and r.path.endswith("/check-runs"))
    assert listing.query["app_id"] == "99"
    runs = {r["id"]: r for r in runs_on(fake_github, head)}
    assert runs[legacy]["status"] == "completed" and runs[legacy]["external_id"] == "kubeguard:pull/7"
    assert runs[foreign]["status"] == "in_progress"


# ---- reading files concurrently ---------------------------------------------------------------------------


def test_file_reads_run_eight_at_a_time_well_under_the_sequential_time(
        fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture) -> None:
    files, latency = 100, 0.1  # GitHub answers a contents request in 100-300 ms
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    head: dict[str, str | bytes] = {".kubeguard.yaml": DENY_CONFIG}
    head.update({f"cm/{i:03d}.yaml": TINY.format(i=i) for i in range(files)})
    fake_github.add_pull("acme", "deploy", 19, base_files={".kubeguard.yaml": DENY_CONFIG}, head_files=head)
    fake_github.latency = latency  # each GET of .../contents/... waits this long (outside the fake's locks)
    caplog.set_level(logging.WARNING, logger="urllib3")
    started = time.monotonic()
    outcome = review_pull_request(client(fake_github), 19)
    elapsed = time.monotonic() - started
    reads = [r for r in fake_github.requests if "/contents/" in r.path]
    print(f"{files} files at {latency * 1000:.0f} ms a read: {elapsed:.2f} s (one after the other: at least "
          f"{len(reads) * latency:.1f} s), at most {fake_github.max_in_flight} requests at once")
    assert outcome.plan is not None and outcome.problems == [] and len(reads) == files + 1
    assert 2 <= fake_github.max_in_flight <= 8
    assert elapsed < 0.4 * files * latency, f"{elapsed:.2f} s"
    assert "Connection pool is full" not in caplog.text


def test_concurrent_reads_keep_the_order_and_every_skip_of_reads_one_by_one(fake_github: FakeGitHub) -> None:
    from fake_github import Symlink

    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    base: dict[str, str | bytes] = {".kubeguard.yaml": DENY_CONFIG, "app.yaml": HEALTHY}
    base.update({f"cm/{i:02d}.yaml": TINY.format(i=i) for i in range(0, 30, 2)})
    pad = "# " + "x" * 1_200_000 + "\n"  # 1.2 MB: over what the contents API inlines, so read as a blob
    head: dict[str, str | bytes] = {".kubeguard.yaml": DENY_CONFIG, "app.yaml": UNHEALTHY,
                                    "large.yaml": pad + UNHEALTHY, "big.yaml": pad + pad + UNHEALTHY,
                                    "link.yaml": Symlink.to("/etc/hosts"), "gone.yaml": TINY.format(i="gone")}
    head.update({f"cm/{i:02d}.yaml": TINY.format(i=i + 100) for i in range(30)})
    fake_github.add_pull("acme", "deploy", 20, base_files=base, head_files=head)

    def dry_run(concurrency: int) -> Outcome:
        fake_github.inject("GET", r"/contents/gone\.yaml$", 404, body={  # deleted after the event
            "message": "Not Found", "documentation_url": "https://docs.github.com/rest/repos/contents"})
        fake_github.inject("GET", r"/contents/cm/07\.yaml$", 502)  # retried
        return review_pull_request(client(fake_github), 20, Options(
            dry_run=True, read_concurrency=concurrency, max_file_bytes=2 * len(pad)))

    one, eight = dry_run(1), dry_run(8)
    assert one.plan is not None and eight.plan is not None
    assert [str(p) for p in eight.problems] == [str(p) for p in one.problems]
    causes = {p.file: p.cause for p in eight.problems}
    assert "symlink" in causes["link.yaml"] and "over the limit" in causes["big.yaml"]
    assert "not found at" in causes["gone.yaml"]
    assert len([r for r in fake_github.requests if "/git/blobs/" in r.path]) == 2 * 2  # large and big, twice
    assert "large.yaml" not in causes and {a.path for a in eight.plan.check.annotations} >= {"app.yaml", "large.yaml"}
    assert eight.plan.check == one.plan.check and eight.plan.summary == one.plan.summary
    assert eight.plan.comments == one.plan.comments and eight.findings == one.findings > 0


def test_one_client_read_from_many_threads_gives_each_its_own_file(fake_github: FakeGitHub,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from github.Requester import HTTPRequestsConnectionClass

    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    files = {f"cm/{i:02d}.yaml": TINY.format(i=i) for i in range(64)}
    fake_github.add_pull("acme", "deploy", 21, base_files={}, head_files=files)
    original = HTTPRequestsConnectionClass.request

    def request(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        time.sleep(0.001)  # PyGithub keeps the request on its connection object until getresponse(): a wider gap

    monkeypatch.setattr(HTTPRequestsConnectionClass, "request", request)
    c = client(fake_github)
    head = c.pull_request(21).head_sha
    with ThreadPoolExecutor(8) as pool:
        got = dict(zip(files, pool.map(lambda p: c.file_content(p, head), files), strict=True))
    assert got == {p: text.encode() for p, text in files.items()}


def test_an_installation_token_refused_during_concurrent_reads_is_refreshed_once(
        fake_github: FakeGitHub, rsa_key: tuple[str, str]) -> None:
    from bot.github_client import AppCredentials, installation_client

    private, public = rsa_key
    fake_github.register_app(99, public, installations={5: ["acme/deploy"]}, slug="kubeguard")
    fake_github.add_repo("acme", "deploy")
    files = {f"cm/{i:02d}.yaml": TINY.format(i=i) for i in range(40)}
    fake_github.add_pull("acme", "deploy", 1, base_files={}, head_files=files)
    app = installation_client("acme/deploy", AppCredentials(99, private), 5, base_url=fake_github.url,
                              write_interval=0)
    head = app.pull_request(1).head_sha
    fake_github.revoke_tokens()  # every reader's token is refused from now on
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda p: app.file_content(p, head), files))
    assert got == [text.encode() for text in files.values()]
    issued = [r for r in fake_github.requests if r.path.endswith("/access_tokens") and r.status == 201]
    assert len(issued) == 2  # the first token and one refresh, not one per thread


def test_reads_stay_within_the_budget_of_requests_a_minute(fake_github: FakeGitHub,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import github_client

    monkeypatch.setattr(github_client, "READ_BUDGET_WINDOW", 0.5)  # a "minute" of half a second
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    files = {f"cm/{i:02d}.yaml": TINY.format(i=i) for i in range(12)}
    fake_github.add_pull("acme", "deploy", 1, base_files={}, head_files=files)
    c = GitHubClient("acme/deploy", token=TOKEN, base_url=fake_github.url, write_interval=0, reads_per_minute=5)
    head = c.pull_request(1).head_sha
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(lambda p: c.file_content(p, head), files))
    assert time.monotonic() - started >= 1.0  # 5, then 5 half a second later, then the last 2
    times = sorted(r.time for r in fake_github.requests if "/contents/" in r.path)
    assert len(times) == 12
    assert all(times[i + 5] - times[i] >= 0.45 for i in range(len(times) - 5))  # no 6 in any half second
