"""Semantics shared by every rule: Gatekeeper's match (namespace globs, namespaces, label selectors on the
mock Pod's labels), the Windows skip, Rego's violation set, and which API groups are evaluated."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import rules

PRIV = "container-no-privilege"


def line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(hits) >= nth, f"{needle!r} occurs {len(hits)} times"
    return hits[nth - 1]


def pod(namespace: str | None) -> str:
    ns = f"  namespace: {namespace}\n" if namespace is not None else ""
    return ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n" + ns +
            "spec:\n  containers:\n  - name: app\n    image: nginx\n    securityContext:\n      privileged: true\n")


def privileged_hits(config_text: str, text: str) -> list[tuple[int, str | None]]:
    report = rules.scan([("m.yaml", text)], rules.load_config(config_text, "cfg.yaml"))
    return [(f.line, f.resource.namespace) for f in report.findings if f.rule.id == PRIV]


# --- namespaces ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("namespace", "in_scope"), [
    ("team-a", False), ("team-", False), ("team-a-canary", False),  # `team-*` is a prefix glob
    ("teamb", True), ("my-team-a", True), ("team", True), ("prod", True),
])
def test_excluded_namespace_star_is_a_prefix_glob(namespace: str, in_scope: bool) -> None:
    text = pod(namespace)
    expected = [(line_of(text, "privileged: true"), namespace)] if in_scope else []
    assert privileged_hits("excludedNamespaces: [team-*, other]\n", text) == expected


@pytest.mark.parametrize(("namespace", "in_scope"), [
    ("prod-eu", True), ("prod-", True), ("qa", True),
    ("prod", False), ("qa2", False), ("staging", False), (None, False),  # None: the default namespace "default"
])
def test_namespaces_is_an_inclusion_list_with_prefix_globs(namespace: str | None, in_scope: bool) -> None:
    text = pod(namespace)
    expected = [(line_of(text, "privileged: true"), namespace or "default")] if in_scope else []
    assert privileged_hits("namespaces: [prod-*, qa]\n", text) == expected
    assert privileged_hits("rules:\n  container-no-privilege:\n    namespaces: [prod-*, qa]\n", text) == expected


def test_namespaces_and_excluded_namespaces_combine() -> None:
    config = "namespaces: [prod-*]\nexcludedNamespaces: [prod-legacy*]\n"
    assert privileged_hits(config, pod("prod-eu")) == [(line_of(pod("prod-eu"), "privileged: true"), "prod-eu")]
    assert privileged_hits(config, pod("prod-legacy-1")) == []


def test_object_without_namespace_is_matched_in_the_default_namespace() -> None:
    text = pod(None)
    assert privileged_hits("defaultNamespace: prod-eu\nnamespaces: [prod-*]\n", text) == [
        (line_of(text, "privileged: true"), "prod-eu")]
    assert privileged_hits("defaultNamespace: team-a\nexcludedNamespaces: [team-*]\n", text) == []


# --- label selectors on the mock Pod's labels ----------------------------------------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {tier: frontend, team: a}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, env: prod, port: "8080", canary: "true"}
    spec:
      containers:
      - name: app
        image: nginx
        securityContext: {privileged: true}
"""

SELECTORS = [
    # (selector, selected) — the template's labels count, the Deployment's own labels do not
    ("{matchLabels: {app: web}}", True),
    ("{matchLabels: {app: web, env: prod}}", True),
    ("{matchLabels: {app: api}}", False),
    ("{matchLabels: {tier: frontend}}", False),
    ("{matchLabels: {port: '8080', canary: 'true'}}", True),
    ("{matchExpressions: [{key: env, operator: In, values: [prod, qa]}]}", True),
    ("{matchExpressions: [{key: env, operator: In, values: [qa]}]}", False),
    ("{matchExpressions: [{key: team, operator: In, values: [a]}]}", False),
    ("{matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}", False),
    ("{matchExpressions: [{key: env, operator: NotIn, values: [qa]}]}", True),
    ("{matchExpressions: [{key: zone, operator: NotIn, values: [eu]}]}", True),  # absent key: NotIn holds
    ("{matchExpressions: [{key: app, operator: Exists}]}", True),
    ("{matchExpressions: [{key: tier, operator: Exists}]}", False),
    ("{matchExpressions: [{key: tier, operator: DoesNotExist}]}", True),
    ("{matchExpressions: [{key: env, operator: DoesNotExist}]}", False),
    ("{matchLabels: {app: web}, matchExpressions: [{key: env, operator: In, values: [qa]}]}", False),  # ANDed
    ("{matchExpressions: [{key: app, operator: Exists}, {key: env, operator: NotIn, values: [dev]}]}", True),
    ("{}", True),
]


