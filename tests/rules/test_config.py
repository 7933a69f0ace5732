"""``rules.load_config``: the reference configuration, errors that name the key and its line, effects,
namespace matching from configuration, and the Defender presets of unconfigured rules."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import rules
from rules import Effect, Profile

HERE = Path(__file__).parent
BASE = (HERE / "base-config.yaml").read_text()
HEALTHY = (HERE.parent / "reference" / "healthy.yaml").read_text()
PRIV = "container-no-privilege"


def line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(hits) >= nth, f"{needle!r} occurs {len(hits)} times"
    return hits[nth - 1]


def pod(namespace: str | None = None) -> str:
    ns = f"  namespace: {namespace}\n" if namespace else ""
    return textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
        {ns}spec:
          hostPID: true
          containers:
          - name: app
            image: nginx
            securityContext:
              privileged: true
        """).replace("{ns}", ns)


def found(config_text: str, *files: tuple[str, str]) -> set[tuple[str, str | None]]:
    """(rule id, namespace) of every finding."""
    report = rules.scan(list(files), rules.load_config(config_text, "cfg.yaml"))
    return {(f.rule.id, f.resource.namespace) for f in report.findings}


# --- the reference configuration -----------------------------------------------------------------------------------

def test_reference_config_loads_as_is() -> None:
    config = rules.load_config(BASE, "base-config.yaml")
    assert config.profile is Profile.CURRENT
    assert config.default_namespace == "default"
    assert config.source == "base-config.yaml"
    assert config.unconfigured() == {}
    images = config.rule("container-allowed-images")
    assert images.effect is Effect.AUDIT
    assert images.params["allowedContainerImagesRegex"] == r"^healthyClusterRegistry\.azurecr\.io/.+$"
    assert images.configured == frozenset({"allowedContainerImagesRegex"})
    assert config.rule("allowed-users-groups").params["runAsGroupRanges"] == {"ranges": [{"min": 1, "max": 65535}]}
    assert config.rule("host-network-ports").params["allowHostNetwork"] is False


def test_empty_configuration_is_the_default() -> None:
    for text in ("", "# nothing\n", "---\n"):
        config = rules.load_config(text, "cfg.yaml")
        assert config.profile is Profile.CURRENT
        assert config.rules == rules.default_config().rules


# --- errors name the key and its line ------------------------------------------------------------------------------

ERRORS = [
    # (case, configuration, text of the offending key's line, word the message must contain)
    ("unknown top-level key", "profile: azure-current\nexludedNamespaces: [dev]\n", "exludedNamespaces",
     "exludedNamespaces"),
    ("unknown rule id", "rules:\n  container-no-privilege: {}\n  container-no-priviledge:\n    effect: Deny\n",
     "container-no-priviledge", "container-no-priviledge"),
    ("unknown parameter", "rules:\n  container-no-privilege:\n    effect: Audit\n    cpuLimit: '1'\n",
     "cpuLimit", "cpuLimit"),
    ("string for a list", "rules:\n  container-no-privilege:\n    excludedContainers: istio-proxy\n",
     "excludedContainers", "excludedContainers"),
    ("global string for a list", "profile: azure-2021\nexcludedNamespaces: kube-system\n", "excludedNamespaces",
     "excludedNamespaces"),
    ("ranges without max", "rules:\n  allowed-users-groups:\n    runAsUserRule: MustRunAs\n"
     "    runAsUserRanges: {ranges: [{min: 1}]}\n", "runAsUserRanges", "runAsUserRanges"),
    ("ranges not wrapped", "rules:\n  allowed-users-groups:\n    fsGroupRanges:\n      - {min: 1, max: 2}\n",
     "fsGroupRanges", "fsGroupRanges"),
    ("ranges with a string bound", "rules:\n  allowed-users-groups:\n"
     "    runAsGroupRanges: {ranges: [{min: '1', max: 2}]}\n", "runAsGroupRanges", "runAsGroupRanges"),
    ("RE2 has no lookahead", "rules:\n  container-allowed-images:\n    allowedContainerImagesRegex: '(?=x)'\n",
     "allowedContainerImagesRegex", "allowedContainerImagesRegex"),
    ("RE2 has no backreference", "rules:\n  container-allowed-images:\n"
     "    allowedContainerImagesRegex: '^(a)\\1$'\n", "allowedContainerImagesRegex", "allowedContainerImagesRegex"),
    ("regex must be a string", "rules:\n  container-allowed-images:\n    allowedContainerImagesRegex: [a]\n",
     "allowedContainerImagesRegex", "allowedContainerImagesRegex"),
    ("bad effect", "rules:\n  container-allowed-images:\n    effect: Warn\n", "effect: Warn", "effect"),
    ("bad profile", "profile: azure-2019\n", "profile", "profile"),
    ("boolean as a string", "rules:\n  host-network-ports:\n    allowHostNetwork: 'false'\n",
     "allowHostNetwork", "allowHostNetwork"),
    ("integer as a string", "rules:\n  host-network-ports:\n    minPort: '0'\n", "minPort", "minPort"),
    ("selector operator", "labelSelector:\n  matchExpressions:\n  - {key: app, operator: Has}\n",
     "labelSelector", "labelSelector"),
    ("defaultNamespace not a string", "defaultNamespace: 42\n", "defaultNamespace", "defaultNamespace"),
    ("rule entry not a mapping", "rules:\n  container-no-privilege: [Deny]\n", "container-no-privilege",
     "container-no-privilege"),
    ("duplicate top-level key", "profile: azure-current\nrules: {}\nprofile: azure-2021\n", "azure-2021",
     "profile"),
    ("duplicate rule", "rules:\n  container-no-privilege:\n    effect: Deny\n  container-no-privilege:\n"
     "    effect: Disabled\n", "container-no-privilege", "container-no-privilege"),
    ("duplicate parameter", "rules:\n  container-no-privilege:\n    effect: Deny\n    effect: Disabled\n",
     "effect: Disabled", "effect"),
    ("unknown filter mode", "profile: azure-current\nfilter: changed\n", "filter", "filter"),
    ("review cap not a count", "review:\n  failOn: deny\n  maxComments: 0\n", "maxComments", "maxComments"),
    ("review failOn", "review:\n  failOn: warn\n", "failOn", "failOn"),
    ("review unknown key", "review:\n  maxComment: 5\n", "maxComment", "maxComment"),
]


