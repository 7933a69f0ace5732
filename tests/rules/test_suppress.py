"""Suppressions: ``kubeguard.io/ignore`` annotations and ``# kubeguard:ignore`` comments.

A suppression needs a reason; without one it does not suppress and is itself reported.
Suppressed findings stay in the report, marked with where the suppression came from and why.
"""

from __future__ import annotations

import textwrap

import rules
from rules import Suppression

PRIV = "container-no-privilege"
RORF = "read-only-root-filesystem"
HOSTNS = "block-host-namespace"
WATCHED = (PRIV, RORF, HOSTNS)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(hits) >= nth, f"{needle!r} occurs {len(hits)} times"
    return hits[nth - 1]


def scan(text: str) -> rules.Report:
    return rules.scan([("m.yaml", text)], rules.default_config())


def outcome(report: rules.Report) -> set[tuple[str, int, Suppression | None]]:
    return {(f.rule.id, f.line, f.suppression) for f in report.findings if f.rule.id in WATCHED}


def problems(report: rules.Report) -> list[tuple[int, int, str]]:
    return [(p.line, p.column, p.kind) for p in report.problems]


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: agent
  annotations:
    kubeguard.io/ignore: container-no-privilege, read-only-root-filesystem
    kubeguard.io/ignore-reason: node agent needs the host devices
spec:
  hostPID: true
  containers:
  - name: agent
    image: nginx
    securityContext:
      privileged: true
      readOnlyRootFilesystem: false
"""


# --- annotations ---------------------------------------------------------------------------------------------------

def test_annotation_on_the_object_suppresses_the_named_rules_with_the_reason() -> None:
    report = scan(POD)
    why = Suppression("annotation", "node agent needs the host devices")
    assert outcome(report) == {
        (PRIV, line_of(POD, "privileged: true"), why),
        (RORF, line_of(POD, "readOnlyRootFilesystem: false"), why),
        (HOSTNS, line_of(POD, "hostPID"), None),
    }
    assert report.problems == []
    healthy = {v.rule_id: v.healthy for v in report.verdicts}
    assert (healthy[PRIV], healthy[RORF], healthy[HOSTNS]) == (True, True, False)
    assert all(f.suppressed for f in report.findings if f.rule.id in (PRIV, RORF))


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: agent
  annotations:
    kubeguard.io/ignore: block-host-namespace
    kubeguard.io/ignore-reason: reads host process table
spec:
  template:
    metadata:
      annotations:
        kubeguard.io/ignore: container-no-privilege
        kubeguard.io/ignore-reason: loads a kernel module
    spec:
      hostPID: true
      containers:
      - name: agent
        image: nginx
        securityContext:
          privileged: true
          readOnlyRootFilesystem: false
"""


def test_annotations_on_the_controller_and_its_pod_template_each_keep_their_reason() -> None:
    report = scan(DEPLOYMENT)
    assert outcome(report) == {
        (HOSTNS, line_of(DEPLOYMENT, "hostPID"), Suppression("annotation", "reads host process table")),
        (PRIV, line_of(DEPLOYMENT, "privileged: true"), Suppression("annotation", "loads a kernel module")),
        (RORF, line_of(DEPLOYMENT, "readOnlyRootFilesystem: false"), None),
    }
    assert report.problems == []


def test_annotation_on_the_pod_template_alone_suppresses() -> None:
    text = DEPLOYMENT.replace("  annotations:\n    kubeguard.io/ignore: block-host-namespace\n"
                              "    kubeguard.io/ignore-reason: reads host process table\n", "")
    assert outcome(scan(text)) == {
        (HOSTNS, line_of(text, "hostPID"), None),
        (PRIV, line_of(text, "privileged: true"), Suppression("annotation", "loads a kernel module")),
        (RORF, line_of(text, "readOnlyRootFilesystem: false"), None),
    }


def test_annotation_without_a_reason_does_not_suppress_and_is_reported_at_its_line() -> None:
    text = POD.replace("    kubeguard.io/ignore-reason: node agent needs the host devices\n", "")
    report = scan(text)
    assert outcome(report) == {
        (PRIV, line_of(text, "privileged: true"), None),
        (RORF, line_of(text, "readOnlyRootFilesystem: false"), None),
        (HOSTNS, line_of(text, "hostPID"), None),
    }
    assert problems(report) == [(line_of(text, "kubeguard.io/ignore:"), 5, "suppression")]
    assert "kubeguard.io/ignore-reason" in report.problems[0].cause


def test_blank_reason_on_the_pod_template_does_not_suppress_and_is_reported() -> None:
    text = DEPLOYMENT.replace("        kubeguard.io/ignore-reason: loads a kernel module\n",
                              "        kubeguard.io/ignore-reason: '  '\n")
    report = scan(text)
    assert (PRIV, line_of(text, "privileged: true"), None) in outcome(report)
    assert problems(report) == [(line_of(text, "kubeguard.io/ignore: container-no-privilege"), 9, "suppression")]


def test_annotation_naming_an_unknown_rule_is_reported() -> None:
    text = POD.replace("container-no-privilege, read-only-root-filesystem", "container-no-privilege, no-such-rule")
    report = scan(text)
    assert problems(report) == [(line_of(text, "kubeguard.io/ignore:"), 5, "suppression")]
    assert "no-such-rule" in report.problems[0].cause