@pytest.mark.parametrize(("selector", "selected"), SELECTORS, ids=[s for s, _ in SELECTORS])
def test_label_selector_matches_the_pod_template_labels(selector: str, selected: bool) -> None:
    expected = [(line_of(DEPLOYMENT, "privileged: true"), "default")] if selected else []
    assert privileged_hits(f"labelSelector: {selector}\n", DEPLOYMENT) == expected
    assert privileged_hits(f"rules:\n  container-no-privilege:\n    labelSelector: {selector}\n",
                           DEPLOYMENT) == expected


def test_label_selector_matches_a_pods_and_a_services_own_labels() -> None:
    text = pod("shop").replace("  name: web\n", "  name: web\n  labels: {app: web}\n") + textwrap.dedent("""\
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          labels: {app: web}
        spec:
          ports:
          - port: 6001
        """)
    config = rules.load_config("labelSelector: {matchLabels: {app: web}}\n", "cfg.yaml")
    got = {(f.rule.id, f.line) for f in rules.scan([("m.yaml", text)], config).findings}
    assert {(PRIV, line_of(text, "privileged: true")), ("service-allowed-ports", line_of(text, "- port: 6001"))} <= got
    other = rules.load_config("labelSelector: {matchLabels: {app: api}}\n", "cfg.yaml")
    assert rules.scan([("m.yaml", text)], other).findings == []


# --- the Windows skip ----------------------------------------------------------------------------------------------

WINDOWS_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: win
  annotations:
    container.apparmor.security.beta.kubernetes.io/app: unconfined
spec:
  nodeSelector:
    kubernetes.io/os: windows
  hostPID: true
  containers:
  - name: app
    image: nginx
    ports:
    - containerPort: 9001
      hostPort: 9001
    securityContext:
      privileged: true
      readOnlyRootFilesystem: false
      allowPrivilegeEscalation: true
      runAsUser: 0
      capabilities:
        add: [NET_ADMIN]
    volumeMounts:
    - {name: host, mountPath: /host}
  volumes:
  - name: host
    hostPath:
      path: /var
