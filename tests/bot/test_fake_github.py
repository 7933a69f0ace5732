"""The fake GitHub (tests/bot/fake_github) behaves like GitHub where the bot depends on it.

PyGithub is the client wherever it reaches (``retry=None``: faults are seen as they are sent); plain
``urllib.request`` checks raw status codes, headers and bodies. The ``fake_github`` fixture is strict: every
answer whose status the spec declares is validated against GitHub's OpenAPI description, and the fixture
fails the test if one did not match.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import github
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_github import SECONDARY_RATE_LIMIT, FakeGitHub
from fake_github.diff import diff_text

OWNER, REPO, TOKEN = "octo", "demo", "t0k3n"
# no retries (faults are seen as sent) and none of PyGithub's pacing (0.25 s between requests, 1 s between writes)
FAST = {"retry": None, "seconds_between_requests": None, "seconds_between_writes": None}
DEPLOY = "".join(f"line {i}\n" for i in range(1, 41))
# changes at lines 5 and 30: two hunks (-2,7 +2,7 and -27,7 +27,8), lines 9..23 are in neither
DEPLOY_HEAD = DEPLOY.replace("line 5\n", "line five\n").replace("line 30\n", "line thirty\nline 30.5\n")


def client(fake: FakeGitHub, token: str = TOKEN) -> github.Github:
    return github.Github(auth=github.Auth.Token(token), base_url=fake.url, **FAST)


def http(fake: FakeGitHub, method: str, path: str, body: Any = None, *, token: str | None = TOKEN,
         headers: dict[str, str] | None = None, url: str | None = None) -> tuple[int, dict[str, str], Any]:
    """One raw request; returns (status, lower-cased headers, JSON body or raw bytes)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url or fake.url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"token {token}")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, head, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        status, head, raw = e.code, dict(e.headers), e.read()
    head = {k.lower(): v for k, v in head.items()}
    if "json" in head.get("content-type", ""):
        return status, head, json.loads(raw) if raw else None
    return status, head, raw


@pytest.fixture
def pr(fake_github: FakeGitHub) -> dict[str, Any]:
    """octo/demo#1: a modified manifest (two hunks), a renamed, an added binary, a removed and a huge file."""
    fake_github.add_repo(OWNER, REPO)
    fake_github.add_token(TOKEN)
    return fake_github.add_pull(
        OWNER, REPO, 1,
        base_files={"k8s/deploy.yaml": DEPLOY, "old/name.yaml": "kind: Service\n", "gone.txt": "bye\n",
                    "big.yaml": "a: 1\n"},
        head_files={"k8s/deploy.yaml": DEPLOY_HEAD, "new/name.yaml": "kind: Service\n",
                    "logo.png": b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "big.yaml": "a: 2\n" * 3000},
        renames={"new/name.yaml": "old/name.yaml"}, omit_patch={"big.yaml"}, title="Harden the deployment")


def test_patch_is_githubs_hunk_format() -> None:
    diff = diff_text("a\nb\nc\n", "a\nB\nc")
    assert diff.patch == "@@ -1,3 +1,3 @@\n a\n-b\n-c\n+B\n+c\n\\ No newline at end of file"
    assert (diff.additions, diff.deletions) == (2, 2)
    assert diff_text("", "x\n").patch == "@@ -0,0 +1 @@\n+x"


