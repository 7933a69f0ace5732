"""The one-click promise end to end: a reviewer commits the bot's suggestions one after another, each
click a push, and after every push the bot's open suggestions still apply to the file as it now is.

Applying one suggestion changes lines its neighbours were written against (on the reference example most
suggestions overlap). GitHub marks some of those comments outdated and maps others forward; either way a
suggestion left from an older head would now fail or undo the edit before it. The bot replaces such
comments; this test drives the real pipeline against the GitHub stand-in until no suggestion is left.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fake_github import FakeGitHub

import rules
from bot import review
from bot.formats import fingerprint
from bot.github_client import GitHubClient, retry_policy
from bot.pipeline import review_pull_request

ROOT = Path(__file__).resolve().parents[2]
CONFIG = (ROOT / "examples" / ".kubeguard.yaml").read_text()
UNHEALTHY = (ROOT / "examples" / "unhealthy.yaml").read_text()
HEALTHY = (ROOT / "examples" / "healthy.yaml").read_text()
TOKEN = "ghs_" + "3" * 36
BOT = "kubeguard[bot]"
_SUGGESTION = re.compile(r"^(`{3,})suggestion\n(.*?)\n?\1$", re.MULTILINE | re.DOTALL)


def _client(fake: FakeGitHub) -> GitHubClient:
    return GitHubClient("acme/deploy", token=TOKEN, base_url=fake.url, write_interval=0,
                        retry=retry_policy(total=3, backoff=0.01, secondary_wait=0.1))


def _commit_suggestion(text: str, comment: dict[str, Any]) -> str:
    """What GitHub's "Commit suggestion" does: the commented lines become the block's lines."""
    match = _SUGGESTION.search(comment["body"])
    assert match is not None
    block = match.group(2).split("\n") if match.group(2) else []
    start = comment.get("start_line") or comment["line"]
    lines = text.split("\n")
    return "\n".join([*lines[:start - 1], *block, *lines[comment["line"]:]])


def _open_suggestions(fake: FakeGitHub) -> list[dict[str, Any]]:
    """The bot's top-level comments that GitHub still shows on a line and that carry a suggestion."""
    return [c for c in fake.review_comments("acme", "deploy", 7)
            if c["user"]["login"] == BOT and c.get("in_reply_to_id") is None and c["line"] is not None
            and _SUGGESTION.search(c["body"])]


def _findings(text: str, config: rules.Config) -> dict[str, rules.Finding]:
    return {fingerprint(f): f for f in rules.scan_file("app.yaml", text, config).findings}


def test_committing_the_suggestions_one_by_one_fixes_every_finding_they_cover(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    fake_github.add_pull("acme", "deploy", 7, base_files={".kubeguard.yaml": CONFIG, "app.yaml": HEALTHY},
                         head_files={".kubeguard.yaml": CONFIG, "app.yaml": UNHEALTHY})
    config = rules.load_config(CONFIG)
    text = UNHEALTHY
    first = review_pull_request(_client(fake_github), 7)
    assert first.plan is not None
    offered = {c.fingerprint for c in first.plan.comments if "suggestion\n" in c.body}
    assert len(offered) >= 8
    replaced = 0
    for _ in range(3 * len(offered)):
        suggestions = _open_suggestions(fake_github)
        before = _findings(text, config)
        # every open suggestion, committed alone on the head as it is now, removes its finding and adds none
        for c in suggestions:
            fp = review.fingerprint_of(c["body"])
            after = _findings(_commit_suggestion(text, c), config)
            assert fp in before and fp not in after, c["body"][:120]
            assert set(after) < set(before)
        if not suggestions:
            break
        text = _commit_suggestion(text, suggestions[0])  # the reviewer clicks the first one
        fake_github.push("acme", "deploy", 7, {".kubeguard.yaml": CONFIG, "app.yaml": text})
        outcome = review_pull_request(_client(fake_github), 7)
        assert outcome.plan is not None
        replaced += len(outcome.plan.superseded)
    left = _findings(text, config)
    # a fix that now reaches outside one hunk of the diff (the container port and the Service's targetPort,
    # once the file is close to the base) is still offered, as a diff to apply by hand
    for fp in offered & set(left):
        (comment,) = [c for c in fake_github.review_comments("acme", "deploy", 7)
                      if c["user"]["login"] == BOT and review.fingerprint_of(c["body"]) == fp]
        assert comment["line"] is not None and re.search(r"^`{3,}diff$", comment["body"], re.MULTILINE)
    assert len(offered & set(left)) <= 1
    assert replaced > 0  # the overlapping suggestions of the example did need fresh comments
    # nothing stale is left behind: one open bot comment per finding still present in the diff
    open_fps = [review.fingerprint_of(c["body"]) for c in fake_github.review_comments("acme", "deploy", 7)
                if c["user"]["login"] == BOT and c.get("in_reply_to_id") is None]
    assert len(open_fps) == len(set(open_fps))
    assert set(open_fps) <= set(left)


def test_a_discussed_out_of_date_comment_is_answered_once_not_deleted(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    fake_github.add_pull("acme", "deploy", 7, base_files={".kubeguard.yaml": CONFIG, "app.yaml": HEALTHY},
                         head_files={".kubeguard.yaml": CONFIG, "app.yaml": UNHEALTHY})
    review_pull_request(_client(fake_github), 7)
    suggestions = _open_suggestions(fake_github)
    clicked = next(c for c in suggestions if "`host-network-ports`" in c["body"])
    # a neighbour whose lines the click rewrites, discussed by a human
    neighbour = next(c for c in suggestions if "`container-resource-limits`" in c["body"])
    fake_github.add_review_comment("acme", "deploy", 7, "app.yaml", neighbour["line"], "why 250Mi?", "alice",
                                   in_reply_to=neighbour["id"])
    text = _commit_suggestion(UNHEALTHY, clicked)
    head = fake_github.push("acme", "deploy", 7, {".kubeguard.yaml": CONFIG, "app.yaml": text})
    outcome = review_pull_request(_client(fake_github), 7)
    assert neighbour["id"] in outcome.replied and neighbour["id"] not in outcome.deleted
    thread = [c for c in fake_github.review_comments("acme", "deploy", 7) if c.get("in_reply_to_id") == neighbour["id"]]
    assert [c["user"]["login"] for c in thread] == ["alice", BOT] and head[:12] in thread[1]["body"]
    fresh = [c for c in _open_suggestions(fake_github) if "`container-resource-limits`" in c["body"]]
    assert len(fresh) == 1 and fresh[0]["id"] != neighbour["id"]
    again = review_pull_request(_client(fake_github), 7)  # the same head once more: nothing new, no second reply
    assert again.plan is not None and again.plan.comments == () and again.replied == [] and again.deleted == []