"""
BASE = (Path(__file__).parent / "base-config.yaml").read_text()
ALL_POD_RULES = set(rules.rule_ids()) - {"service-allowed-ports"}
NO_WINDOWS_SKIP = {"container-resource-limits", "container-allowed-ports", "container-allowed-images"}


def _rules_hit(text: str, profile: str) -> set[str]:
    config = rules.load_config(BASE.replace("profile: azure-current", f"profile: {profile}"), "base-config.yaml")
    report = rules.scan([("win.yaml", text)], config)
    assert report.problems == []
    return {f.rule.id for f in report.findings}


def test_windows_pods_are_skipped_by_the_rules_that_skip_them() -> None:
    assert _rules_hit(WINDOWS_POD, "azure-current") == NO_WINDOWS_SKIP


def test_linux_or_unset_node_selector_is_evaluated() -> None:
    assert _rules_hit(WINDOWS_POD.replace("os: windows", "os: linux"), "azure-current") == ALL_POD_RULES
    no_selector = WINDOWS_POD.replace("  nodeSelector:\n    kubernetes.io/os: windows\n", "")
    assert _rules_hit(no_selector, "azure-current") == ALL_POD_RULES


def test_only_the_node_selector_counts_for_the_windows_skip() -> None:
    node_selector = "  nodeSelector:\n    kubernetes.io/os: windows\n"
    affinity = WINDOWS_POD.replace(node_selector, textwrap.indent(textwrap.dedent("""\
        affinity:
          nodeAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
              nodeSelectorTerms:
              - matchExpressions:
                - {key: kubernetes.io/os, operator: In, values: [windows]}
        tolerations:
        - {key: os, value: windows, effect: NoSchedule}
        """), "  "))
    assert _rules_hit(affinity, "azure-current") == ALL_POD_RULES


def test_windows_skip_reads_the_pod_template_of_a_controller() -> None:
    deployment = textwrap.dedent("""\
        apiVersion: apps/v1
        kind: DaemonSet
        metadata:
          name: win
        spec:
          template:
            spec:
              nodeSelector: {kubernetes.io/os: windows}
              containers:
              - name: app
                image: nginx
                securityContext: {privileged: true}
        """)
    assert privileged_hits("", deployment) == []


def test_legacy_profile_has_no_windows_skip() -> None:
    assert _rules_hit(WINDOWS_POD, "azure-2021") == ALL_POD_RULES


# --- Rego's violation set ------------------------------------------------------------------------------------------

def test_identical_messages_collapse_into_one_finding_with_related_places() -> None:
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
        spec:
          initContainers:
          - name: app
            image: nginx
            securityContext:
              privileged: true
          containers:
          - name: app
            image: nginx
            securityContext:
              privileged: true
          - name: other
            image: nginx
            securityContext:
              privileged: true
        """)
    report = rules.scan([("m.yaml", text)], rules.default_config())
    found = sorted(((f.container, f.message, sorted([f.line, *(line for _, line in f.related)]))
                    for f in report.findings if f.rule.id == PRIV), key=lambda t: str(t[0]))
    assert found == [
        ("app", 'Privileged container is not allowed: app, securityContext: {"privileged": true}',
         [line_of(text, "privileged: true", 1), line_of(text, "privileged: true", 2)]),
        ("other", 'Privileged container is not allowed: other, securityContext: {"privileged": true}',
         [line_of(text, "privileged: true", 3)]),
    ]
    [app] = [f for f in report.findings if f.rule.id == PRIV and f.container == "app"]
    places = {f_path for f_path, _ in app.related} | {app.path}
    assert places == {("spec", "initContainers", 0, "securityContext", "privileged"),
                      ("spec", "containers", 0, "securityContext", "privileged")}
    [verdict] = [v for v in report.verdicts if v.rule_id == PRIV]
    assert not verdict.healthy


def test_one_pod_level_message_for_every_host_namespace() -> None:
    text = pod("shop").replace("spec:\n", "spec:\n  hostPID: true\n  hostIPC: true\n")
    report = rules.scan([("m.yaml", text)], rules.default_config())
    [finding] = [f for f in report.findings if f.rule.id == "block-host-namespace"]
    assert sorted([finding.line, *(line for _, line in finding.related)]) == [line_of(text, "hostPID"),
                                                                            line_of(text, "hostIPC")]


# --- which API groups are evaluated --------------------------------------------------------------------------------

def test_kinds_reusing_core_names_in_other_api_groups_are_not_evaluated() -> None:
    text = textwrap.dedent("""\
        apiVersion: serving.knative.dev/v1
        kind: Service
        metadata:
          name: knative-web
        spec:
          ports:
          - port: 6001
          template:
            spec:
              containers:
              - image: nginx
                securityContext: {privileged: true}
        ---
        apiVersion: example.com/v1
        kind: Deployment
        metadata:
          name: custom
        spec:
          template:
            spec:
              containers:
              - name: app
                image: nginx
                securityContext: {privileged: true}
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: core-web
        spec:
          ports:
          - port: 6002
        ---
        apiVersion: extensions/v1beta1
        kind: Deployment
        metadata:
          name: old
        spec:
          template:
            spec:
              containers:
              - name: app
                image: nginx
                securityContext:
                  privileged: true
        """)
    report = rules.scan([("m.yaml", text)], rules.default_config())
    assert report.problems == []
    evaluated = {str(v.resource) for v in report.verdicts}
    assert evaluated == {"Service default/core-web", "Deployment default/old"}
    assert {(f.rule.id, f.line) for f in report.findings if f.rule.id in (PRIV, "service-allowed-ports")} == {
        ("service-allowed-ports", line_of(text, "- port: 6002")),
        (PRIV, line_of(text, "      privileged: true")),
    }
