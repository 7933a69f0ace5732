"""Acceptance: ``kubeguard fix --safety all`` turns the Defender documentation's unhealthy example healthy.

``tests/reference/unhealthy.yaml`` under ``tests/rules/base-config.yaml`` plus a ``fixes:`` section that maps
the registry (``docker.io/library`` -> ``healthyClusterRegistry.azurecr.io``) and the ports (9001 and 6001 to
80), in each profile: the output scans clean; its security-relevant fields have the shape of
``tests/reference/healthy.yaml``; and its diff touches no other line: every removed line is one that must
change, the trailing spaces after the template's ``metadata:`` survive, ``hostPID: true `` goes with its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import fixes
import rules

HERE = Path(__file__).parent
REFERENCE = HERE.parent / "reference"
UNHEALTHY = (REFERENCE / "unhealthy.yaml").read_bytes().decode("utf-8")
HEALTHY = (REFERENCE / "healthy.yaml").read_bytes().decode("utf-8")
BASE = (HERE.parent / "rules" / "base-config.yaml").read_text()
FIXES = """fixes:
  registryMirror:
    docker.io/library: healthyClusterRegistry.azurecr.io
  portMap:
    9001: 80
    6001: 80
"""
PROFILES = ("azure-current", "azure-2021")
APPARMOR = "container.apparmor.security.beta.kubernetes.io/"

# Every line of unhealthy.yaml that a correct fix must change or remove (the rest must survive byte for byte).
MUST_CHANGE = [
    "      hostNetwork: true\n",
    "      hostPID: true \n",
    "      hostIPC: true\n",
    "        image: nginx:1.15.2\n",
    "        - containerPort: 9001\n",
    "          hostPort: 9001\n",
    "          privileged: true\n",
    "          readOnlyRootFilesystem: false\n",
    "          allowPrivilegeEscalation: true\n",
    "          runAsUser: 0\n",
    "          capabilities:\n",
    "            add:\n",
    "              - NET_ADMIN\n",
    # the only mount is of the hostPath volume: it goes with the volume, comment included
    "        volumeMounts:\n",
    "        - mountPath: /test-pd\n",
    "          name: test-volume\n",
    "          readOnly: true\n",
    "      volumes:\n",
    "      - name: test-volume\n",
    "        hostPath:\n",
    "          # directory location on host\n",
    "          path: /tmp\n",
    "  - port: 6001\n",
    "    targetPort: 9001\n",
]


def config(profile: str) -> rules.Config:
    assert "profile: azure-current\n" in BASE
    return rules.load_config(BASE.replace("profile: azure-current\n", f"profile: {profile}\n") + FIXES, "reference")


def fixed(profile: str) -> fixes.FileFix:
    cfg = config(profile)
    return fixes.fix_file("unhealthy.yaml", UNHEALTHY, cfg, fixes.settings_from_config(cfg),
                          max_safety=fixes.Safety.BEHAVIOUR)


def workload(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment, service = list(yaml.safe_load_all(text))
    return deployment, service


def test_the_fixture_has_the_lines_the_test_is_about() -> None:
    lines = UNHEALTHY.splitlines(keepends=True)
    for line in MUST_CHANGE:
        assert line in lines, line
    assert "    metadata:      \n" in lines  # line 13 of ../shared/reference/unhealthy.yaml, after our header
    assert lines.index("    metadata:      \n") == 13 + 3 - 1


@pytest.mark.parametrize("profile", PROFILES)
def test_every_finding_is_fixed_and_verified(profile: str) -> None:
    result = fixed(profile)
    assert [r for r in result.results if not r.fixed] == []
    expected = {f.rule.id for f in rules.scan_file("unhealthy.yaml", UNHEALTHY, config(profile)).findings}
    assert {r.finding.rule.id for r in result.results} == expected
    assert ("enforce-apparmor-profile" in expected) == (profile == "azure-2021")
    report = rules.scan_file("unhealthy.yaml", result.after, config(profile))
    assert report.findings == [] and report.problems == []
    assert all(v.healthy for v in report.verdicts)
    again = fixed(profile)
    assert fixes.fix_file("unhealthy.yaml", result.after, config(profile), fixes.settings_from_config(config(profile)),
                          max_safety=fixes.Safety.BEHAVIOUR).after == result.after == again.after


@pytest.mark.parametrize("profile", PROFILES)
def test_the_output_has_the_healthy_shape(profile: str) -> None:
    deployment, service = workload(fixed(profile).after)
    healthy, healthy_service = workload(HEALTHY)
    pod, good_pod = deployment["spec"]["template"], healthy["spec"]["template"]
    container, good = pod["spec"]["containers"][0], good_pod["spec"]["containers"][0]

    assert container["securityContext"] == good["securityContext"] == {
        "privileged": False, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
        "runAsNonRoot": True, "runAsUser": 1000}
    assert container["resources"] == good["resources"] == {"limits": {"cpu": "100m", "memory": "250Mi"}}
    assert container["ports"] == good["ports"] == [{"containerPort": 80}]  # no hostPort
    assert container["image"] == "healthyClusterRegistry.azurecr.io/nginx:1.15.2"
    assert container["image"].split("/")[0] == good["image"].split("/")[0]
    assert "volumeMounts" not in container and "volumes" not in pod["spec"]  # the hostPath volume and its mount
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert key not in pod["spec"] and key not in good_pod["spec"]
    assert service["spec"]["ports"] == healthy_service["spec"]["ports"] == [{"port": 80, "targetPort": 80}]

    annotations = pod["metadata"].get("annotations") or {}
    if profile == "azure-2021":  # the legacy AppArmor rule requires the annotation, as healthy.yaml has it
        assert annotations == {APPARMOR + "nginx": good_pod["metadata"]["annotations"][APPARMOR + "redis"]}
        assert annotations[APPARMOR + "nginx"] == "runtime/default"
    else:  # under azure-current a missing annotation means runtime/default: nothing to add
        assert annotations == {}


@pytest.mark.parametrize("profile", PROFILES)
def test_the_diff_touches_no_other_line(profile: str) -> None:
    after = fixed(profile).after
    diff = fixes.unified_diff("unhealthy.yaml", UNHEALTHY, after)
    removed = [line[1:] for line in diff.splitlines(keepends=True) if line.startswith("-") and
               not line.startswith("---")]
    assert sorted(removed) == sorted(MUST_CHANGE)  # each line that must change, and nothing else
    added = {line[1:] for line in diff.splitlines(keepends=True) if line.startswith("+") and not line.startswith("+++")}
    assert "        image: healthyClusterRegistry.azurecr.io/nginx:1.15.2\n" in added
    assert ("      annotations:\n" in added) == (profile == "azure-2021")

    lines = after.splitlines(keepends=True)
    assert "    metadata:      \n" in lines  # the trailing spaces after the template's metadata: survive
    assert not [line for line in lines if "hostPID" in line]  # `hostPID: true ` went with its line
    # every line the fix had no reason to touch is still there, unchanged and in order
    kept = [line for line in UNHEALTHY.splitlines(keepends=True) if line not in MUST_CHANGE]
    cursor = 0
    for line in kept:
        cursor = lines.index(line, cursor) + 1


@pytest.mark.parametrize("profile", PROFILES)
def test_suggestions_of_each_fix_stay_inside_the_file(profile: str) -> None:
    for r in fixed(profile).results:
        s = fixes.suggestion(r.before, r.after)
        assert s is not None
        assert 1 <= s.start_line <= s.end_line <= len(r.before.splitlines())
