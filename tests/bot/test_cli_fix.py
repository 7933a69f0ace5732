"""``kubeguard fix``: --diff and its exit code, --write in place (atomic, mode kept), --rule, --safety,
files whose fixes are all manual, and a broken file next to a good one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import fixes
import rules
from bot import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UNHEALTHY = (EXAMPLES / "unhealthy.yaml").read_text()
CONFIG = EXAMPLES / ".kubeguard.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rule_ids(path: Path) -> set[str]:
    config = rules.load_config(CONFIG.read_text(), str(CONFIG))
    return {f.rule.id for f in rules.scan_file(str(path), path.read_text(), config).findings}


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.yaml"
    path.write_text(UNHEALTHY)
    return path


def test_diff_exits_1_when_something_changes_and_0_when_not(manifest: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fix", str(manifest), "--diff", "--config", str(CONFIG), "--safety", "all")
    assert code == 1
    assert out.startswith(f"--- a/{str(manifest).lstrip('/')}\n+++ b/")
    assert "-        image: nginx:1.15.2\n" in out and "+          privileged: false\n" in out
    assert manifest.read_text() == UNHEALTHY  # --diff writes nothing
    config = rules.load_config(CONFIG.read_text(), str(CONFIG))
    fixed = fixes.fix_file(str(manifest), UNHEALTHY, config, fixes.settings_from_config(config),
                           max_safety=fixes.Safety.BEHAVIOUR).after
    assert out == fixes.unified_diff(str(manifest), UNHEALTHY, fixed)
    manifest.write_text(fixed)
    code, out, err = run(capsys, "fix", str(manifest), "--diff", "--config", str(CONFIG), "--safety", "all")
    assert (code, out) == (0, "")
    assert "manual" not in err
    # the default mode is --diff
    manifest.write_text(UNHEALTHY)
    assert run(capsys, "fix", str(manifest), "--config", str(CONFIG))[0] == 1
    assert manifest.read_text() == UNHEALTHY


def test_write_edits_in_place_atomically_and_keeps_the_mode(manifest: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    manifest.chmod(0o640)
    before = sorted(os.listdir(manifest.parent))
    code, out, err = run(capsys, "fix", str(manifest), "--write", "--config", str(CONFIG), "--safety", "all")
    assert code == 0 and out == ""
    assert f"fixed {manifest}" in err
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o640
    assert sorted(os.listdir(manifest.parent)) == before  # no temporary file left behind
    written = manifest.read_text()
    assert written != UNHEALTHY and rule_ids(manifest) == set()
    # a second --write changes nothing and says so by saying nothing
    code, out, err = run(capsys, "fix", str(manifest), "--write", "--config", str(CONFIG), "--safety", "all")
    assert (code, out) == (0, "") and "fixed" not in err
    assert manifest.read_text() == written
    assert sorted(os.listdir(manifest.parent)) == before


def test_write_keeps_crlf_and_a_missing_final_newline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "crlf.yaml"
    text = UNHEALTHY.rstrip("\n").replace("\n", "\r\n")
    path.write_bytes(text.encode())
    run(capsys, "fix", str(path), "--write", "--config", str(CONFIG), "--safety", "all")
    data = path.read_bytes()
    assert data != text.encode() and b"\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n") and not data.endswith(b"\n")


def test_rule_restricts_the_fixes(manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = rule_ids(manifest)
    code, _, _ = run(capsys, "fix", str(manifest), "--write", "--config", str(CONFIG), "--safety", "all",
                     "--rule", "container-no-privilege", "--rule", "block-host-namespace")
    assert code == 0
    assert rule_ids(manifest) == original - {"container-no-privilege", "block-host-namespace"}
    text = manifest.read_text()
    assert "privileged: false" in text and "hostPID" not in text and "hostIPC" not in text
    assert "hostNetwork: true" in text and "image: nginx:1.15.2" in text  # other rules untouched
    code, _, err = run(capsys, "fix", str(manifest), "--rule", "no-such-rule", "--config", str(CONFIG))
    assert code == 2 and "no-such-rule" in err


def test_safety_safe_applies_only_safe_fixes(manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fix", str(manifest), "--write", "--config", str(CONFIG), "--safety", "safe")
    assert code == 0
    text = manifest.read_text()
    # safe: flags set, host namespaces gone
    assert "privileged: false" in text and "readOnlyRootFilesystem: true" in text
    assert "allowPrivilegeEscalation: false" in text and "hostPID" not in text and "hostIPC" not in text
    # value (limits, user, image) and changes-behaviour (host port, hostPath, capabilities, ports): not applied
    assert "limits:" not in text and "runAsUser: 0" in text and "image: nginx:1.15.2" in text
    assert "hostPort: 9001" in text and "hostPath:" in text and "NET_ADMIN" in text
    assert "containerPort: 9001" in text and "port: 6001" in text
    assert "above the selected safety" in err
    left = rule_ids(manifest)
    assert {"container-resource-limits", "allowed-users-groups", "container-allowed-images",
            "allowed-host-paths", "container-allowed-capabilities"} <= left
    assert not {"container-no-privilege", "read-only-root-filesystem", "block-host-namespace",
                "container-no-privilege-escalation"} & left


def test_a_file_whose_fixes_are_all_manual_is_not_written(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "quay.yaml"
    text = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n"
            "    image: quay.io/org/app:1\n    resources:\n      limits: {cpu: 100m, memory: 250Mi}\n"
            "    securityContext:\n      readOnlyRootFilesystem: true\n      runAsNonRoot: true\n"
            "      runAsUser: 1000\n      allowPrivilegeEscalation: false\n")
    path.write_text(text)
    assert rule_ids(path) == {"container-allowed-images"}
    mtime = path.stat().st_mtime_ns
    before = sorted(os.listdir(tmp_path))
    code, out, err = run(capsys, "fix", str(path), "--write", "--config", str(CONFIG), "--safety", "all")
    assert code == 0 and out == ""
    assert f"{path}:8: manual: container-allowed-images: no fixes.registryMirror entry for quay.io" in err
    assert "fixed" not in err
    assert path.read_text() == text and path.stat().st_mtime_ns == mtime
    assert sorted(os.listdir(tmp_path)) == before
    code, out, _ = run(capsys, "fix", str(path), "--diff", "--config", str(CONFIG), "--safety", "all")
    assert (code, out) == (0, "")


def test_a_broken_file_is_reported_and_the_good_one_still_fixed(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "a_broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\nspec:\n  hostPID: true\n")
    undecodable = tmp_path / "b_bad.yml"
    undecodable.write_bytes(b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: \xff\n")
    good = tmp_path / "c_good.yaml"
    good.write_text(UNHEALTHY)
    broken_text = broken.read_text()
    code, out, err = run(capsys, "fix", str(tmp_path), "--write", "--config", str(CONFIG), "--safety", "all")
    assert code == 0 and out == ""
    assert good.read_text() != UNHEALTHY and rule_ids(good) == set()
    assert broken.read_text() == broken_text
    assert f"{broken}:" in err and "not fixed" in err
    assert f"{undecodable}:4:" in err and "UTF-8" in err
    # --diff: the good file's diff on stdout, the broken one on stderr
    good.write_text(UNHEALTHY)
    code, out, err = run(capsys, "fix", str(tmp_path), "--diff", "--config", str(CONFIG), "--safety", "all")
    assert code == 1 and "c_good.yaml" in out and "a_broken.yaml" not in out
    assert f"{broken}:" in err and "not fixed" in err