def test_changed_files_statuses_patches_and_renames(fake_github: FakeGitHub, pr: dict[str, Any]) -> None:
    files = {f.filename: f for f in client(fake_github).get_repo(f"{OWNER}/{REPO}").get_pull(1).get_files()}
    assert set(files) == {"k8s/deploy.yaml", "new/name.yaml", "logo.png", "gone.txt", "big.yaml"}
    deploy = files["k8s/deploy.yaml"]
    assert deploy.status == "modified" and (deploy.additions, deploy.deletions) == (3, 2)
    assert deploy.patch.startswith("@@ -2,7 +2,7 @@\n line 2\n") and "\n@@ -27,7 +27,8 @@\n" in deploy.patch
    assert "---" not in deploy.patch and "+++" not in deploy.patch
    renamed = files["new/name.yaml"]
    assert renamed.status == "renamed" and renamed.previous_filename == "old/name.yaml"
    assert files["gone.txt"].status == "removed" and files["gone.txt"].patch == "@@ -1 +0,0 @@\n-bye"
    # binary content and GitHub's "diff too large" have no patch key at all
    for path in ("logo.png", "big.yaml"):
        status, _, raw = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}/pulls/1/files")
        assert status == 200
        entry = next(e for e in raw if e["filename"] == path)
        assert "patch" not in entry, path
    assert files["logo.png"].status == "added" and (files["logo.png"].additions, files["logo.png"].deletions) == (0, 0)
    assert files["big.yaml"].additions == 3000 and files["big.yaml"].deletions == 1
    assert pr["changed_files"] == 5 and pr["head"]["sha"] != pr["base"]["sha"]
    assert pr["url"].startswith(fake_github.url) and "api.github.com" not in json.dumps(pr)


def test_contents_differ_between_base_and_head_and_raw_media_type(fake_github: FakeGitHub,
                                                                 pr: dict[str, Any]) -> None:
    repo = client(fake_github).get_repo(f"{OWNER}/{REPO}")
    base = repo.get_contents("k8s/deploy.yaml", ref=pr["base"]["sha"])
    head = repo.get_contents("k8s/deploy.yaml", ref=pr["head"]["ref"])
    assert base.decoded_content.decode() == DEPLOY and head.decoded_content.decode() == DEPLOY_HEAD
    assert repo.get_git_blob(head.sha).content.replace("\n", "") == head.content.replace("\n", "")
    status, headers, raw = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}/contents/k8s/deploy.yaml?ref="
                                + pr["head"]["sha"], headers={"Accept": "application/vnd.github.raw+json"})
    assert status == 200 and raw == DEPLOY_HEAD.encode()
    assert headers["content-type"].startswith("application/vnd.github.raw")
    status, _, body = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}/contents/gone.txt?ref={pr['head']['sha']}")
    assert status == 404 and body["message"] == "Not Found"
    tree = repo.get_git_tree(pr["head"]["sha"], recursive=True)
    assert {e.path for e in tree.tree if e.type == "blob"} == {"k8s/deploy.yaml", "new/name.yaml", "logo.png",
                                                                 "big.yaml"}
    assert any(e.path == "k8s" and e.type == "tree" for e in tree.tree)


def suggestion_review(pr: dict[str, Any]) -> dict[str, Any]:
    return {
        "commit_id": pr["head"]["sha"], "body": "kubeguard found 2 problems", "event": "COMMENT",
        "comments": [
            {"path": "k8s/deploy.yaml", "line": 5, "side": "RIGHT", "body": "```suggestion\nline 5\n```"},
            {"path": "k8s/deploy.yaml", "start_line": 29, "start_side": "RIGHT", "line": 31, "side": "RIGHT",
             "body": "```suggestion\nline 29\nline 30\n```"},
        ],
    }


