"""``kubeguard action``: the GitHub Action's entry point.

On a ``pull_request`` (or ``pull_request_target``) event it runs the same pipeline as the webhook
service with the workflow's token: review, summary comment, check run. A token that may not write
(a pull request from a fork gets a read-only ``GITHUB_TOKEN``) falls back to workflow-command
annotations and the job summary, computed by the same pipeline without publishing. On any other
event it scans the checked-out workspace. Either way it writes the job summary
(``GITHUB_STEP_SUMMARY``) and the outputs (``GITHUB_OUTPUT``): ``findings``, ``conclusion``,
``review-id``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.formats import escape_data, escape_property
from bot.model import Annotation, AnnotationLevel, Conclusion

PR_EVENTS = ("pull_request", "pull_request_target")
ACTIONS_BOT = "github-actions[bot]"


def workflow_command(a: Annotation) -> str:
    """A ``::error``/``::warning``/``::notice`` line for one annotation."""
    command = {AnnotationLevel.FAILURE: "error", AnnotationLevel.WARNING: "warning"}.get(a.level, "notice")
    props = f"file={escape_property(a.path)},line={a.start_line},endLine={a.end_line}"
    if a.title:
        props += f",title={escape_property(a.title)}"
    return f"::{command} {props}::{escape_data(a.message)}"


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def _outputs(env: Mapping[str, str], values: Mapping[str, object]) -> None:
    _append(env.get("GITHUB_OUTPUT"), "".join(f"{k}={v}\n" for k, v in values.items()))


def run(env: Mapping[str, str], argv: Sequence[str] = ()) -> int:
    """Run the Action for the event described by ``env``; returns the process exit code."""
    from bot.github_client import GitHubClient, GitHubError
    from bot.pipeline import Options, review_pull_request

    event_name = env.get("GITHUB_EVENT_NAME", "")
    event: dict[str, object] = {}
    if env.get("GITHUB_EVENT_PATH"):
        event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
    pull = event.get("pull_request") if isinstance(event.get("pull_request"), dict) else None
    if event_name not in PR_EVENTS or pull is None:
        return _scan_workspace(env, argv)

    token = env.get("INPUT_TOKEN") or env.get("GITHUB_TOKEN")
    if not token:
        print("::error::kubeguard needs a token (the action's `token` input, or GITHUB_TOKEN)", file=sys.stderr)
        return 2
    repository = env["GITHUB_REPOSITORY"]
    number = int(pull["number"])  # type: ignore[index]
    client = GitHubClient(repository, token=token, base_url=env.get("GITHUB_API_URL"),
                          write_interval=float(env.get("KUBEGUARD_WRITE_INTERVAL", "1")))
    options = Options(bot_login=env.get("INPUT_BOT_LOGIN") or env.get("KUBEGUARD_BOT_LOGIN") or ACTIONS_BOT,
                      fail_on=env.get("INPUT_FAIL_ON") or None, filter_mode=env.get("INPUT_FILTER") or None)
    mode = env.get("INPUT_MODE") or "review"
    if mode not in ("review", "check", "annotations"):
        print(f"::error::mode must be review, check or annotations, not {mode!r}", file=sys.stderr)
        return 2
    options = dataclasses.replace(options, publish_review=mode == "review", dry_run=mode == "annotations")
    fallback = mode == "annotations"
    try:
        outcome = review_pull_request(client, number, options)
    except GitHubError as exc:
        if exc.status not in (403, 404):
            raise
        print(f"::notice::kubeguard may not write to this pull request ({exc.status}): annotations only",
              file=sys.stderr)
        fallback = True
        outcome = review_pull_request(client, number, dataclasses.replace(options, dry_run=True))
    plan = outcome.plan
    if plan is None:
        reason = outcome.config_error or outcome.skipped
        print(f"kubeguard: {reason}")
        _append(env.get("GITHUB_STEP_SUMMARY"), f"### kubeguard\n\n{reason}\n")
        _outputs(env, {"findings": 0, "conclusion": outcome.conclusion.value if outcome.conclusion else "skipped",
                       "review-id": ""})
        return 1 if outcome.config_error else 0
    if fallback:
        for annotation in plan.check.annotations:
            print(workflow_command(annotation))
    _append(env.get("GITHUB_STEP_SUMMARY"), plan.summary + "\n")
    _outputs(env, {"findings": outcome.findings, "conclusion": plan.check.conclusion.value,
                   "blocking": str(plan.blocking).lower(), "review-id": outcome.review_id or ""})
    print(f"kubeguard: {outcome.findings} finding(s), {len(plan.comments)} new inline comment(s), "
          f"conclusion {plan.check.conclusion.value}")
    return 1 if plan.check.conclusion is Conclusion.FAILURE else 0


def _scan_workspace(env: Mapping[str, str], argv: Sequence[str]) -> int:
    """Not a pull request: scan the workspace, as ``kubeguard scan --format github`` does."""
    from bot import cli

    workspace = env.get("GITHUB_WORKSPACE") or "."
    paths = list(argv) or [workspace]
    fail_on = env.get("INPUT_FAIL_ON") or "deny"
    config = ["--config", env["INPUT_CONFIG"]] if env.get("INPUT_CONFIG") else []
    # a pull request's checkout may hold symlinks to anywhere on the runner: nothing outside the workspace is
    # read (its contents could reach the log through a parse error), and no symlink in it is followed
    return cli.main(["scan", *paths, *config, "--root", workspace, "--format", "github", "--fail-on", fail_on])


def main(argv: Sequence[str] = ()) -> int:
    return run(os.environ, argv)
