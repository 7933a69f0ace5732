"""Real manifests (a sample of the development corpus, see tests/corpus_sample/SOURCES.md).

Every sample file scans under the default configuration and the azure-2021 profile with no
exception and no internal problem; a few findings are pinned to the exact line, checked by
reading the files against the specification.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import rules

SAMPLE = Path(__file__).resolve().parents[1] / "corpus_sample"
FILES = sorted(SAMPLE.rglob("*.yaml"))
KYVERNO = "kyverno__policies/"
SOCK_SHOP = "microservices-demo__microservices-demo/deploy__kubernetes__"

CONFIGS = {
    "default": rules.default_config(),
    "azure-2021": rules.load_config("profile: azure-2021\n", "<azure-2021>"),
}


def scan(name: str, profile: str = "default") -> rules.Report:
    path = SAMPLE / name
    return rules.scan([(name, path.read_bytes())], CONFIGS[profile])


def lines(report: rules.Report, rule_id: str) -> list[int]:
    return sorted(f.line for f in report.findings if f.rule.id == rule_id)


def test_the_sample_is_there() -> None:
    assert 15 <= len(FILES) <= 25
    assert (SAMPLE / "SOURCES.md").is_file()
    listed = (SAMPLE / "SOURCES.md").read_text()
    for path in FILES:
        assert f"`{path.relative_to(SAMPLE).as_posix()}`" in listed


@pytest.mark.parametrize("profile", CONFIGS)
@pytest.mark.parametrize("path", FILES, ids=[p.stem[-60:] for p in FILES])
def test_every_sample_file_scans_without_internal_problem(path: Path, profile: str) -> None:
    report = scan(path.relative_to(SAMPLE).as_posix(), profile)  # an exception fails the test
    assert report.files == 1
    assert report.documents >= 1
    assert [p for p in report.problems if p.kind == "internal"] == []


@pytest.mark.parametrize("profile", CONFIGS)
def test_the_whole_sample_as_one_stream(profile: str) -> None:
    report = rules.scan(((p.relative_to(SAMPLE).as_posix(), p.read_bytes()) for p in FILES), CONFIGS[profile])
    assert report.files == len(FILES)
    assert report.problems == []
    assert {f.file for f in report.findings} <= {p.relative_to(SAMPLE).as_posix() for p in FILES}


@pytest.mark.parametrize("profile", CONFIGS)
def test_each_privileged_true_is_a_finding_on_its_line(profile: str) -> None:
    # ten `privileged: true`, in containers and initContainers of nine pods; `privileged: false` passes
    report = scan(KYVERNO + "pod-security__baseline__disallow-privileged-containers__.chainsaw-test__pod-bad.yaml",
                  profile)
    assert lines(report, "container-no-privilege") == [10, 28, 39, 58, 69, 82, 93, 109, 125, 130]
    first = next(f for f in report.findings if f.rule.id == "container-no-privilege" and f.line == 10)
    assert first.path == ("spec", "initContainers", 0, "securityContext", "privileged")
    assert first.container == "busybox01-init"
    assert first.message == ('Privileged container is not allowed: busybox01-init, '
                             'securityContext: {"privileged": true}')


@pytest.mark.parametrize("profile", CONFIGS)
def test_host_pid_or_ipc_is_one_finding_per_pod_and_host_network_is_not(profile: str) -> None:
    report = scan(KYVERNO + "pod-security__baseline__disallow-host-namespaces__.chainsaw-test__pod-bad.yaml", profile)
    # hostPID/hostIPC true at 6, 18, 43, 56, 66 and 86+87 (one pod: identical messages collapse);
    # the pods with only hostNetwork: true (lines 30 and 76) are rule 11's business
    assert lines(report, "block-host-namespace") == [6, 18, 43, 56, 66, 86]
    both = next(f for f in report.findings if f.rule.id == "block-host-namespace" and f.line == 86)
    assert both.message == "Sharing the host namespace is not allowed: badpod04"
    assert both.related == ((("spec", "hostIPC"), 87),)
    assert 30 in lines(report, "host-network-ports")


@pytest.mark.parametrize("profile", CONFIGS)
def test_sock_shop_carts_deployment_and_service(profile: str) -> None:
    report = scan(SOCK_SHOP + "manifests__01-carts-dep.yaml", profile)
    image = next(f for f in report.findings if f.rule.id == "container-allowed-images")
    assert (image.line, image.column) == (21, 9)
    assert image.path == ("spec", "template", "spec", "containers", 0, "image")
    assert image.message == "Container image weaveworksdemos/carts:0.4.8 for container carts has not been allowed."
    assert image.resource == rules.Resource("Deployment", "sock-shop", "carts")
    # readOnlyRootFilesystem: true (line 42) and no privileged flag
    assert lines(report, "read-only-root-filesystem") == []
    assert lines(report, "container-no-privilege") == []
    # the added capability NET_BIND_SERVICE (line 41) is outside the preset's empty list
    assert lines(report, "container-allowed-capabilities") == [41]

    service = scan(SOCK_SHOP + "manifests__02-carts-svc.yaml", profile)
    assert [(f.rule.id, f.line, f.message) for f in service.findings] == [
        ("service-allowed-ports", 14, "Port 80 for service carts has not been allowed."),
    ]


def test_apparmor_without_annotation_passes_today_and_failed_in_2021() -> None:
    name = SOCK_SHOP + "manifests__01-carts-dep.yaml"
    assert lines(scan(name), "enforce-apparmor-profile") == []
    legacy = [f for f in scan(name, "azure-2021").findings if f.rule.id == "enforce-apparmor-profile"]
    assert [(f.line, f.container) for f in legacy] == [(15, "carts")]  # the template's metadata
    assert legacy[0].message == ("AppArmor profile is not allowed, pod: carts-pod, container: carts. "
                                 "Allowed profiles: []")


@pytest.mark.parametrize("profile", CONFIGS)
def test_apparmor_annotations_on_deployment_and_cronjob_templates(profile: str) -> None:
    name = "pod-security__baseline__restrict-apparmor-profiles__.chainsaw-test__podcontroller-bad.yaml"
    report = scan(KYVERNO + name, profile)
    found = sorted((f.line, f.resource.kind, f.message.split(",")[1].strip()) for f in report.findings
                   if f.rule.id == "enforce-apparmor-profile")
    assert found == [
        (16, "Deployment", "pod: baddeployment01-new-pod"),
        (34, "CronJob", "pod: badcronjob01-new-pod"),
        (55, "Deployment", "pod: baddeployment01-pod"),
        (72, "CronJob", "pod: badcronjob01-pod"),
    ]


@pytest.mark.parametrize("profile", CONFIGS)
def test_list_items_are_evaluated_at_their_own_lines(profile: str) -> None:
    report = scan(SOCK_SHOP + "manifests-jaeger__jaeger.yaml", profile)
    ports = [f for f in report.findings if f.rule.id == "service-allowed-ports"]
    assert sorted(f.line for f in ports) == [77, 94, 98, 102, 119, 123, 127, 144]
    assert {f.path[:2] for f in ports} == {("items", 2), ("items", 3), ("items", 4), ("items", 5)}
    image = next(f for f in report.findings if f.rule.id == "container-allowed-images")
    assert (image.line, image.resource) == (48, rules.Resource("Deployment", "jaeger", "jaeger-deployment"))


@pytest.mark.parametrize("profile", CONFIGS)
def test_kube_system_is_always_excluded(profile: str) -> None:
    report = scan(SOCK_SHOP + "manifests-logging__fluentd-daemon.yaml", profile)
    assert report.documents == 1
    assert report.findings == []


@pytest.mark.parametrize("profile", CONFIGS)
def test_node_exporter_host_network_port_and_pid(profile: str) -> None:
    report = scan(SOCK_SHOP + "manifests-monitoring__25-prometheus-node-exporter-daemonset.yaml", profile)
    assert lines(report, "block-host-namespace") == [53]
    network = [f for f in report.findings if f.rule.id == "host-network-ports"]
    # hostNetwork: true (line 52) and hostPort: 9100 (line 50) give the same message: one finding
    assert [(f.line, f.related) for f in network] == [
        (52, ((("spec", "template", "spec", "containers", 0, "ports", 0, "hostPort"), 50),)),
    ]
    assert lines(report, "allowed-host-paths") == [64, 67]


@pytest.mark.parametrize("profile", CONFIGS)
def test_cronjob_of_batch_v1beta1_is_judged_as_its_mock_pod(profile: str) -> None:
    report = scan(KYVERNO + "best-practices__check-deprecated-apis__.kyverno-test__resource.yaml", profile)
    images = sorted((f.line, f.resource.name) for f in report.findings if f.rule.id == "container-allowed-images")
    assert images == [(13, "bad-cronjob"), (35, "good-cronjob")]
    assert {f.resource.kind for f in report.findings} == {"CronJob"}  # FlowSchema documents are not evaluated
