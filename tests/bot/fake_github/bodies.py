"""JSON bodies in GitHub's shapes, built from the stored state with every field the spec requires.

Every URL points at the fake's own base URL (``base``), never at api.github.com: PyGithub follows object
``url`` fields and ``link`` headers and refuses another host. HTML-ish URLs use the same host too.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import quote

from .state import App, CheckRun, Commit, IssueComment, Pull, Repo, Review, ReviewComment


def iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def node_id(prefix: str, number: int) -> str:
    return prefix + "_" + base64.b64encode(f"fake:{number}".encode()).decode().rstrip("=")


def b64_lines(data: bytes) -> str:
    """Base64 as the contents API sends it: wrapped at 60 characters, each line ending in a newline."""
    text = base64.b64encode(data).decode()
    return "".join(text[i:i + 60] + "\n" for i in range(0, len(text), 60))


def user(base: str, login: str, user_id: int, user_type: str) -> dict[str, Any]:
    u = f"{base}/users/{quote(login)}"
    return {
        "login": login, "id": user_id, "node_id": node_id("U" if user_type == "User" else "BOT", user_id),
        "avatar_url": f"{base}/avatars/u/{user_id}?v=4", "gravatar_id": "", "url": u,
        "html_url": f"{base}/{quote(login)}", "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}", "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs", "repos_url": f"{u}/repos", "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events", "type": user_type, "user_view_type": "public",
        "site_admin": False,
    }


def repository(base: str, repo: Repo, owner: dict[str, Any], pushed_at: float) -> dict[str, Any]:
    """Fits both ``repository`` (PR head/base) and ``full-repository`` (GET /repos/{o}/{r})."""
    u = f"{base}/repos/{repo.owner}/{repo.name}"
    html = f"{base}/{repo.owner}/{repo.name}"
    created = iso(repo.created_at)
    return {
        "id": repo.id, "node_id": node_id("R", repo.id), "name": repo.name, "full_name": repo.full_name,
        "owner": owner, "private": False, "html_url": html, "description": None, "fork": False, "url": u,
        "archive_url": f"{u}/{{archive_format}}{{/ref}}", "assignees_url": f"{u}/assignees{{/user}}",
        "blobs_url": f"{u}/git/blobs{{/sha}}", "branches_url": f"{u}/branches{{/branch}}",
        "collaborators_url": f"{u}/collaborators{{/collaborator}}", "comments_url": f"{u}/comments{{/number}}",
        "commits_url": f"{u}/commits{{/sha}}", "compare_url": f"{u}/compare/{{base}}...{{head}}",
        "contents_url": f"{u}/contents/{{+path}}", "contributors_url": f"{u}/contributors",
        "deployments_url": f"{u}/deployments", "downloads_url": f"{u}/downloads", "events_url": f"{u}/events",
        "forks_url": f"{u}/forks", "git_commits_url": f"{u}/git/commits{{/sha}}",
        "git_refs_url": f"{u}/git/refs{{/sha}}", "git_tags_url": f"{u}/git/tags{{/sha}}",
        "git_url": f"{base}/{repo.full_name}.git".replace("http://", "git://", 1),
        "issue_comment_url": f"{u}/issues/comments{{/number}}", "issue_events_url": f"{u}/issues/events{{/number}}",
        "issues_url": f"{u}/issues{{/number}}", "keys_url": f"{u}/keys{{/key_id}}",
        "labels_url": f"{u}/labels{{/name}}", "languages_url": f"{u}/languages", "merges_url": f"{u}/merges",
        "milestones_url": f"{u}/milestones{{/number}}",
        "notifications_url": f"{u}/notifications{{?since,all,participating}}", "pulls_url": f"{u}/pulls{{/number}}",
        "releases_url": f"{u}/releases{{/id}}", "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
        "stargazers_url": f"{u}/stargazers", "statuses_url": f"{u}/statuses/{{sha}}",
        "subscribers_url": f"{u}/subscribers", "subscription_url": f"{u}/subscription", "tags_url": f"{u}/tags",
        "teams_url": f"{u}/teams", "trees_url": f"{u}/git/trees{{/sha}}", "clone_url": f"{html}.git",
        "mirror_url": None, "hooks_url": f"{u}/hooks", "svn_url": html, "homepage": None, "language": None,
        "forks_count": 0, "stargazers_count": 0, "watchers_count": 0, "size": 1,
        "default_branch": repo.default_branch, "open_issues_count": len(repo.pulls), "is_template": False,
        "topics": [], "has_issues": True, "has_projects": True, "has_wiki": True, "has_pages": False,
        "has_downloads": True, "has_discussions": False, "archived": False, "disabled": False,
        "visibility": "public", "pushed_at": iso(pushed_at), "created_at": created, "updated_at": created,
        "allow_forking": True, "web_commit_signoff_required": False, "subscribers_count": 0, "network_count": 0,
        "license": None, "forks": 0, "open_issues": len(repo.pulls), "watchers": 0,
    }


def pull_request(base: str, repo: Repo, pull: Pull, repo_json: dict[str, Any], author: dict[str, Any],
                 counts: dict[str, int]) -> dict[str, Any]:
    u = f"{base}/repos/{repo.full_name}/pulls/{pull.number}"
    issue = f"{base}/repos/{repo.full_name}/issues/{pull.number}"
    html = f"{base}/{repo.full_name}/pull/{pull.number}"
    statuses = f"{base}/repos/{repo.full_name}/statuses/{pull.head_sha}"
    files = pull.files[pull.head_sha].values()

    def side(ref: str, sha: str) -> dict[str, Any]:
        return {"label": f"{repo.owner}:{ref}", "ref": ref, "sha": sha, "user": repo_json["owner"], "repo": repo_json}

    return {
        "url": u, "id": pull.id, "node_id": node_id("PR", pull.id), "html_url": html, "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch", "issue_url": issue, "commits_url": f"{u}/commits",
        "review_comments_url": f"{u}/comments",
        "review_comment_url": f"{base}/repos/{repo.full_name}/pulls/comments{{/number}}",
        "comments_url": f"{issue}/comments", "statuses_url": statuses, "number": pull.number,
        "state": pull.state, "locked": False, "title": pull.title, "user": author, "body": pull.body or None,
        "labels": [], "milestone": None, "active_lock_reason": None, "created_at": iso(pull.created_at),
        "updated_at": iso(pull.updated_at), "closed_at": None, "merged_at": None, "merge_commit_sha": None,
        "assignee": None, "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "head": side(pull.head_ref, pull.head_sha), "base": side(pull.base_ref, pull.base_sha),
        "_links": {
            "self": {"href": u}, "html": {"href": html}, "issue": {"href": issue},
            "comments": {"href": f"{issue}/comments"}, "review_comments": {"href": f"{u}/comments"},
            "review_comment": {"href": f"{base}/repos/{repo.full_name}/pulls/comments{{/number}}"},
            "commits": {"href": f"{u}/commits"}, "statuses": {"href": statuses},
        },
        "author_association": "CONTRIBUTOR", "auto_merge": None, "draft": pull.draft, "merged": False,
        "mergeable": True, "rebaseable": True, "mergeable_state": "clean", "merged_by": None,
        "comments": counts["comments"], "review_comments": counts["review_comments"],
        "maintainer_can_modify": False, "commits": len(pull.heads),
        "additions": sum(f.additions for f in files), "deletions": sum(f.deletions for f in files),
        "changed_files": len(pull.files[pull.head_sha]),
    }


def review(base: str, repo: Repo, r: Review, author: dict[str, Any]) -> dict[str, Any]:
    pr = f"{base}/repos/{repo.full_name}/pulls/{r.number}"
    html = f"{base}/{repo.full_name}/pull/{r.number}#pullrequestreview-{r.id}"
    body: dict[str, Any] = {
        "id": r.id, "node_id": node_id("PRR", r.id), "user": author, "body": r.body, "state": r.state,
        "html_url": html, "pull_request_url": pr,
        "_links": {"html": {"href": html}, "pull_request": {"href": pr}},
        "commit_id": r.commit_id, "author_association": "NONE" if author["type"] == "Bot" else "CONTRIBUTOR",
    }
    if r.submitted_at is not None:
        body["submitted_at"] = iso(r.submitted_at)
    return body


def review_comment(base: str, repo: Repo, c: ReviewComment, author: dict[str, Any]) -> dict[str, Any]:
    u = f"{base}/repos/{repo.full_name}/pulls/comments/{c.id}"
    pr = f"{base}/repos/{repo.full_name}/pulls/{c.number}"
    html = f"{base}/{repo.full_name}/pull/{c.number}#discussion_r{c.id}"
    body: dict[str, Any] = {
        "url": u, "pull_request_review_id": c.review_id, "id": c.id, "node_id": node_id("PRRC", c.id),
        "diff_hunk": c.diff_hunk, "path": c.path, "position": c.position, "original_position": c.original_position,
        "commit_id": c.commit_id, "original_commit_id": c.original_commit_id, "user": author, "body": c.body,
        "created_at": iso(c.created_at), "updated_at": iso(c.updated_at), "html_url": html, "pull_request_url": pr,
        "author_association": "NONE" if author["type"] == "Bot" else "CONTRIBUTOR",
        "_links": {"self": {"href": u}, "html": {"href": html}, "pull_request": {"href": pr}},
        "start_line": c.start_line, "original_start_line": c.original_start_line, "start_side": c.start_side,
        "line": c.line, "original_line": c.original_line, "side": c.side, "subject_type": "line",
    }
    if c.in_reply_to_id is not None:
        body["in_reply_to_id"] = c.in_reply_to_id
    return body


def issue_comment(base: str, repo: Repo, c: IssueComment, author: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": c.id, "node_id": node_id("IC", c.id), "url": f"{base}/repos/{repo.full_name}/issues/comments/{c.id}",
        "html_url": f"{base}/{repo.full_name}/pull/{c.number}#issuecomment-{c.id}", "body": c.body,
        "user": author, "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
        "issue_url": f"{base}/repos/{repo.full_name}/issues/{c.number}",
        "author_association": "NONE" if author["type"] == "Bot" else "CONTRIBUTOR",
    }


def integration(base: str, app: App, owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": app.id, "slug": app.slug, "node_id": node_id("A", app.id), "client_id": f"Iv1.fake{app.id}",
        "owner": owner, "name": app.name, "description": "fake GitHub App", "external_url": f"{base}/apps/{app.slug}",
        "html_url": f"{base}/apps/{app.slug}", "created_at": iso(app.created_at), "updated_at": iso(app.created_at),
        "permissions": dict(app.permissions),
        "events": ["check_run", "check_suite", "issue_comment", "pull_request"],
        "installations_count": len(app.installations),
    }


def installation(base: str, app: App, installation_id: int, account: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": installation_id, "account": account, "repository_selection": "selected",
        "access_tokens_url": f"{base}/app/installations/{installation_id}/access_tokens",
        "repositories_url": f"{base}/installation/repositories",
        "html_url": f"{base}/settings/installations/{installation_id}", "app_id": app.id, "app_slug": app.slug,
        "target_id": account["id"], "target_type": account["type"], "permissions": dict(app.permissions),
        "events": ["check_run", "check_suite", "issue_comment", "pull_request"],
        "created_at": iso(app.created_at), "updated_at": iso(app.created_at), "single_file_name": None,
        "has_multiple_single_files": False, "single_file_paths": [], "suspended_by": None, "suspended_at": None,
    }


def check_run(base: str, repo: Repo, run: CheckRun, app_json: dict[str, Any],
              pulls: list[dict[str, Any]]) -> dict[str, Any]:
    u = f"{base}/repos/{repo.full_name}/check-runs/{run.id}"
    return {
        "id": run.id, "head_sha": run.head_sha, "node_id": node_id("CR", run.id), "external_id": run.external_id,
        "url": u, "html_url": f"{base}/{repo.full_name}/runs/{run.id}", "details_url": run.details_url,
        "status": run.status, "conclusion": run.conclusion, "started_at": iso(run.started_at),
        "completed_at": iso(run.completed_at),
        "output": {
            "title": run.output.get("title"), "summary": run.output.get("summary"), "text": run.output.get("text"),
            "annotations_count": len(run.annotations), "annotations_url": f"{u}/annotations",
        },
        "name": run.name, "check_suite": {"id": run.suite_id}, "app": app_json, "pull_requests": pulls,
    }


def pull_request_minimal(base: str, repo: Repo, pull: Pull) -> dict[str, Any]:
    r = {"id": repo.id, "url": f"{base}/repos/{repo.full_name}", "name": repo.name}
    return {
        "id": pull.id, "number": pull.number, "url": f"{base}/repos/{repo.full_name}/pulls/{pull.number}",
        "head": {"ref": pull.head_ref, "sha": pull.head_sha, "repo": r},
        "base": {"ref": pull.base_ref, "sha": pull.base_sha, "repo": r},
    }


def annotation(base: str, repo: Repo, run: CheckRun, a: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": a["path"], "start_line": a["start_line"], "end_line": a["end_line"],
        "start_column": a.get("start_column"), "end_column": a.get("end_column"),
        "annotation_level": a["annotation_level"], "title": a.get("title"), "message": a["message"],
        "raw_details": a.get("raw_details"),
        "blob_href": f"{base}/{repo.full_name}/blob/{run.head_sha}/{quote(a['path'])}",
    }


def commit(base: str, repo: Repo, c: Commit, author: dict[str, Any]) -> dict[str, Any]:
    u = f"{base}/repos/{repo.full_name}/commits/{c.sha}"
    person = {"name": author["login"], "email": f"{author['id']}+{author['login']}@users.noreply.fake",
              "date": iso(c.date)}
    return {
        "url": u, "sha": c.sha, "node_id": node_id("C", int(c.sha[:8], 16)),
        "html_url": f"{base}/{repo.full_name}/commit/{c.sha}", "comments_url": f"{u}/comments",
        "commit": {
            "url": f"{base}/repos/{repo.full_name}/git/commits/{c.sha}", "author": person, "committer": person,
            "message": c.message, "comment_count": 0,
            "tree": {"sha": c.tree_sha, "url": f"{base}/repos/{repo.full_name}/git/trees/{c.tree_sha}"},
            "verification": {"verified": False, "reason": "unsigned", "payload": None, "signature": None,
                             "verified_at": None},
        },
        "author": author, "committer": author,
        "parents": [{"sha": p, "url": f"{base}/repos/{repo.full_name}/commits/{p}",
                     "html_url": f"{base}/{repo.full_name}/commit/{p}"} for p in c.parents],
    }