def test_review_with_single_and_multi_line_suggestions_is_stored_and_listed(fake_github: FakeGitHub,
                                                                            pr: dict[str, Any]) -> None:
    pull = client(fake_github).get_repo(f"{OWNER}/{REPO}").get_pull(1)
    body = suggestion_review(pr)
    review = pull.create_review(body=body["body"], event="COMMENT", comments=body["comments"])
    post = [r for r in fake_github.requests if r.method == "POST"][-1]
    assert post.path == f"/repos/{OWNER}/{REPO}/pulls/1/reviews" and post.status == 200  # GitHub: 200, not 201
    assert review.state == "COMMENTED" and review.user.login == "kubeguard[bot]"
    listed = sorted(pull.get_review_comments(), key=lambda c: c.id)
    assert [(c.path, c.line, c.start_line, c.side) for c in listed] == [
        ("k8s/deploy.yaml", 5, None, "RIGHT"), ("k8s/deploy.yaml", 31, 29, "RIGHT")]
    assert all(c.pull_request_review_id == review.id and c.commit_id == pr["head"]["sha"] for c in listed)
    assert all(c.user.login == "kubeguard[bot]" and c.user.type == "Bot" for c in listed)
    assert listed[0].diff_hunk.startswith("@@ -2,7 +2,7 @@") and listed[0].diff_hunk.endswith("+line five")
    assert listed[1].body.startswith("```suggestion\n")
    assert [r["state"] for r in fake_github.reviews(OWNER, REPO, 1)] == ["COMMENTED"]


@pytest.mark.parametrize(("comment", "phrase"), [
    ({"path": "k8s/deploy.yaml", "line": 15, "body": "outside every hunk"},
     "Pull request review thread line must be part of the diff and "
     "Pull request review thread diff hunk can't be blank"),
    ({"path": "k8s/deploy.yaml", "start_line": 5, "line": 30, "body": "spans two hunks"},
     "Pull request review thread start line must be part of the same hunk as the line."),
    ({"path": "k8s/deploy.yaml", "start_line": 31, "line": 29, "body": "backwards"},
     "Pull request review thread start line must precede the end line."),
    ({"path": "README.md", "line": 1, "body": "not in the PR"}, "Pull request review thread path is invalid"),
    ({"path": "logo.png", "line": 1, "body": "binary"}, "Pull request review thread line must be part of the diff"),
])
def test_review_comment_off_the_diff_rejects_the_whole_review(fake_github: FakeGitHub, pr: dict[str, Any],
                                                              comment: dict[str, Any], phrase: str) -> None:
    body = suggestion_review(pr)
    body["comments"].append(comment)
    status, _, answer = http(fake_github, "POST", f"/repos/{OWNER}/{REPO}/pulls/1/reviews", body)
    assert status == 422
    assert answer["message"] == "Unprocessable Entity" and phrase in answer["errors"][0]
    assert answer["documentation_url"].startswith("https://docs.github.com/rest/pulls/reviews")
    assert fake_github.reviews(OWNER, REPO, 1) == [] and fake_github.review_comments(OWNER, REPO, 1) == []
    with pytest.raises(github.GithubException) as raised:
        client(fake_github).get_repo(f"{OWNER}/{REPO}").get_pull(1).create_review(
            body="x", event="COMMENT", comments=[comment])
    assert raised.value.status == 422 and re.search("line must be part of the diff|start line|path is invalid",
                                                    raised.value.data["errors"][0])


def test_schema_invalid_review_body_is_422_invalid_request(fake_github: FakeGitHub, pr: dict[str, Any]) -> None:
    body = suggestion_review(pr)
    body["comments"][0]["line"] = "12"
    status, _, answer = http(fake_github, "POST", f"/repos/{OWNER}/{REPO}/pulls/1/reviews", body)
    assert status == 422 and answer["status"] == "422"
    assert answer["message"].startswith("Invalid request.\n\n")
    assert "For 'properties/comments/line', \"12\" is not an integer." in answer["message"]
    status, _, answer = http(fake_github, "POST", f"/repos/{OWNER}/{REPO}/pulls/1/reviews", {"event": "REJECT"})
    assert status == 422 and "REJECT" in answer["message"]
    assert fake_github.reviews(OWNER, REPO, 1) == []