def test_review_settings_are_kept_for_the_bot() -> None:
    config = rules.load_config("filter: added\nreview:\n  maxComments: 10\n  failOn: audit\n  drafts: true\n")
    assert config.extensions["filter"] == "added"
    assert config.extensions["review"] == {"maxComments": 10, "failOn": "audit", "drafts": True}


@pytest.mark.parametrize(("text", "key_line", "key"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_error_names_the_key_and_its_line(text: str, key_line: str, key: str) -> None:
    with pytest.raises(rules.ConfigError) as caught:
        rules.load_config(text, "team/.kubeguard.yaml")
    error = caught.value
    # the last line holding the text: for duplicates that is the repeated key
    expected = max(i + 1 for i, line in enumerate(text.splitlines()) if key_line in line)
    assert error.line == expected
    assert key in error.message
    assert error.source == "team/.kubeguard.yaml"
    assert str(error).startswith(f"team/.kubeguard.yaml:{expected}: ")


def test_invalid_yaml_in_configuration_is_an_error_with_its_line() -> None:
    text = "profile: azure-current\nrules:\n  container-no-privilege: {effect: Deny\n"
    with pytest.raises(rules.ConfigError) as caught:
        rules.load_config(text, "cfg.yaml")
    assert "invalid YAML" in caught.value.message
    assert caught.value.line >= line_of(text, "{effect: Deny")


def test_configuration_is_one_document() -> None:
    text = "profile: azure-current\n---\nprofile: azure-2021\n"
    with pytest.raises(rules.ConfigError) as caught:
        rules.load_config(text, "cfg.yaml")
    assert caught.value.line == line_of(text, "azure-2021")


# --- effects -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "effect"), [
    ("deny", Effect.DENY), ("DENY", Effect.DENY), ("Deny", Effect.DENY),
    ("audit", Effect.AUDIT), ("AUDIT", Effect.AUDIT), ("disabled", Effect.DISABLED), ("Disabled", Effect.DISABLED),
])
def test_effect_is_case_insensitive(written: str, effect: Effect) -> None:
    config = rules.load_config(f"rules:\n  container-no-privilege:\n    effect: {written}\n", "cfg.yaml")
    assert config.rule(PRIV).effect is effect
    report = rules.scan([("pod.yaml", pod())], config)
    expected = [] if effect is Effect.DISABLED else [effect]
    assert [f.effect for f in report.findings if f.rule.id == PRIV] == expected


def test_disabled_turns_a_rule_off_and_leaves_the_others() -> None:
    text = pod()
    config = rules.load_config("rules:\n  container-no-privilege:\n    effect: Disabled\n"
                               "  container-allowed-images:\n    effect: disabled\n", "cfg.yaml")
    report = rules.scan([("pod.yaml", text)], config)
    assert not [f for f in report.findings if f.rule.id in (PRIV, "container-allowed-images")]
    assert not [v for v in report.verdicts if v.rule_id in (PRIV, "container-allowed-images")]
    assert [(f.rule.id, f.line) for f in report.findings if f.rule.id == "block-host-namespace"] == [
        ("block-host-namespace", line_of(text, "hostPID"))]
    assert "container-allowed-images" not in config.unconfigured()
    assert "container-allowed-images" not in report.unconfigured


# --- namespaces from configuration ---------------------------------------------------------------------------------

ALL_POD_RULES_HIT = {"container-no-privilege", "block-host-namespace", "read-only-root-filesystem",
                     "container-allowed-images"}


def test_global_excluded_namespaces_apply_to_every_rule() -> None:
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: team-a}\nspec:\n  ports:\n  - port: 6001\n"
    config = "excludedNamespaces: [team-a]\n"
    assert found(config, ("pod.yaml", pod("team-a")), ("svc.yaml", service)) == set()
    hit = {rule for rule, _ in found(config, ("pod.yaml", pod("team-b")), ("svc.yaml", service.replace(
        "team-a", "team-b")))}
    assert ALL_POD_RULES_HIT | {"service-allowed-ports"} <= hit


