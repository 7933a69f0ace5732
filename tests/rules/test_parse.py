"""The manifest model, seen through ``rules.scan``: documents, kinds, parse problems, YAML quirks, finding fields.

Every input is real manifest text; expected lines are found by searching that text, so a test
states *which* line it means rather than a bare number.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hostile_inputs import billion_laughs

import rules
from rules import Control, Effect

PRIV = "container-no-privilege"
PRIVILEGED_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: app
    image: nginx
    securityContext:
      privileged: true
"""


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based number of the ``nth`` line that contains ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(hits) >= nth, f"{needle!r} occurs {len(hits)} times"
    return hits[nth - 1]


def column_of(text: str, line: int, needle: str) -> int:
    return text.splitlines()[line - 1].index(needle) + 1


def scan(*files: tuple[str, str | bytes], config: rules.Config | None = None) -> rules.Report:
    return rules.scan(list(files), config or rules.default_config())


def hits(report: rules.Report, rule_id: str = PRIV) -> list[tuple[str, int]]:
    return sorted((f.file, f.line) for f in report.findings if f.rule.id == rule_id)


def problems(report: rules.Report) -> list[tuple[str, int, str]]:
    return [(p.file, p.line, p.kind) for p in report.problems]


# --- documents and kinds -------------------------------------------------------------------------------------------

def test_every_document_of_a_multi_document_file_is_scanned() -> None:
    text = PRIVILEGED_POD + textwrap.dedent("""\
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {privileged: "true"}
        ---
        apiVersion: v1
        kind: ReplicationController
        metadata:
          name: legacy
        spec:
          template:
            spec:
              containers:
              - name: app
                image: nginx
                securityContext:
                  privileged: true
        """)
    report = scan(("multi.yaml", text))
    assert report.problems == []
    assert report.documents == 3
    assert hits(report) == [("multi.yaml", line_of(text, "privileged: true", 1)),
                            ("multi.yaml", line_of(text, "privileged: true", 2))]
    assert sorted((f.document, str(f.resource)) for f in report.findings if f.rule.id == PRIV) == [
        (0, "Pod default/web"), (2, "ReplicationController default/legacy")]


def test_list_items_are_evaluated_with_item_paths() -> None:
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Pod
          metadata: {name: one}
          spec:
            containers:
            - name: a
              image: nginx
              securityContext:
                privileged: true
        - apiVersion: apps/v1
          kind: Deployment
          metadata: {name: two}
          spec:
            template:
              spec:
                containers:
                - name: b
                  image: nginx
                  securityContext: {privileged: true}
        """)
    report = scan(("list.yaml", text))
    assert report.problems == []
    got = sorted((f.line, f.path_text, str(f.resource)) for f in report.findings if f.rule.id == PRIV)
    assert got == [
        (line_of(text, "privileged: true"), "items[0].spec.containers[0].securityContext.privileged",
         "Pod default/one"),
        (line_of(text, "{privileged: true}"), "items[1].spec.template.spec.containers[0].securityContext.privileged",
         "Deployment default/two"),
    ]


def test_typed_list_with_a_non_mapping_item_reports_the_item_and_scans_the_rest() -> None:
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: PodList
        items:
        - just a string
        - apiVersion: v1
          kind: Pod
          metadata: {name: p}
          spec:
            containers:
            - {name: c, image: nginx, securityContext: {privileged: true}}
        """)
    report = scan(("podlist.yaml", text))
    assert problems(report) == [("podlist.yaml", line_of(text, "- just a string"), "parse")]
    assert "List item 0 is not a mapping" in report.problems[0].cause
    assert [(f.line, f.path_text) for f in report.findings if f.rule.id == PRIV] == [
        (line_of(text, "privileged: true"), "items[1].spec.containers[0].securityContext.privileged")]


def test_documents_without_api_version_or_kind_are_ignored_silently() -> None:
    no_api = PRIVILEGED_POD.replace("apiVersion: v1\n", "")
    no_kind = PRIVILEGED_POD.replace("kind: Pod\n", "")
    text = no_api + "---\n" + no_kind + "---\n# only a comment\n---\n~\n---\nreplicas: 3\nimage: nginx\n"
    report = scan(("plain.yaml", text))
    assert report.findings == []
    assert report.problems == []
    assert report.verdicts == []


