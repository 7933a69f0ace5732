"""Invariants of the code base: pure packages stay pure, declarations are complete."""

from __future__ import annotations

import ast
from pathlib import Path

import rules

ROOT = Path(__file__).resolve().parents[1]
IO_MODULES = {"github", "flask", "requests", "urllib", "http", "socket", "subprocess", "redis", "sqlite3",
              "unidiff", "os", "shutil", "pathlib", "io"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("open", "print", "input"):
            names.add(f"builtin:{node.func.id}")  # type: ignore[attr-defined]
    return names


def test_pure_packages_do_no_io() -> None:
    for package in ("rules", "fixes"):
        for path in (ROOT / package).glob("*.py"):
            bad = _imports(path) & (IO_MODULES | {"builtin:open", "builtin:print", "builtin:input"})
            assert not bad, f"{path.relative_to(ROOT)} uses {sorted(bad)}"


def test_scan_path_does_not_import_heavy_modules() -> None:
    for path in [ROOT / "bot" / "cli.py", ROOT / "bot" / "formats.py", ROOT / "bot" / "docs.py"]:
        assert not _imports(path) & {"github", "flask", "ruamel"}, path


def test_only_the_github_client_imports_pygithub() -> None:
    users = sorted(p.name for p in (ROOT / "bot").glob("*.py") if "github" in _imports(p))
    assert users == ["github_client.py"]


def test_review_composition_is_pure() -> None:
    for name in ("model.py", "diffmap.py", "review.py"):
        path = ROOT / "bot" / name
        if path.exists():
            bad = _imports(path) & ((IO_MODULES - {"unidiff"}) | {"builtin:open", "builtin:input"})
            assert not bad, f"bot/{name} uses {sorted(bad)}"


def test_every_rule_is_fully_declared() -> None:
    assert len(rules.all_rules()) == 13
    for rule in rules.all_rules():
        assert rule.title and rule.remediation.endswith("."), rule.id
        assert len(rule.azure_policy) == 36 and rule.azure_policy.count("-") == 4, rule.id
        assert rule.rationale.strip(), f"{rule.id} has no module docstring"
        for p in rule.params:
            assert p.doc, f"{rule.id}.{p.name} has no doc"
            for profile in rules.Profile:
                default = p.default_for(profile)
                assert p.validate is None or p.validate(default) is None, f"{rule.id}.{p.name} default invalid"