def test_review_rules_pending_commit_body_dismissal(fake_github: FakeGitHub, pr: dict[str, Any]) -> None:
    path = f"/repos/{OWNER}/{REPO}/pulls/1/reviews"
    assert http(fake_github, "POST", path, {"commit_id": "0" * 40, "event": "APPROVE"})[0] == 422
    status, _, answer = http(fake_github, "POST", path, {"event": "REQUEST_CHANGES"})
    assert status == 422 and fake_github.reviews(OWNER, REPO, 1) == []
    status, _, pending = http(fake_github, "POST", path, {"body": "draft"})
    assert status == 200 and pending["state"] == "PENDING" and "submitted_at" not in pending
    status, _, answer = http(fake_github, "POST", path, {"body": "again", "event": "COMMENT"})
    assert status == 422 and answer["errors"] == ["User can only have one pending review per pull request"]
    status, _, submitted = http(fake_github, "POST", f"{path}/{pending['id']}/events", {"event": "REQUEST_CHANGES"})
    assert status == 200 and submitted["state"] == "CHANGES_REQUESTED"
    status, _, commented = http(fake_github, "POST", path, {"body": "note", "event": "COMMENT"})
    assert status == 200
    assert http(fake_github, "PUT", f"{path}/{commented['id']}/dismissals", {"message": "stale"})[0] == 422
    status, _, dismissed = http(fake_github, "PUT", f"{path}/{pending['id']}/dismissals", {"message": "fixed"})
    assert status == 200 and dismissed["state"] == "DISMISSED"


def test_push_makes_comments_outside_the_new_diff_outdated(fake_github: FakeGitHub, pr: dict[str, Any]) -> None:
    body = suggestion_review(pr)
    assert http(fake_github, "POST", f"/repos/{OWNER}/{REPO}/pulls/1/reviews", body)[0] == 200
    human = fake_github.add_review_comment(OWNER, REPO, 1, "k8s/deploy.yaml", 31, "why?", "alice")
    assert human["user"]["login"] == "alice" and human["user"]["type"] == "User"
    with pytest.raises(ValueError, match="line must be part of the diff"):
        fake_github.add_review_comment(OWNER, REPO, 1, "k8s/deploy.yaml", 15, "nope", "alice")
    # the new head reverts line 5, so the first comment's line leaves the diff; the second hunk stays
    new_head = fake_github.push(OWNER, REPO, 1, {"k8s/deploy.yaml": DEPLOY.replace("line 30\n", "line thirty\n"
                                                                                    "line 30.5\n")})
    status, _, comments = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}/pulls/1/comments")
    assert status == 200
    by_body = {c["body"]: c for c in comments}
    outdated = by_body["```suggestion\nline 5\n```"]
    assert outdated["line"] is None and outdated["position"] is None and outdated["original_line"] == 5
    kept = by_body["why?"]
    assert kept["line"] == 31 and kept["commit_id"] == new_head and kept["original_commit_id"] == pr["head"]["sha"]
    reply = client(fake_github).get_repo(f"{OWNER}/{REPO}").get_pull(1).create_review_comment_reply(
        kept["id"], "because")
    assert reply.in_reply_to_id == kept["id"] and reply.user.login == "kubeguard[bot]"
    # the old head is still a commit of the PR (its comments are checked against that diff); the base is not
    old = suggestion_review(pr)
    assert http(fake_github, "POST", f"/repos/{OWNER}/{REPO}/pulls/1/reviews", old)[0] == 200
    old["commit_id"] = pr["base"]["sha"]
    assert http(fake_github, "POST", f"/repos/{OWNER}/{REPO}/pulls/1/reviews", old)[0] == 422