@pytest.mark.parametrize(("kind", "api", "prefix"), [
    ("Pod", "v1", "spec"),
    ("Deployment", "apps/v1", "spec.template.spec"),
    ("StatefulSet", "apps/v1", "spec.template.spec"),
    ("DaemonSet", "apps/v1", "spec.template.spec"),
    ("ReplicaSet", "apps/v1", "spec.template.spec"),
    ("ReplicationController", "v1", "spec.template.spec"),
    ("Job", "batch/v1", "spec.template.spec"),
    ("CronJob", "batch/v1", "spec.jobTemplate.spec.template.spec"),
])
def test_every_workload_kind_is_read_at_its_pod_spec(kind: str, api: str, prefix: str) -> None:
    body = textwrap.indent("containers:\n- name: app\n  image: nginx\n  securityContext:\n    privileged: true\n",
                           "  " * (prefix.count(".") + 1))
    nest = ""
    for depth, key in enumerate(prefix.split(".")):
        nest += "  " * depth + key + ":\n"
    text = f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: Web-App\n{nest}{body}"
    report = scan((f"{kind}.yaml", text))
    assert report.problems == []
    [finding] = [f for f in report.findings if f.rule.id == PRIV]
    assert finding.path_text == f"{prefix}.containers[0].securityContext.privileged"
    assert finding.line == line_of(text, "privileged: true")
    mock = "Web-App" if kind == "Pod" else "web-app-pod"
    [ro] = [f for f in report.findings if f.rule.id == "read-only-root-filesystem"]
    assert ro.message == f"Readonly root filesystem is required for container. pod:'{mock}', container:'app'"


def test_controller_messages_use_the_lower_cased_mock_pod_name() -> None:
    text = textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: Web-Frontend
          namespace: shop
        spec:
          template:
            metadata:
              labels: {app: web}
            spec:
              hostPID: true
              containers:
              - name: app
                image: nginx
        """)
    report = scan(("deploy.yaml", text))
    [finding] = [f for f in report.findings if f.rule.id == "block-host-namespace"]
    assert finding.message == "Sharing the host namespace is not allowed: web-frontend-pod"
    assert (finding.resource.kind, finding.resource.namespace, finding.resource.name) == (
        "Deployment", "shop", "Web-Frontend")
    assert (finding.line, finding.path_text) == (line_of(text, "hostPID"), "spec.template.spec.hostPID")


def test_cronjob_pod_spec_sits_under_the_job_template() -> None:
    text = textwrap.dedent("""\
        apiVersion: batch/v1
        kind: CronJob
        metadata:
          name: Nightly
        spec:
          schedule: "0 3 * * *"
          template:
            spec:
              containers:
              - name: decoy
                image: nginx
                securityContext: {privileged: true}
          jobTemplate:
            spec:
              template:
                spec:
                  containers:
                  - name: backup
                    image: nginx
                    securityContext:
                      privileged: true
                      readOnlyRootFilesystem: false
        """)
    report = scan(("cron.yaml", text))
    got = [(f.line, f.path_text, f.container) for f in report.findings if f.rule.id == PRIV]
    assert got == [(line_of(text, "privileged: true", 2),
                    "spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged", "backup")]
    [ro] = [f for f in report.findings if f.rule.id == "read-only-root-filesystem"]
    assert ro.message == "Readonly root filesystem is required for container. pod:'nightly-pod', container:'backup'"
    assert ro.line == line_of(text, "readOnlyRootFilesystem: false")


# --- finding fields ------------------------------------------------------------------------------------------------

def test_finding_carries_rule_resource_position_and_message() -> None:
    text = textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: api
        spec:
          template:
            spec:
              containers:
              - name: sidecar
                image: busybox
              - name: app
                image: nginx
                securityContext:
                  privileged: true
        """)
    report = scan(("deploy.yaml", text))
    [f] = [f for f in report.findings if f.rule.id == PRIV]
    line = line_of(text, "privileged: true")
    assert f.rule.id == "container-no-privilege"
    assert f.rule.title == "Privileged containers should be avoided"
    assert f.rule.control is Control.MANAGE_ACCESS
    assert f.rule.azure_policy == "95edb821-ddaf-4404-9732-666045e056b4"
    assert f.rule.severity is rules.get_rule(PRIV).severity and isinstance(f.rule.severity, rules.Severity)
    assert f.effect is Effect.AUDIT  # the Defender initiative's effect when unconfigured
    assert (f.file, f.line, f.column) == ("deploy.yaml", line, column_of(text, line, "privileged"))
    assert f.path == ("spec", "template", "spec", "containers", 1, "securityContext", "privileged")
    assert f.path_text == "spec.template.spec.containers[1].securityContext.privileged"
    assert f.resource == rules.Resource("Deployment", "default", "api")
    assert f.container == "app"
    assert f.message == 'Privileged container is not allowed: app, securityContext: {"privileged": true}'
    assert f.document == 0
    assert f.suppression is None and not f.suppressed