def test_rule_level_excluded_namespaces_override_the_global_list() -> None:
    config = textwrap.dedent("""\
        excludedNamespaces: [team-a]
        rules:
          container-no-privilege:
            excludedNamespaces: [team-b]
        """)
    in_a = found(config, ("pod.yaml", pod("team-a")))
    in_b = found(config, ("pod.yaml", pod("team-b")))
    assert in_a == {(PRIV, "team-a")}  # only the overriding rule looks at team-a
    assert (PRIV, "team-b") not in in_b
    assert {rule for rule, _ in in_b} >= ALL_POD_RULES_HIT - {PRIV}


@pytest.mark.parametrize("namespace", ["kube-system", "gatekeeper-system", "azure-arc"])
def test_system_namespaces_are_always_excluded(namespace: str) -> None:
    config = "excludedNamespaces: []\nrules:\n  container-no-privilege:\n    excludedNamespaces: [other]\n"
    assert found(config, ("pod.yaml", pod(namespace))) == set()
    assert found("namespaces: [" + namespace + "]\n", ("pod.yaml", pod(namespace))) == set()


def test_other_namespaces_are_in_scope_once_the_user_list_omits_them() -> None:
    config = "excludedNamespaces: []\n"
    for namespace in ("kube-public", "azure-extensions-usage-system", "mdc"):
        assert {rule for rule, _ in found(config, ("pod.yaml", pod(namespace)))} >= ALL_POD_RULES_HIT


def test_default_namespace_decides_scope_for_objects_without_one() -> None:
    assert found("defaultNamespace: kube-system\n", ("pod.yaml", pod())) == set()
    got = found("defaultNamespace: shop\nexcludedNamespaces: [default]\n", ("pod.yaml", pod()))
    assert {ns for _, ns in got} == {"shop"}


# --- unconfigured rules and the Defender presets -------------------------------------------------------------------

def test_unconfigured_lists_the_configuration_required_parameters() -> None:
    unconfigured = rules.default_config().unconfigured()
    assert unconfigured == {
        "allowed-host-paths": ("allowedHostPaths",),
        "container-allowed-capabilities": ("allowedCapabilities", "requiredDropCapabilities"),
        "container-allowed-images": ("allowedContainerImagesRegex",),
        "container-allowed-ports": ("allowedContainerPortsList",),
        "container-resource-limits": ("cpuLimit", "memoryLimit"),
        "enforce-apparmor-profile": ("allowedProfiles",),
        "host-network-ports": ("allowHostNetwork", "minPort", "maxPort"),
        "service-allowed-ports": ("allowedServicePortsList",),
    }
    partly = rules.load_config("rules:\n  container-resource-limits:\n    cpuLimit: '2'\n"
                               "  container-allowed-images:\n    allowedContainerImagesRegex: '^acr\\.io/'\n",
                               "cfg.yaml").unconfigured()
    assert partly["container-resource-limits"] == ("memoryLimit",)
    assert "container-allowed-images" not in partly
    report = rules.scan([], rules.default_config())
    assert report.unconfigured == unconfigured


def _healthy_hits(config_text: str) -> set[tuple[str, int]]:
    report = rules.scan([("healthy.yaml", HEALTHY)], rules.load_config(config_text, "cfg.yaml"))
    assert report.problems == []
    return {(f.rule.id, f.line) for f in report.findings}


def test_empty_config_makes_the_healthy_example_fail_the_current_presets() -> None:
    assert _healthy_hits("") == {
        ("container-allowed-images", line_of(HEALTHY, "image: healthyClusterRegistry")),
        ("container-allowed-ports", line_of(HEALTHY, "- containerPort: 80")),
        ("service-allowed-ports", line_of(HEALTHY, "- port: 80")),
        # runAsGroupRule MustRunAs (min 1) and no runAsGroup: reported under the container's securityContext
        ("allowed-users-groups", line_of(HEALTHY, "securityContext:")),
    }


def test_empty_config_makes_the_healthy_example_fail_the_2021_presets() -> None:
    assert _healthy_hits("profile: azure-2021\n") == {
        ("container-allowed-images", line_of(HEALTHY, "image: healthyClusterRegistry")),
        ("container-allowed-ports", line_of(HEALTHY, "- containerPort: 80")),
        ("service-allowed-ports", line_of(HEALTHY, "- port: 80")),
        ("container-resource-limits", line_of(HEALTHY, "cpu: 100m")),  # cpuLimit "0"
        ("container-resource-limits", line_of(HEALTHY, "memory: 250Mi")),  # memoryLimit "0"
        ("enforce-apparmor-profile", line_of(HEALTHY, "container.apparmor.security.beta.kubernetes.io/redis")),
    }


def test_the_reference_config_keeps_the_healthy_example_healthy() -> None:
    assert _healthy_hits(BASE) == set()
