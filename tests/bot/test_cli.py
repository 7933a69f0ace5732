"""The command line, run in-process through ``bot.cli.main`` and once as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UNHEALTHY = EXAMPLES / "unhealthy.yaml"
CONFIG = EXAMPLES / ".kubeguard.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_json_report_shape_and_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", str(UNHEALTHY), "--config", str(CONFIG), "--format", "json")
    assert code == 0  # every effect defaults to Audit, and the default fail level is deny
    doc = json.loads(out)
    rules_hit = {f["rule"] for f in doc["findings"]}
    assert len(rules_hit) == 12 and "enforce-apparmor-profile" not in rules_hit
    priv = next(f for f in doc["findings"] if f["rule"] == "container-no-privilege")
    assert priv["line"] == line_of(UNHEALTHY, "privileged: true")
    assert priv["path"] == "spec.template.spec.containers[0].securityContext.privileged"
    assert priv["resource"] == {"kind": "Deployment", "namespace": "default", "name": "nginx-unhealthy-deployment"}
    assert priv["container"] == "nginx"
    assert priv["control"] == "Manage access and permissions"
    assert priv["effect"] == "Audit" and priv["suppressed"] is False
    controls = {c["control"]: c for c in doc["summary"]["controls"]}
    assert controls["Remediate vulnerabilities"] == {
        "control": "Remediate vulnerabilities", "maxScore": 6, "resources": 1, "healthy": 0, "unhealthy": 1,
        "score": 0.0}
    # the AppArmor rule finds nothing under azure-current: that control keeps its full points
    assert controls["Remediate security configurations"]["score"] == 4.0
    assert doc["problems"] == [] and doc["unconfigured"] == {}


def test_fail_on_levels_and_deny_effect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "scan", str(UNHEALTHY), "--config", str(CONFIG), "--fail-on", "audit")[0] == 1
    assert run(capsys, "scan", str(UNHEALTHY), "--config", str(CONFIG), "--fail-on", "never")[0] == 0
    deny = tmp_path / "deny.yaml"
    deny.write_text(CONFIG.read_text().replace("  container-resource-limits:\n",
                                               "  container-resource-limits:\n    effect: deny\n"))
    assert run(capsys, "scan", str(UNHEALTHY), "--config", str(deny))[0] == 1
    healthy = EXAMPLES / "healthy.yaml"
    assert run(capsys, "scan", str(healthy), "--config", str(deny), "--fail-on", "audit")[0] == 0


def test_config_error_exits_2_naming_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: azure-current\nrules:\n  no-such-rule: {}\n")
    code, _, err = run(capsys, "scan", str(UNHEALTHY), "--config", str(bad))
    assert code == 2
    assert f"{bad}:3:" in err and "no-such-rule" in err


def test_missing_path_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan", "/nonexistent/dir")
    assert code == 2 and "/nonexistent/dir" in err


def test_config_found_at_repository_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".kubeguard.yaml").write_text("rules:\n  container-no-privilege:\n    effect: Disabled\n")
    sub = tmp_path / "deploy"
    sub.mkdir()
    (sub / "app.yaml").write_text(UNHEALTHY.read_text())
    code, out, _ = run(capsys, "scan", str(sub), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert "container-no-privilege" not in {f["rule"] for f in doc["findings"]}
    assert doc["files"] == 1  # the configuration itself is not scanned as a manifest


def test_broken_file_is_reported_and_others_still_scanned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a_broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    (tmp_path / "b_bad.yml").write_bytes(b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: \xff\n")
    (tmp_path / "c_good.yaml").write_text(UNHEALTHY.read_text())
    code, out, _ = run(capsys, "scan", str(tmp_path), "--config", str(CONFIG), "--format", "json")
    doc = json.loads(out)
    problems = {Path(p["file"]).name: p for p in doc["problems"]}
    assert problems["a_broken.yaml"]["kind"] == "parse" and problems["a_broken.yaml"]["line"] == 4
    assert problems["b_bad.yml"]["line"] == 4 and "UTF-8" in problems["b_bad.yml"]["cause"]
    assert {Path(f["file"]).name for f in doc["findings"]} == {"c_good.yaml"}
    assert code == 1  # unreadable manifests fail the run unless --fail-on never


def test_sarif_is_code_scanning_shaped(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", str(UNHEALTHY), "--config", str(CONFIG), "--format", "sarif")
    assert code == 0
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    run_ = sarif["runs"][0]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "kubeguard" and len(driver["rules"]) == 13
    for rule in driver["rules"]:
        assert rule["help"]["text"] and rule["shortDescription"]["text"]
        assert float(rule["properties"]["security-severity"]) > 0
    ids = [r["id"] for r in driver["rules"]]
    for result in run_["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        assert result["partialFingerprints"]["kubeguard/v1"]
    hostpid = next(r for r in run_["results"] if r["ruleId"] == "block-host-namespace")
    assert hostpid["locations"][0]["physicalLocation"]["region"]["startLine"] == line_of(UNHEALTHY, "hostPID")


def test_github_annotations_escape_and_levels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deny = tmp_path / "deny.yaml"
    deny.write_text(CONFIG.read_text().replace("\nrules:\n", "\nrules:\n  container-no-privilege:\n    effect: Deny\n"))
    code, out, _ = run(capsys, "scan", str(UNHEALTHY), "--config", str(deny), "--format", "github")
    lines = out.splitlines()
    priv = next(line for line in lines if "container-no-privilege" in line)
    assert priv.startswith(f"::error file={UNHEALTHY},line={line_of(UNHEALTHY, 'privileged: true')},col=")
    assert "title=container-no-privilege%3A Privileged containers should be avoided::" in priv
    assert all(line.startswith(("::error ", "::warning ")) for line in lines)
    assert code == 1


def test_stdin_and_text_output(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(UNHEALTHY.read_bytes())))
    code, out, _ = run(capsys, "scan", "-", "--config", str(CONFIG))
    assert code == 0
    assert out.startswith("<stdin>\n")
    assert "container-no-privilege" in out and "\x1b[" not in out  # no colour when not a terminal
    assert "12 finding(s)" in out


def test_docs_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
    code, _, err = run(capsys, "docs", "--check", "--output", str(docs))
    assert code == 0, err


def test_rules_lists_every_rule_with_profile_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    _, current, _ = run(capsys, "rules")
    _, legacy, _ = run(capsys, "rules", "--profile", "azure-2021")
    assert current.count("control:") == 13
    assert 'cpuLimit = "32"' in current and 'cpuLimit = "0"' in legacy


def test_console_script_runs_as_a_process() -> None:
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "scan", str(UNHEALTHY), "--config", str(CONFIG),
                           "--format", "json", "--fail-on", "audit"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert len(json.loads(proc.stdout)["findings"]) == 12


SECRET = "s3cr3t-outside-the-workspace"
PRIVILEGED = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n"
              "    securityContext:\n      privileged: true\n")


def workspace_with_symlinks(tmp_path: Path) -> Path:
    """``ws/`` with a real manifest beside links out of it (a file, a directory), a loop, a broken link and links
    that stay inside; ``outside/`` holds a manifest whose name carries a secret."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(PRIVILEGED.replace("name: p", f"name: {SECRET}"))
    ws = tmp_path / "ws"
    (ws / "apps").mkdir(parents=True)
    (ws / "apps" / "ok.yaml").write_text(PRIVILEGED)
    (ws / "evil.yaml").symlink_to("/etc/passwd")
    (ws / "secret.yaml").symlink_to(outside / "secret.yaml")
    (ws / "up.yml").symlink_to("../outside/secret.yaml")
    (ws / "outdir").symlink_to(outside, target_is_directory=True)
    (ws / "loop.yaml").symlink_to("loop.yaml")
    (ws / "ping.yaml").symlink_to("pong.yaml")
    (ws / "pong.yaml").symlink_to("ping.yaml")
    (ws / "broken.yaml").symlink_to("nowhere.yaml")
    (ws / "inner.yaml").symlink_to("apps/ok.yaml")
    (ws / "innerdir").symlink_to("apps", target_is_directory=True)
    return ws