def test_missing_field_finding_sits_on_the_node_it_belongs_under() -> None:
    report = scan(("pod.yaml", PRIVILEGED_POD.replace("    securityContext:\n      privileged: true\n", "")))
    text = PRIVILEGED_POD.replace("    securityContext:\n      privileged: true\n", "")
    [f] = [f for f in report.findings if f.rule.id == "read-only-root-filesystem"]
    line = line_of(text, "- name: app")
    assert (f.line, f.column) == (line, column_of(text, line, "name: app"))
    assert f.path_text == "spec.containers[0].securityContext.readOnlyRootFilesystem"


def test_namespace_defaults_to_the_configured_default_namespace() -> None:
    assert [f.resource.namespace for f in scan(("p.yaml", PRIVILEGED_POD)).findings if f.rule.id == PRIV] == [
        "default"]
    config = rules.load_config("defaultNamespace: team-a\n", "cfg")
    assert [f.resource.namespace for f in scan(("p.yaml", PRIVILEGED_POD), config=config).findings
            if f.rule.id == PRIV] == ["team-a"]
    explicit = PRIVILEGED_POD.replace("  name: web\n", "  name: web\n  namespace: shop\n")
    assert [f.resource.namespace for f in scan(("p.yaml", explicit), config=config).findings
            if f.rule.id == PRIV] == ["shop"]


def test_configured_effect_is_carried_by_the_finding() -> None:
    config = rules.load_config("rules:\n  container-no-privilege:\n    effect: deny\n", "cfg")
    assert [f.effect for f in scan(("p.yaml", PRIVILEGED_POD), config=config).findings if f.rule.id == PRIV] == [
        Effect.DENY]


# --- templates, parse problems -------------------------------------------------------------------------------------

def test_helm_template_is_reported_as_skipped_and_not_parsed() -> None:
    text = PRIVILEGED_POD.replace("  name: web\n", "  name: web\n  labels:\n    app: {{ .Values.app }}\n") + \
        "{{- if .Values.extra }}\n: : not yaml\n{{- end }}\n"
    report = scan(("chart/templates/pod.yaml", text))
    assert report.findings == []
    assert problems(report) == [("chart/templates/pod.yaml", line_of(text, "{{"), "skipped")]
    assert "{{" in report.problems[0].cause


def test_invalid_yaml_reports_line_and_cause_and_keeps_earlier_documents_and_other_files() -> None:
    broken = PRIVILEGED_POD + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: broken\n  labels: app: web\n"
    report = scan(("broken.yaml", broken), ("other.yaml", PRIVILEGED_POD))
    assert problems(report) == [("broken.yaml", line_of(broken, "labels: app: web"), "parse")]
    assert "mapping values are not allowed" in report.problems[0].cause
    assert report.problems[0].column == column_of(broken, line_of(broken, "labels: app: web"), ": web")
    assert hits(report) == [("broken.yaml", line_of(broken, "privileged: true")),
                            ("other.yaml", line_of(PRIVILEGED_POD, "privileged: true"))]


def test_duplicate_key_names_the_key_and_its_line_and_skips_only_that_document() -> None:
    dup = PRIVILEGED_POD.replace("      privileged: true\n", "      privileged: true\n      privileged: false\n")
    text = dup + "---\n" + PRIVILEGED_POD
    report = scan(("dup.yaml", text), ("other.yaml", PRIVILEGED_POD))
    assert problems(report) == [("dup.yaml", line_of(text, "privileged: false"), "parse")]
    assert "duplicate key 'privileged'" in report.problems[0].cause
    assert hits(report) == [("dup.yaml", line_of(text, "privileged: true", 2)),
                            ("other.yaml", line_of(PRIVILEGED_POD, "privileged: true"))]


def test_non_mapping_documents_are_problems() -> None:
    text = "- a\n- b\n---\njust a scalar\n---\n" + PRIVILEGED_POD
    report = scan(("odd.yaml", text))
    assert problems(report) == [("odd.yaml", 1, "parse"), ("odd.yaml", 4, "parse")]
    assert "not a mapping" in report.problems[0].cause and "list" in report.problems[0].cause
    assert "not a mapping" in report.problems[1].cause and "str" in report.problems[1].cause
    assert hits(report) == [("odd.yaml", line_of(text, "privileged: true"))]