def test_pagination_of_250_files(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(OWNER, REPO)
    fake_github.add_token(TOKEN)
    head = {f"manifests/app-{i:03}.yaml": f"kind: Pod\nname: app-{i}\n" for i in range(250)}
    fake_github.add_pull(OWNER, REPO, 7, base_files={}, head_files=head)
    files = list(client(fake_github).get_repo(f"{OWNER}/{REPO}").get_pull(7).get_files())
    assert [f.filename for f in files] == sorted(head)
    page_requests = [r for r in fake_github.requests if r.path.endswith("/pulls/7/files")]
    assert len(page_requests) == 9  # 30 per page by default
    path = f"/repos/{OWNER}/{REPO}/pulls/7/files"
    _, headers, body = http(fake_github, "GET", path + "?per_page=100")
    assert len(body) == 100
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', headers["link"]))
    assert set(links) == {"next", "last"}
    assert links["next"] == f"{fake_github.url}{path}?per_page=100&page=2"
    assert links["last"].endswith("per_page=100&page=3")
    _, headers, body = http(fake_github, "GET", path + "?per_page=100&page=2")
    assert set(re.findall(r'rel="(\w+)"', headers["link"])) == {"prev", "next", "last", "first"}
    _, headers, body = http(fake_github, "GET", path + "?per_page=100&page=3")
    assert len(body) == 50 and set(re.findall(r'rel="(\w+)"', headers["link"])) == {"prev", "first"}
    _, headers, body = http(fake_github, "GET", path + "?per_page=1000")
    assert len(body) == 100  # GitHub caps per_page at 100
    fake_github.add_pull(OWNER, REPO, 8, base_files={}, head_files={"one.yaml": "a: 1\n"})
    _, headers, body = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}/pulls/8/files")
    assert len(body) == 1 and "link" not in headers


def test_app_jwt_installation_token_flow_and_expiry(fake_github: FakeGitHub, rsa_key: tuple[str, str]) -> None:
    private, public = rsa_key
    fake_github.add_repo(OWNER, REPO)
    fake_github.add_repo(OWNER, "other")
    fake_github.register_app(4242, public, installations={77: [f"{OWNER}/{REPO}"]})
    app_auth = github.Auth.AppAuth(4242, private)
    integration = github.GithubIntegration(auth=app_auth, base_url=fake_github.url, **FAST)
    assert integration.get_repo_installation(OWNER, REPO).id == 77
    assert integration.get_app().slug == "kubeguard"
    gh = github.Github(auth=app_auth.get_installation_auth(77), base_url=fake_github.url, **FAST)
    assert gh.get_repo(f"{OWNER}/{REPO}").full_name == f"{OWNER}/{REPO}"
    token_post = next(r for r in fake_github.requests if r.path == "/app/installations/77/access_tokens")
    assert token_post.status == 201 and token_post.headers["Authorization"].startswith("Bearer ")
    with pytest.raises(github.UnknownObjectException):  # the installation does not cover octo/other
        gh.get_repo(f"{OWNER}/other")
    fake_github.advance_time(3601)
    with pytest.raises(github.BadCredentialsException):
        gh.get_repo(f"{OWNER}/{REPO}")
    # iss as a string works too; a JWT signed by another key, or expired, does not
    now = int(fake_github.now())
    good = jwt.encode({"iss": "4242", "iat": now - 60, "exp": now + 540}, private, algorithm="RS256")
    # PyJWT >= 2.10 refuses to encode a numeric iss; GitHub (and the fake) accept one: sign the payload as JWS
    numeric = jwt.api_jws.encode(json.dumps({"iss": 4242, "iat": now - 60, "exp": now + 540}).encode(), private,
                                 algorithm="RS256")
    assert http(fake_github, "GET", "/app", token=None, headers={"Authorization": f"Bearer {numeric}"})[0] == 200
    status, _, body = http(fake_github, "POST", "/app/installations/77/access_tokens", {}, token=None,
                           headers={"Authorization": f"Bearer {good}"})
    assert status == 201 and body["token"].startswith("ghs_") and body["expires_at"].endswith("Z")
    assert body["repository_selection"] == "selected" and body["permissions"]["checks"] == "write"
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for claims, key in [({"iss": "4242", "iat": now - 60, "exp": now + 540}, other_key),
                        ({"iss": "4242", "iat": now - 700, "exp": now - 10}, private)]:
        forged = jwt.encode(claims, key, algorithm="RS256")
        status, _, body = http(fake_github, "POST", "/app/installations/77/access_tokens", {}, token=None,
                               headers={"Authorization": f"Bearer {forged}"})
        assert status == 401
    status, _, body = http(fake_github, "POST", "/app/installations/77/access_tokens",
                           {"permissions": {"administration": "write"}}, token=None,
                           headers={"Authorization": f"Bearer {good}"})
    assert status == 422 and body["message"] == "The permissions requested are not granted to this installation."


