"""kubeguard's own deployment passes kubeguard: deploy/ under the reference configuration, both profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

import rules

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (ROOT / "tests" / "rules" / "base-config.yaml").read_text()  # copy of the reference config


@pytest.mark.parametrize("profile", ["azure-current", "azure-2021"])
def test_the_deployment_manifests_pass_the_reference_configuration(profile: str) -> None:
    config = rules.load_config(REFERENCE.replace("profile: azure-current", f"profile: {profile}"))
    assert config.profile.value == profile
    files = sorted((ROOT / "deploy").glob("*.yaml"))
    report = rules.scan(((str(p), p.read_bytes()) for p in files), config)
    assert files and report.documents >= 2
    assert report.findings == [] and report.problems == []


def test_the_image_runs_as_a_non_root_user() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