LINKS = {"evil.yaml": "outside", "secret.yaml": "outside", "up.yml": "outside", "outdir": "outside",
         "loop.yaml": "symlink loop", "ping.yaml": "symlink loop", "pong.yaml": "symlink loop",
         "broken.yaml": "broken symlink", "inner.yaml": "not followed", "innerdir": "not followed"}


def test_scan_of_a_directory_follows_no_symlink_and_says_why_for_each(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace_with_symlinks(tmp_path)
    code, out, err = run(capsys, "scan", str(ws), "--format", "json", "--fail-on", "audit")
    assert SECRET not in out + err and "root:x" not in out + err
    report = json.loads(out)
    assert code == 1  # the real manifest's privileged container
    assert {f["file"] for f in report["findings"]} == {str(ws / "apps" / "ok.yaml")}
    problems = {Path(p["file"]).name: p for p in report["problems"]}
    assert set(problems) == set(LINKS)
    for name, why in LINKS.items():
        assert why in problems[name]["cause"] and problems[name]["kind"] == "skipped", problems[name]
    assert "/etc/passwd" in problems["evil.yaml"]["cause"]  # the link's own text, not what it points to
    # a file named on the command line is the user's choice: read, also through a link
    code, out, _ = run(capsys, "scan", str(ws / "inner.yaml"), "--format", "json", "--fail-on", "audit")
    assert code == 1 and json.loads(out)["problems"] == []


def test_fix_of_a_directory_follows_no_symlink_and_writes_nothing_outside(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace_with_symlinks(tmp_path)
    before = (tmp_path / "outside" / "secret.yaml").read_text()
    code, out, err = run(capsys, "fix", str(ws), "--write")
    assert code == 0 and SECRET not in out + err
    assert "privileged: false" in (ws / "apps" / "ok.yaml").read_text()
    assert (tmp_path / "outside" / "secret.yaml").read_text() == before
    assert all((ws / name).is_symlink() for name in LINKS)  # no link replaced by a file
    for name in LINKS:
        assert f"{ws / name}:1:1: " in err and "not fixed" in err


def test_the_action_scans_its_workspace_without_reading_anything_outside(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import action

    ws = workspace_with_symlinks(tmp_path)
    (tmp_path / ".kubeguard.yaml").write_text("rules: [\n")  # above the workspace: never looked for
    (ws / ".kubeguard.yaml").symlink_to(CONFIG)  # a configuration from outside: refused too
    monkeypatch.chdir(ws)
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_WORKSPACE": str(ws), "INPUT_FAIL_ON": "audit"}
    assert action.run(env) == 2
    assert "outside" in capsys.readouterr().err
    (ws / ".kubeguard.yaml").unlink()
    assert action.run(env) == 1
    printed = capsys.readouterr().out
    assert SECRET not in printed
    assert f"::warning file={ws / 'apps' / 'ok.yaml'},line=10," in printed  # privileged: true
    for name, why in LINKS.items():
        assert any(line.startswith(f"::warning file={ws / name},") and why in line for line in printed.splitlines())
    # paths named as the Action's arguments cannot leave the workspace either, even as links
    assert action.run(env, [str(ws / "secret.yaml"), str(ws / "outdir"), str(ws / "apps")]) == 1
    printed = capsys.readouterr().out
    assert SECRET not in printed and f"::warning file={ws / 'secret.yaml'}," in printed
    assert f"::warning file={ws / 'outdir'},line=1,col=1,title=kubeguard skipped::symlink to" in printed