def test_bad_or_missing_token_is_401(fake_github: FakeGitHub, pr: dict[str, Any]) -> None:
    with pytest.raises(github.BadCredentialsException):
        client(fake_github, "wrong").get_repo(f"{OWNER}/{REPO}")
    status, headers, body = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}", token=None)
    assert status == 401 and body["message"] == "Bad credentials"
    assert headers["x-ratelimit-limit"] == "60"  # the unauthenticated budget
    status, _, _ = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}",
                        headers={"Authorization": f"Bearer {TOKEN}"}, token=None)
    assert status == 200


def test_check_run_annotation_batches(fake_github: FakeGitHub, pr: dict[str, Any]) -> None:
    repo = client(fake_github).get_repo(f"{OWNER}/{REPO}")
    run = repo.create_check_run("kubeguard", pr["head"]["sha"], status="in_progress")
    assert run.status == "in_progress" and run.conclusion is None

    def annotations(n: int, start: int = 1) -> list[dict[str, Any]]:
        return [{"path": "k8s/deploy.yaml", "start_line": i, "end_line": i, "annotation_level": "warning",
                 "message": f"problem {i}"} for i in range(start, start + n)]

    path = f"/repos/{OWNER}/{REPO}/check-runs/{run.id}"
    status, _, body = http(fake_github, "PATCH", path, {"output": {"title": "t", "summary": "s",
                                                                   "annotations": annotations(51)}})
    assert status == 422 and "No more than 50 items are allowed; 51 were supplied." in body["message"]
    run.edit(output={"title": "kubeguard", "summary": "first 50", "annotations": annotations(50)})
    run.edit(conclusion="failure", output={"title": "kubeguard", "summary": "100 problems",
                                           "annotations": annotations(50, 51)})
    listed = list(repo.get_check_run(run.id).get_annotations())
    assert len(listed) == 100 and listed[-1].message == "problem 100"
    stored = fake_github.check_runs(OWNER, REPO)[0]
    assert stored["status"] == "completed" and stored["conclusion"] == "failure"
    assert stored["output"]["annotations_count"] == 100 and stored["output"]["summary"] == "100 problems"
    status, _, body = http(fake_github, "PATCH", path, {"output": {"title": "no summary"}})
    assert status == 422
    status, _, body = http(fake_github, "PATCH", path, {"output": {"title": "t", "summary": "x" * 65536}})
    assert status == 422
    status, _, body = http(fake_github, "POST", f"/repos/{OWNER}/{REPO}/check-runs",
                           {"name": "k", "head_sha": pr["head"]["sha"], "status": "completed"})
    assert status == 422 and "conclusion" in body["message"]
    assert [r.id for r in repo.get_commit(pr["head"]["sha"]).get_check_runs()] == [run.id]