def test_annotation_on_a_list_items_pod_template() -> None:
    item = textwrap.indent(DEPLOYMENT.replace("  annotations:\n    kubeguard.io/ignore: block-host-namespace\n"
                                              "    kubeguard.io/ignore-reason: reads host process table\n", ""), "  ")
    text = "apiVersion: v1\nkind: List\nitems:\n-" + item[1:]
    assert outcome(scan(text)) == {
        (HOSTNS, line_of(text, "hostPID"), None),
        (PRIV, line_of(text, "privileged: true"), Suppression("annotation", "loads a kernel module")),
        (RORF, line_of(text, "readOnlyRootFilesystem: false"), None),
    }
    no_reason = text.replace("          kubeguard.io/ignore-reason: loads a kernel module\n", "")
    report = scan(no_reason)
    assert (PRIV, line_of(no_reason, "privileged: true"), None) in outcome(report)
    assert problems(report) == [(line_of(no_reason, "kubeguard.io/ignore:"), 11, "suppression")]


# --- comments ------------------------------------------------------------------------------------------------------

def _pod_with(security_context: str) -> str:
    return textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: agent
        spec:
          containers:
          - name: agent
            image: nginx
            securityContext:
        """) + textwrap.indent(textwrap.dedent(security_context), "      ")


def test_trailing_comment_on_the_offending_line_suppresses() -> None:
    text = _pod_with("""\
        privileged: true  # kubeguard:ignore container-no-privilege -- needs /dev/kvm
        readOnlyRootFilesystem: false
        """)
    report = scan(text)
    assert outcome(report) == {
        (PRIV, line_of(text, "privileged: true"), Suppression("comment", "needs /dev/kvm")),
        (RORF, line_of(text, "readOnlyRootFilesystem"), None),
    }
    assert report.problems == []


def test_full_line_comment_above_the_offending_line_suppresses() -> None:
    text = _pod_with("""\
        # kubeguard:ignore container-no-privilege, read-only-root-filesystem -- vendor agent
        # (a second comment line between the suppression and its line is fine)
        privileged: true
        readOnlyRootFilesystem: false
        """)
    report = scan(text)
    assert outcome(report) == {
        (PRIV, line_of(text, "privileged: true"), Suppression("comment", "vendor agent")),
        # only the next code line is covered
        (RORF, line_of(text, "readOnlyRootFilesystem"), None),
    }
    assert report.problems == []


def test_comment_for_another_rule_does_not_suppress() -> None:
    text = _pod_with("privileged: true  # kubeguard:ignore read-only-root-filesystem -- wrong rule\n")
    assert (PRIV, line_of(text, "privileged: true"), None) in outcome(scan(text))


def test_comment_without_a_reason_does_not_suppress_and_is_reported() -> None:
    for comment in ("# kubeguard:ignore container-no-privilege", "# kubeguard:ignore container-no-privilege --",
                    "# kubeguard:ignore container-no-privilege --   "):
        text = _pod_with(f"privileged: true  {comment}\n")
        report = scan(text)
        line = line_of(text, "privileged: true")
        assert outcome(report) == {(PRIV, line, None), (RORF, line_of(text, "securityContext:"), None)}, comment
        assert problems(report) == [(line, text.splitlines()[line - 1].index("#") + 1, "suppression")], comment
        assert "reason" in report.problems[0].cause


def test_comment_naming_an_unknown_rule_is_reported_and_does_not_suppress() -> None:
    text = _pod_with("# kubeguard:ignore container-no-priviledge -- typo\nprivileged: true\n")
    report = scan(text)
    assert (PRIV, line_of(text, "privileged: true"), None) in outcome(report)
    assert problems(report) == [(line_of(text, "kubeguard:ignore"), 7, "suppression")]
    assert "container-no-priviledge" in report.problems[0].cause


def test_comment_suppression_works_in_a_crlf_file() -> None:
    text = _pod_with("# kubeguard:ignore container-no-privilege -- windows editor\nprivileged: true\n")
    report = rules.scan([("m.yaml", text.replace("\n", "\r\n").encode())], rules.default_config())
    assert (PRIV, line_of(text, "privileged: true"), Suppression("comment", "windows editor")) in outcome(report)
    assert report.problems == []


def test_comment_with_known_and_unknown_ids_applies_the_known_one() -> None:
    text = _pod_with("# kubeguard:ignore container-no-privilege,no-such-rule -- vendor image\nprivileged: true\n")
    report = scan(text)
    assert (PRIV, line_of(text, "privileged: true"), Suppression("comment", "vendor image")) in outcome(report)
    assert problems(report) == [(line_of(text, "kubeguard:ignore"), 7, "suppression")]
    assert "no-such-rule" in report.problems[0].cause


def test_full_line_comment_skips_blank_lines_to_the_code_line() -> None:
    text = _pod_with("# kubeguard:ignore container-no-privilege -- debug pod\n\nprivileged: true\n")
    report = scan(text)
    assert (PRIV, line_of(text, "privileged: true"), Suppression("comment", "debug pod")) in outcome(report)
