"""Hostile files in a pull request, end to end: the real client against the fake GitHub.

One pull request carries a normal manifest next to alias bombs, deep nesting, an oversized file, ten
thousand documents, non-UTF-8 bytes, duplicate keys, code-executing tags, merge keys, shared anchors and
an unusual path. The run must stay bounded in time and memory, execute nothing, report each hostile file
by name (and line), and still review the normal one. A second pull request has a malformed configuration.
"""

from __future__ import annotations

import re
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest
from fake_github import FakeGitHub, Symlink
from hostile_inputs import billion_laughs

from bot.github_client import GitHubClient, retry_policy
from bot.model import Conclusion
from bot.pipeline import Options, review_pull_request

ROOT = Path(__file__).resolve().parents[2]
CONFIG = (ROOT / "examples" / ".kubeguard.yaml").read_text()
UNHEALTHY = (ROOT / "examples" / "unhealthy.yaml").read_text()
TOKEN = "ghs_" + "2" * 36
MAX_FILE_BYTES = 200_000

BOMB = billion_laughs()

# 600 levels: 300 flow mappings, each holding a one-item flow sequence, under the pod spec
DEEP = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: deep\nspec:\n  x: " + "{k: [" * 300 + "1" + "]}" * 300 + "\n"

BIG = "# padding\n" * (MAX_FILE_BYTES // 10) + UNHEALTHY  # just over the limit
MANY = "---\na: 1\n" * 10_000

LATIN1 = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: caf\xe9\n".encode("latin-1")

DUPLICATE = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata:
      name: dup
    spec:
      containers:
      - name: app
        image: nginx
        securityContext:
          privileged: false
          privileged: true
    """)


def tags(marker: Path) -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: !!python/object/apply:os.system ["echo pwned > {marker}"]
          labels: !thing {{app: web}}
          annotations:
            run: !!python/object/apply:os.system ["echo pwned > {marker}"]
        spec:
          containers:
          - name: !thing app
            image: !!python/object/apply:os.system ["echo pwned > {marker}"]
        """)


MERGE = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: merged
    spec:
      selector:
        matchLabels: {app: merged}
      template:
        metadata:
          labels: {app: merged}
        spec:
          containers:
          - &base
            name: base
            image: nginx
            securityContext:
              privileged: true
          - <<: *base
            name: copy
    """)

SHARED = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata:
      name: shared
    spec:
      containers:
      - name: one
        image: nginx
        securityContext: &sc
          privileged: true
      - name: two
        image: nginx
        securityContext: *sc
    """)

ODD_PATH = "odd dir/ünï cødé #1.yaml"