def test_check_runs_listed_by_name_app_and_filter_and_only_their_app_may_edit_them(
        fake_github: FakeGitHub, pr: dict[str, Any]) -> None:
    fake_github.add_token("app7", app_id=7)
    sha = pr["head"]["sha"]
    ours = [client(fake_github).get_repo(f"{OWNER}/{REPO}").create_check_run("kubeguard", sha).id for _ in range(2)]
    theirs = client(fake_github, "app7").get_repo(f"{OWNER}/{REPO}").create_check_run("kubeguard", sha).id
    lint = client(fake_github).get_repo(f"{OWNER}/{REPO}").create_check_run("lint", sha).id

    def listed(query: str) -> list[int]:
        status, _, body = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}/commits/{sha}/check-runs?{query}")
        assert status == 200 and body["total_count"] == len(body["check_runs"])
        return sorted(r["id"] for r in body["check_runs"])

    assert listed("check_name=kubeguard&filter=all") == sorted([*ours, theirs])
    assert listed("check_name=kubeguard&filter=all&app_id=1") == ours
    assert listed("check_name=kubeguard&app_id=7") == [theirs]
    assert listed("filter=latest&app_id=1") == [ours[-1], lint]  # the latest of each name
    status, _, body = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}/commits/{sha}/check-runs?filter=every")
    assert status == 422 and "Invalid request" in body["message"]
    status, _, body = http(fake_github, "PATCH", f"/repos/{OWNER}/{REPO}/check-runs/{theirs}",
                           {"external_id": "x"})
    assert status == 403 and body["message"] == ("Invalid app_id `1` - check run can only be modified by the "
                                                 "GitHub App that created it.")
    status, _, body = http(fake_github, "PATCH", f"/repos/{OWNER}/{REPO}/check-runs/{theirs}", {"external_id": "x"},
                           token="app7")
    assert status == 200 and body["external_id"] == "x" and body["app"]["id"] == 7


def test_latency_faults_after_some_requests_and_files_over_a_megabyte(fake_github: FakeGitHub,
                                                                      pr: dict[str, Any]) -> None:
    fake_github.latency = 0.2
    path = f"/repos/{OWNER}/{REPO}/contents/k8s/deploy.yaml?ref={pr['head']['sha']}"
    started = time.monotonic()
    assert http(fake_github, "GET", path)[0] == 200
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    assert http(fake_github, "GET", f"/repos/{OWNER}/{REPO}")[0] == 200  # not a contents request: no delay
    assert time.monotonic() - started < 0.2
    fake_github.latency = 0
    large = "a: 1\n" * 300_000  # 1.2 MB: over the 1 MB the contents API inlines
    fake_github.push(OWNER, REPO, 1, {"large.yaml": large})
    entry = client(fake_github).get_repo(f"{OWNER}/{REPO}").get_contents("large.yaml", ref="pr-1")
    assert entry.encoding == "none" and entry.content == "" and entry.size == len(large)
    assert http(fake_github, "GET", f"/repos/{OWNER}/{REPO}/git/blobs/{entry.sha}")[2]["size"] == len(large)
    fake_github.inject("GET", r"/contents/", 502, skip=2)
    assert [http(fake_github, "GET", path)[0] for _ in range(4)] == [200, 200, 502, 200]


def test_statuses_and_issue_comments(fake_github: FakeGitHub, pr: dict[str, Any]) -> None:
    repo = client(fake_github).get_repo(f"{OWNER}/{REPO}")
    repo.get_commit(pr["head"]["sha"]).create_status("failure", description="2 problems", context="kubeguard")
    assert [(s["state"], s["context"]) for s in fake_github.statuses(OWNER, REPO, pr["head"]["sha"])] == [
        ("failure", "kubeguard")]
    assert fake_github.statuses(OWNER, REPO, pr["base"]["sha"]) == []
    pull = repo.get_pull(1)
    comment = pull.create_issue_comment("<!-- kubeguard --> summary")
    comment.edit("<!-- kubeguard --> updated")
    assert [c.body for c in pull.get_issue_comments()] == ["<!-- kubeguard --> updated"]
    assert fake_github.issue_comments(OWNER, REPO, 1)[0]["user"]["login"] == "kubeguard[bot]"
    comment.delete()
    assert fake_github.issue_comments(OWNER, REPO, 1) == []