def test_non_utf8_bytes_name_the_line_and_byte_and_other_files_are_scanned() -> None:
    data = PRIVILEGED_POD.replace("name: web", "name: caf\xe9").encode("latin-1")
    report = scan(("latin1.yaml", data), ("other.yaml", PRIVILEGED_POD.encode()))
    assert problems(report) == [("latin1.yaml", line_of(PRIVILEGED_POD, "name: web"), "parse")]
    assert "0xe9" in report.problems[0].cause
    assert report.problems[0].column == len("  name: caf") + 1
    assert hits(report) == [("other.yaml", line_of(PRIVILEGED_POD, "privileged: true"))]


def test_non_utf8_column_counts_characters_not_bytes() -> None:
    data = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ñandú-".encode() + b"\xff\n"
    [problem] = scan(("p.yaml", data)).problems
    assert (problem.line, problem.column) == (4, len("  name: ñandú-") + 1)
    assert "0xff" in problem.cause


def _positions(report: rules.Report) -> list[tuple[str, int, int, str, str]]:
    return sorted((f.rule.id, f.line, f.column, f.path_text, f.message) for f in report.findings)


def test_byte_order_mark_is_accepted_as_bytes_and_as_text() -> None:
    plain = _positions(scan(("p.yaml", PRIVILEGED_POD)))
    assert plain
    for content in ("\ufeff".encode() + PRIVILEGED_POD.encode(), "\ufeff" + PRIVILEGED_POD):
        report = scan(("p.yaml", content))
        assert report.problems == []
        assert _positions(report) == plain


def test_crlf_files_give_the_same_lines_and_columns() -> None:
    plain = _positions(scan(("p.yaml", PRIVILEGED_POD)))
    crlf = PRIVILEGED_POD.replace("\n", "\r\n")
    for content in (crlf, crlf.encode()):
        report = scan(("p.yaml", content))
        assert report.problems == []
        assert _positions(report) == plain


def test_helm_line_is_right_in_a_crlf_file() -> None:
    text = (PRIVILEGED_POD + "  nodeName: {{ .Values.node }}\n").replace("\n", "\r\n")
    assert problems(scan(("c.yaml", text))) == [("c.yaml", line_of(text, "{{"), "skipped")]


# --- hostile input -------------------------------------------------------------------------------------------------

BILLION_LAUGHS = billion_laughs()


def test_alias_bomb_is_a_bounded_time_problem() -> None:
    start = time.monotonic()
    report = scan(("bomb.yaml", BILLION_LAUGHS), ("other.yaml", PRIVILEGED_POD))
    assert time.monotonic() - start < 10
    [problem] = report.problems
    assert (problem.file, problem.kind) == ("bomb.yaml", "parse")
    assert "too many nodes" in problem.cause
    assert line_of(BILLION_LAUGHS, "b: &b") <= problem.line <= line_of(BILLION_LAUGHS, "containers: [*i]")
    assert hits(report) == [("other.yaml", line_of(PRIVILEGED_POD, "privileged: true"))]


@pytest.mark.parametrize("cycle", [
    "    securityContext: &sc\n      privileged: true\n      again: *sc\n",
    "    securityContext: &sc\n      privileged: true\n      list: [1, *sc, *sc]\n",
    "    securityContext: &sc\n      <<: *sc\n      privileged: true\n",
    "    securityContext: &sc\n      *sc : key\n      privileged: true\n",
    "    args: &sc [a, *sc, *sc]\n    securityContext:\n      privileged: true\n",
])
def test_recursive_alias_is_a_problem_not_cyclic_data(cycle: str) -> None:
    text = PRIVILEGED_POD.replace("    securityContext:\n      privileged: true\n", cycle)
    report = scan(("cycle.yaml", text), ("other.yaml", PRIVILEGED_POD))
    # reported at the anchor whose value refers to itself
    assert problems(report) == [("cycle.yaml", line_of(text, "&sc"), "parse")]
    assert "contains itself" in report.problems[0].cause
    assert hits(report) == [("other.yaml", line_of(PRIVILEGED_POD, "privileged: true"))]


