"""The Defender documentation's example pair under the reference configuration, in both profiles.

``tests/reference/{healthy,unhealthy}.yaml`` are copies of ``../shared/reference/`` (see their headers);
``base-config.yaml`` is the reference configuration. The expected line of each rule is found by
searching the unhealthy file for the offending key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import rules

HERE = Path(__file__).parent
BASE = (HERE / "base-config.yaml").read_text()
HEALTHY = (HERE.parent / "reference" / "healthy.yaml").read_text()
UNHEALTHY = (HERE.parent / "reference" / "unhealthy.yaml").read_text()
PROFILES = ["azure-current", "azure-2021"]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(hits) >= nth, f"{needle!r} occurs {len(hits)} times"
    return hits[nth - 1]


def config(profile: str) -> rules.Config:
    assert "profile: azure-current\n" in BASE
    return rules.load_config(BASE.replace("profile: azure-current\n", f"profile: {profile}\n"), "base-config.yaml")


def scan(name: str, text: str, profile: str) -> rules.Report:
    report = rules.scan([(name, text)], config(profile))
    assert report.problems == []
    return report


# The offending key of each rule in unhealthy.yaml (the Deployment's mock Pod and the Service).
EXPECTED_CURRENT = {
    # no resources at all: reported on the container, under which `resources.limits` belongs
    ("container-resource-limits", line_of(UNHEALTHY, "- name: nginx")),
    ("container-no-privilege", line_of(UNHEALTHY, "privileged: true")),
    ("read-only-root-filesystem", line_of(UNHEALTHY, "readOnlyRootFilesystem: false")),
    ("container-no-privilege-escalation", line_of(UNHEALTHY, "allowPrivilegeEscalation: true")),
    ("allowed-users-groups", line_of(UNHEALTHY, "runAsUser: 0")),
    ("block-host-namespace", line_of(UNHEALTHY, "hostPID")),  # hostIPC gives the same message
    ("container-allowed-capabilities", line_of(UNHEALTHY, "- NET_ADMIN")),
    ("allowed-host-paths", line_of(UNHEALTHY, "path: /tmp")),
    ("container-allowed-ports", line_of(UNHEALTHY, "- containerPort: 9001")),
    ("service-allowed-ports", line_of(UNHEALTHY, "- port: 6001")),
    ("host-network-ports", line_of(UNHEALTHY, "hostNetwork")),  # hostPort 9001 gives the same message
    ("container-allowed-images", line_of(UNHEALTHY, "image: nginx:1.15.2")),
}
# Legacy AppArmor: a container without the annotation violates; reported under the template's metadata.
TEMPLATE_METADATA = line_of(UNHEALTHY, "metadata:", 2)
EXPECTED_2021 = EXPECTED_CURRENT | {("enforce-apparmor-profile", TEMPLATE_METADATA)}


def test_expected_lines_are_where_the_keys_are() -> None:
    assert UNHEALTHY.splitlines()[TEMPLATE_METADATA - 1].strip() == "metadata:"
    assert line_of(UNHEALTHY, "template:") < TEMPLATE_METADATA
    assert len({line for _, line in EXPECTED_2021}) == 13


@pytest.mark.parametrize("profile", PROFILES)
def test_healthy_has_no_finding(profile: str) -> None:
    report = scan("healthy.yaml", HEALTHY, profile)
    assert report.findings == []
    assert {v.rule_id for v in report.verdicts} == set(rules.rule_ids())
    assert all(v.healthy for v in report.verdicts)


def test_unhealthy_breaks_twelve_rules_under_azure_current() -> None:
    report = scan("unhealthy.yaml", UNHEALTHY, "azure-current")
    assert {(f.rule.id, f.line) for f in report.findings} == EXPECTED_CURRENT
    assert len(report.findings) == len(EXPECTED_CURRENT)  # one finding per rule: identical messages collapse
    assert {f.rule.id for f in report.findings} == set(rules.rule_ids()) - {"enforce-apparmor-profile"}
    assert not any(f.suppressed for f in report.findings)
    # a container without the AppArmor annotation counts as runtime/default, which is allowed
    [apparmor] = [v for v in report.verdicts if v.rule_id == "enforce-apparmor-profile"]
    assert apparmor.healthy


def test_unhealthy_breaks_all_thirteen_rules_under_azure_2021() -> None:
    report = scan("unhealthy.yaml", UNHEALTHY, "azure-2021")
    assert {(f.rule.id, f.line) for f in report.findings} == EXPECTED_2021
    assert len(report.findings) == len(EXPECTED_2021)
    assert {f.rule.id for f in report.findings} == set(rules.rule_ids())


@pytest.mark.parametrize("profile", PROFILES)
def test_unhealthy_findings_name_the_mock_pod_and_the_service(profile: str) -> None:
    report = scan("unhealthy.yaml", UNHEALTHY, profile)
    resources = {(f.rule.id, str(f.resource)) for f in report.findings}
    assert ("service-allowed-ports", "Service default/nginx-unhealthy-service") in resources
    assert all(res == "Deployment default/nginx-unhealthy-deployment" for rule, res in resources
               if rule != "service-allowed-ports")
    by_rule = {f.rule.id: f for f in report.findings}
    assert by_rule["block-host-namespace"].message == \
        "Sharing the host namespace is not allowed: nginx-unhealthy-deployment-pod"
    assert by_rule["service-allowed-ports"].message == \
        "Port 6001 for service nginx-unhealthy-service has not been allowed."
    assert by_rule["container-allowed-images"].message == \
        "Container image nginx:1.15.2 for container nginx has not been allowed."
    assert by_rule["block-host-namespace"].related == (
        (("spec", "template", "spec", "hostIPC"), line_of(UNHEALTHY, "hostIPC")),)