def test_faults_rate_limit_headers_and_request_log(fake_github: FakeGitHub, pr: dict[str, Any]) -> None:
    gh = client(fake_github)
    fake_github.inject("GET", r"/pulls/1$", 502)
    with pytest.raises(github.GithubException) as raised:
        gh.get_repo(f"{OWNER}/{REPO}").get_pull(1)
    assert raised.value.status == 502
    assert gh.get_repo(f"{OWNER}/{REPO}").get_pull(1).number == 1  # times=1: the next one succeeds
    fake_github.inject("POST", r"/issues/1/comments$", 403)
    with pytest.raises(github.RateLimitExceededException) as limited:
        gh.get_repo(f"{OWNER}/{REPO}").get_pull(1).create_issue_comment("hi")
    assert limited.value.headers["retry-after"] == "1" and limited.value.data["message"] == SECONDARY_RATE_LIMIT
    assert fake_github.issue_comments(OWNER, REPO, 1) == []  # the fault comes before any state change
    fake_github.inject("*", r"^/repos/octo/demo$", 0)
    with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
        http(fake_github, "GET", f"/repos/{OWNER}/{REPO}")
    fake_github.inject("GET", r"^/repos/octo/demo$", 429, times=2)
    assert http(fake_github, "GET", f"/repos/{OWNER}/{REPO}")[0] == 429
    assert http(fake_github, "GET", f"/repos/{OWNER}/{REPO}")[0] == 429
    status, first, _ = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}")
    _, second, _ = http(fake_github, "GET", f"/repos/{OWNER}/{REPO}")
    assert status == 200 and first["x-ratelimit-limit"] == "5000" and first["x-ratelimit-resource"] == "core"
    assert int(second["x-ratelimit-remaining"]) == int(first["x-ratelimit-remaining"]) - 1
    assert int(second["x-ratelimit-used"]) == int(first["x-ratelimit-used"]) + 1
    assert int(first["x-ratelimit-reset"]) > time.time()
    status, headers, body = http(fake_github, "GET", "/repos/octo/demo/no-such-thing")
    assert status == 404 and body["message"] == "Not Found" and "x-ratelimit-remaining" in headers
    assert gh.get_rate_limit().resources.core.limit == 5000
    log = [(r.method, r.path, r.status) for r in fake_github.requests]
    assert ("GET", f"/repos/{OWNER}/{REPO}/pulls/1", 502) in log and ("GET", f"/repos/{OWNER}/{REPO}", 0) in log
    posted = next(r for r in fake_github.requests if r.method == "POST")
    assert posted.json == {"body": "hi"} and posted.status == 403 and posted.query == {}


def test_token_limited_to_repos_and_user_tokens_cannot_write_checks(fake_github: FakeGitHub,
                                                                    pr: dict[str, Any]) -> None:
    fake_github.add_repo(OWNER, "secret")
    fake_github.add_token("narrow", repos=[f"{OWNER}/{REPO}"])
    fake_github.add_token("pat", login="alice")
    assert http(fake_github, "GET", f"/repos/{OWNER}/secret", token="narrow")[0] == 404
    assert http(fake_github, "GET", f"/repos/{OWNER}/{REPO}", token="narrow")[0] == 200
    status, _, body = http(fake_github, "POST", f"/repos/{OWNER}/{REPO}/check-runs",
                           {"name": "k", "head_sha": pr["head"]["sha"]}, token="pat")
    assert status == 403
    status, _, body = http(fake_github, "POST", f"/repos/{OWNER}/{REPO}/issues/1/comments", {"body": "me"},
                           token="pat")
    assert status == 201 and body["user"]["login"] == "alice"


def test_strict_mode_catches_an_answer_against_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    from fake_github import bodies

    original = bodies.repository

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        body = original(*args, **kwargs)
        del body["full_name"]
        return body

    monkeypatch.setattr(bodies, "repository", broken)
    with FakeGitHub(strict=True) as fake:
        fake.add_repo(OWNER, REPO)
        fake.add_token(TOKEN)
        status, _, body = http(fake, "GET", f"/repos/{OWNER}/{REPO}")
        assert status == 500 and "full_name" in body["message"]
        assert len(fake.response_errors) == 1