def client(fake: FakeGitHub) -> GitHubClient:
    return GitHubClient("acme/deploy", token=TOKEN, base_url=fake.url, write_interval=0,
                        retry=retry_policy(total=3, backoff=0.01, secondary_wait=0.1))


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_hostile_files_are_reported_bounded_and_the_normal_one_is_still_reviewed(
        fake_github: FakeGitHub, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    head = {
        ".kubeguard.yaml": CONFIG, "ok.yaml": UNHEALTHY, "bomb.yaml": BOMB, "deep.yaml": DEEP, "big.yaml": BIG,
        "many.yaml": MANY, "latin1.yaml": LATIN1, "dup.yaml": DUPLICATE, "tags.yaml": tags(marker),
        "merge.yaml": MERGE, "shared.yaml": SHARED, ODD_PATH: UNHEALTHY,
    }
    assert MAX_FILE_BYTES < len(BIG.encode()) < MAX_FILE_BYTES + 2_000 and len(MANY) < MAX_FILE_BYTES
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    fake_github.add_pull("acme", "deploy", 21, base_files={".kubeguard.yaml": CONFIG}, head_files=head)

    tracemalloc.start()
    start = time.monotonic()
    try:
        outcome = review_pull_request(client(fake_github), 21, Options(max_file_bytes=MAX_FILE_BYTES))
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 60, f"{elapsed:.1f} s"
    assert peak < 300 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert not marker.exists()  # no tag constructed anything

    assert outcome.plan is not None and outcome.review_id is not None
    problems = {p.file: p for p in outcome.problems}
    assert set(problems) == {"bomb.yaml", "deep.yaml", "big.yaml", "latin1.yaml", "dup.yaml"}, outcome.problems
    assert "too many nodes" in problems["bomb.yaml"].cause
    assert line_of(BOMB, "b: &b") <= problems["bomb.yaml"].line <= line_of(BOMB, "containers: [*i]")
    assert "nested deeper than" in problems["deep.yaml"].cause or "nesting depth" in problems["deep.yaml"].cause
    assert problems["deep.yaml"].line == 6
    assert "over the limit" in problems["big.yaml"].cause and problems["big.yaml"].kind == "skipped"
    assert "not UTF-8" in problems["latin1.yaml"].cause and problems["latin1.yaml"].line == 4
    assert "duplicate key 'privileged'" in problems["dup.yaml"].cause
    assert problems["dup.yaml"].line == line_of(DUPLICATE, "privileged: true")
    for name, problem in problems.items():
        assert str(problem).startswith(f"{name}:{problem.line}:")

    comments = fake_github.review_comments("acme", "deploy", 21)
    by_path: dict[str, set[int]] = {}
    for c in comments:
        by_path.setdefault(c["path"], set()).add(c["line"])
    assert len(by_path["ok.yaml"]) >= 8  # the normal file is reviewed line by line
    assert by_path[ODD_PATH] == by_path["ok.yaml"]  # the same content at an unusual path, the same lines
    assert not {"bomb.yaml", "deep.yaml", "big.yaml", "many.yaml", "latin1.yaml", "dup.yaml"} & set(by_path)
    def privileged(path: str) -> list[tuple[int, str]]:
        return [(c["line"], c["body"]) for c in comments
                if c["path"] == path and "`container-no-privilege`" in c["body"]]

    # merge keys and shared anchors: the privileged flag reaches both containers, each on its own line
    merged = privileged("merge.yaml")
    assert any(line == line_of(MERGE, "privileged: true") and "base" in b for line, b in merged)
    assert any(line == line_of(MERGE, "<<: *base") and "copy" in b for line, b in merged)
    shared = privileged("shared.yaml")
    assert {line for line, _ in shared} == {line_of(SHARED, "privileged: true")}
    assert any("one" in b for _, b in shared) and any("two" in b for _, b in shared)
    assert privileged("tags.yaml") == [] and "tags.yaml" not in problems
    (summary,) = [c["body"] for c in fake_github.issue_comments("acme", "deploy", 21)]
    for name in ("bomb.yaml", "deep.yaml", "big.yaml", "latin1.yaml", "dup.yaml"):
        assert name in summary
    assert fake_github.check_runs("acme", "deploy")[-1]["conclusion"] in ("failure", "neutral", "success")


HOSTILE_CONFIGS = {
    "malformed": ("rules:\n  container-no-privilege: {effect: Audit\n  other: [\n", "invalid YAML"),
    "alias-bomb": (billion_laughs(head="", tail="rules: *i\n"), r"too many nodes \(alias bomb\?\)"),
    "deep-nesting": ("rules:\n  x: " + "[" * 100_000 + "]" * 100_000 + "\n", "nesting depth"),
    "deep-mappings": ("rules:\n  x: " + "{k: [" * 300 + "1" + "]}" * 300 + "\n", "nested deeper than"),
    "huge": ("# padding\n" * 500_000 + "rules: {}\n", "over the limit of 262,144 for a configuration"),
    "binary": (b"\x7fELF\x02\x01\x01\x00\x00\x00rules: {}\n", "not valid YAML|control characters"),
    "not-utf-8": ("rules:\n  container-no-privilege: {effect: Audit}  # caf\xe9\n".encode("latin-1"), "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_a_hostile_base_configuration_is_a_bounded_config_error_not_a_crash(fake_github: FakeGitHub,
                                                                            case: str) -> None:
    text, cause = HOSTILE_CONFIGS[case]
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    fake_github.add_pull("acme", "deploy", 22, base_files={".kubeguard.yaml": text},
                         head_files={".kubeguard.yaml": text, "ok.yaml": UNHEALTHY})
    tracemalloc.start()
    start = time.monotonic()
    try:
        outcome = review_pull_request(client(fake_github), 22, Options(max_file_bytes=MAX_FILE_BYTES))
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 20, f"{elapsed:.1f} s"
    assert peak < 150 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert outcome.conclusion is Conclusion.FAILURE
    assert outcome.config_error.startswith(".kubeguard.yaml (base main@"), outcome.config_error
    assert re.search(cause, outcome.config_error), outcome.config_error
    assert fake_github.reviews("acme", "deploy", 22) == []  # nothing reviewed under rules nobody can read
    (summary,) = fake_github.issue_comments("acme", "deploy", 22)
    assert ".kubeguard.yaml" in summary["body"] and "could not read its configuration" in summary["body"]
    assert len(summary["body"]) < 5_000  # the cause, not the file
    assert fake_github.check_runs("acme", "deploy")[-1]["conclusion"] == "failure"


def test_symlinks_in_a_pull_request_are_reported_and_never_read_as_manifests(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    head: dict[str, str | bytes] = {
        ".kubeguard.yaml": CONFIG, "ok.yaml": UNHEALTHY,
        "evil.yaml": Symlink.to("/etc/passwd"),  # outside the repository: GitHub describes the link
        "up.yaml": Symlink.to("../../../home/runner/.ssh/id_rsa"),
        "inner.yaml": Symlink.to("ok.yaml"),  # GitHub answers this one with ok.yaml's content
        "loop.yaml": Symlink.to("loop.yaml"),
        "apps/dir.yaml": Symlink.to("../apps"),  # a directory
    }
    fake_github.add_pull("acme", "deploy", 23, base_files={".kubeguard.yaml": CONFIG}, head_files=head)
    outcome = review_pull_request(client(fake_github), 23, Options(max_file_bytes=MAX_FILE_BYTES))
    assert outcome.plan is not None and outcome.review_id is not None
    problems = {p.file: p for p in outcome.problems}
    assert set(problems) == {"evil.yaml", "up.yaml", "inner.yaml", "loop.yaml", "apps/dir.yaml"}
    assert "a symlink (to /etc/passwd): not followed, not reviewed" in problems["evil.yaml"].cause
    assert "(to ok.yaml)" in problems["inner.yaml"].cause  # GitHub's answer was the target: refused
    assert all(p.kind == "skipped" for p in problems.values())
    commented = {c["path"] for c in fake_github.review_comments("acme", "deploy", 23)}
    assert commented == {"ok.yaml"}  # inner.yaml's target is not reviewed twice under a second name
    (summary,) = [c["body"] for c in fake_github.issue_comments("acme", "deploy", 23)]
    for name in problems:
        assert name in summary


def test_a_symlinked_base_configuration_is_a_config_error_not_silently_the_defaults(fake_github: FakeGitHub) -> None:
    fake_github.add_repo("acme", "deploy")
    fake_github.add_token(TOKEN)
    base: dict[str, str | bytes] = {".kubeguard.yaml": Symlink.to("config/kubeguard.yaml"),
                                    "config/kubeguard.yaml": CONFIG}
    fake_github.add_pull("acme", "deploy", 24, base_files=base, head_files={**base, "ok.yaml": UNHEALTHY})
    outcome = review_pull_request(client(fake_github), 24)
    assert outcome.conclusion is Conclusion.FAILURE
    assert "symlink (to config/kubeguard.yaml)" in outcome.config_error
    assert fake_github.check_runs("acme", "deploy")[-1]["conclusion"] == "failure"