_DEEP = """
import rules
flow = "apiVersion: v1\\nkind: Pod\\nmetadata: {name: deep}\\nspec: " + "[" * 100000 + "]" * 100000 + "\\n"
block = "apiVersion: v1\\nkind: Pod\\nmetadata: {name: deep}\\nspec:\\n  x:\\n    " + "- " * 100000 + "end\\n"
ok = ("apiVersion: v1\\nkind: Pod\\nmetadata: {name: ok}\\nspec:\\n  containers:\\n"
      "  - {name: c, image: i, securityContext: {privileged: true}}\\n")
report = rules.scan([("flow.yaml", flow), ("block.yaml", block), ("ok.yaml", ok)])
for p in report.problems:
    print("P", p.file, p.line, p.kind, p.cause)
for f in report.findings:
    if f.rule.id == "container-no-privilege":
        print("F", f.file, f.line)
"""


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    # In a child process: libyaml's composer recurses in C, so a failure here is a crash, not an exception.
    done = subprocess.run([sys.executable, "-c", _DEEP], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert [ln.split(" ", 4)[:4] for ln in lines] == [
        ["P", "flow.yaml", "4", "parse"], ["P", "block.yaml", "6", "parse"], ["F", "ok.yaml", "6"]]
    # our own bound, or libyaml's (PyYAML >= 6.0.4 builds refuse deep flow nesting themselves)
    assert all("nested deeper than" in ln or "maximum nesting depth" in ln for ln in lines if ln.startswith("P"))


def test_custom_tags_execute_nothing_and_raise_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = textwrap.dedent(f"""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: !!python/object/apply:os.system ["touch {marker}"]
          labels: !foo {{app: web}}
          annotations:
            run: !!python/name:os.system
        spec:
          containers:
          - name: !custom app
            image: !!python/object:os.system nginx
            securityContext:
              privileged: !!bool true
        """)
    report = scan(("tags.yaml", text))
    assert not marker.exists()
    assert report.problems == []
    assert [(f.line, f.container) for f in report.findings if f.rule.id == PRIV] == [
        (line_of(text, "privileged:"), "app")]
    [image] = [f for f in report.findings if f.rule.id == "container-allowed-images"]
    assert image.message == "Container image nginx for container app has not been allowed."


# --- YAML 1.1 as Kubernetes reads it -------------------------------------------------------------------------------

def test_yaml_11_booleans_count_as_booleans() -> None:
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - {name: a, image: nginx, securityContext: {privileged: yes}}
          - {name: b, image: nginx, securityContext: {privileged: On}}
          - {name: c, image: nginx, securityContext: {privileged: "yes"}}
          - {name: d, image: nginx, securityContext: {privileged: no}}
          - {name: e, image: nginx, securityContext: {privileged: off}}
        """)
    got = sorted((f.line, f.message) for f in scan(("p.yaml", text)).findings if f.rule.id == PRIV)
    assert got == [
        (line_of(text, "name: a"), 'Privileged container is not allowed: a, securityContext: {"privileged": true}'),
        (line_of(text, "name: b"), 'Privileged container is not allowed: b, securityContext: {"privileged": true}'),
        # a quoted "yes" is a string: still a defined, non-false value for Rego
        (line_of(text, "name: c"), 'Privileged container is not allowed: c, securityContext: {"privileged": "yes"}'),
    ]


def test_exponent_without_a_dot_is_a_number() -> None:
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - name: number
            image: nginx
            resources:
              limits:
                cpu: 1e3
                memory: 1Gi
          - name: text
            image: nginx
            resources:
              limits:
                cpu: "1e3"
                memory: 1Gi
        """)
    got = sorted((f.line, f.message) for f in scan(("p.yaml", text)).findings
                 if f.rule.id == "container-resource-limits")
    assert got == [
        (line_of(text, "cpu: 1e3"), "container <number> cpu limit <1000> is higher than the maximum allowed of <32>"),
        (line_of(text, 'cpu: "1e3"'), "container <text> cpu limit <1e3> could not be parsed"),
    ]


def test_merge_keys_are_honoured_and_explicit_keys_win() -> None:
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - name: base
            image: nginx
            securityContext: &sc
              privileged: true
              readOnlyRootFilesystem: true
          - name: merged
            image: nginx
            securityContext:
              <<: *sc
              runAsNonRoot: true
          - name: overridden
            image: nginx
            securityContext:
              <<: *sc
              privileged: false
        """)
    report = scan(("merge.yaml", text))
    assert report.problems == []
    got = sorted((f.line, f.container, f.message) for f in report.findings if f.rule.id == PRIV)
    assert got == [
        (line_of(text, "privileged: true"), "base",
         'Privileged container is not allowed: base, securityContext: {"privileged": true, '
         '"readOnlyRootFilesystem": true}'),
        (line_of(text, "securityContext:", 2), "merged",
         'Privileged container is not allowed: merged, securityContext: {"privileged": true, '
         '"readOnlyRootFilesystem": true, "runAsNonRoot": true}'),
    ]
