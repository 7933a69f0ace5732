"""Fuzzing parse -> scan -> fix -> suggestion on manifests that are valid, then damaged.

Generated Pods and Deployments (random securityContext fields, ports, hostPath volumes, images) are
rendered as YAML and then mutated: characters deleted, YAML indicators inserted, tabs, CRLF, truncation.
Whatever the text, ``rules.scan`` raises nothing; every finding's fix either declines or, when it fixes,
removes that finding on a re-scan; and its GitHub suggestion lies inside the file and rebuilds the fixed
text exactly. Bounded for CI by KUBEGUARD_FUZZ_EXAMPLES (default 25).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fixes
import rules

ROOT = Path(__file__).resolve().parents[1]
CONFIG = rules.load_config((ROOT / "examples" / ".kubeguard.yaml").read_text())
SETTINGS = fixes.settings_from_config(CONFIG)
EXAMPLES = int(os.environ.get("KUBEGUARD_FUZZ_EXAMPLES", "25"))

booleans = st.sampled_from(["true", "false", "yes", "no", '"true"', "null"])
images = st.sampled_from(["nginx", "nginx:1.15.2", "docker.io/library/redis:6", "mcr.microsoft.com/app@sha256:"
                          + "a" * 64, "ghcr.io/x/y:latest", "registry.local:5000/team/app:v1", "''"])
capabilities = st.sampled_from(["NET_ADMIN", "SYS_ADMIN", "ALL", "CHOWN", "NET_RAW", "KILL"])
host_paths = st.sampled_from(["/", "/var/run/docker.sock", "/etc", "/tmp/data", "/var/log", "/proc"])
indicators = st.sampled_from([*":-{[&*!% \t", "\r\n", "\n", "#", "'", '"', "|", ">", "---\n"])


@st.composite
def security_context(draw: Any, indent: str) -> list[str]:
    lines = []
    for key in ("privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsNonRoot"):
        if draw(st.booleans()):
            lines.append(f"{indent}  {key}: {draw(booleans)}")
    for key in ("runAsUser", "runAsGroup"):
        if draw(st.booleans()):
            lines.append(f"{indent}  {key}: {draw(st.sampled_from(['0', '1000', '65534', '-1', '1e3', 'x']))}")
    if draw(st.booleans()):
        lines.append(f"{indent}  capabilities:")
        for part in ("add", "drop"):
            caps = draw(st.lists(capabilities, max_size=3))
            if caps and draw(st.booleans()):
                lines.append(f"{indent}    {part}: [{', '.join(caps)}]")
            elif caps:
                lines.append(f"{indent}    {part}:")
                lines.extend(f"{indent}    - {c}" for c in caps)
    if not lines and draw(st.booleans()):
        return [f"{indent}securityContext: {{}}"]
    return [f"{indent}securityContext:", *lines] if lines else []


@st.composite
def container(draw: Any, indent: str, number: int) -> list[str]:
    lines = [f"{indent}- name: c{number}", f"{indent}  image: {draw(images)}"]
    ports = draw(st.lists(st.tuples(st.integers(1, 65535), st.one_of(st.none(), st.integers(1, 65535))),
                          max_size=3))
    if ports:
        lines.append(f"{indent}  ports:")
        for container_port, host_port in ports:
            lines.append(f"{indent}  - containerPort: {container_port}")
            if host_port is not None:
                lines.append(f"{indent}    hostPort: {host_port}")
    if draw(st.booleans()):
        lines.append(f"{indent}  resources:")
        lines.append(f"{indent}    limits:")
        lines.append(f"{indent}      cpu: {draw(st.sampled_from(['100m', '64', '1', 'lots']))}")
        lines.append(f"{indent}      memory: {draw(st.sampled_from(['1Gi', '128Mi', '100Ti', '?']))}")
    lines.extend(draw(security_context(indent + "  ")))
    if draw(st.booleans()):
        lines.append(f"{indent}  volumeMounts:")
        lines.append(f"{indent}  - {{name: v0, mountPath: /data, readOnly: {draw(booleans)}}}")
    return lines


@st.composite
def manifest(draw: Any) -> str:
    kind = draw(st.sampled_from(["Pod", "Deployment"]))
    if kind == "Pod":
        head = ["apiVersion: v1", "kind: Pod", "metadata:", f"  name: {draw(st.sampled_from(['web', 'Web-App']))}",
                "spec:"]
        pad = "  "
    else:
        head = ["apiVersion: apps/v1", "kind: Deployment", "metadata:", "  name: app", "spec:",
                "  selector:", "    matchLabels: {app: a}", "  template:", "    metadata:",
                "      labels: {app: a}", "    spec:"]
        pad = "      "
    lines = list(head)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if draw(st.booleans()):
            lines.append(f"{pad}{key}: {draw(booleans)}")
    if draw(st.booleans()):
        lines.extend(draw(security_context(pad)))
    lines.append(f"{pad}containers:")
    for number in range(draw(st.integers(1, 3))):
        lines.extend(draw(container(pad, number)))
    if draw(st.booleans()):
        lines.append(f"{pad}volumes:")
        lines.append(f"{pad}- name: v0")
        lines.append(f"{pad}  hostPath:")
        lines.append(f"{pad}    path: {draw(host_paths)}")
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):  # a second document, sometimes a Service
        text += "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n" + "".join(
            f"  - port: {p}\n" for p in draw(st.lists(st.integers(1, 65535), min_size=1, max_size=2)))
    return text


@st.composite
def mutated(draw: Any) -> str:
    text = draw(manifest())
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["delete", "insert", "tab", "crlf", "truncate"]))
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        if op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)):]
        elif op == "insert":
            text = text[:at] + draw(indicators) + text[at:]
        elif op == "tab":
            text = text.replace("  ", "\t", 1) if draw(st.booleans()) else text[:at] + "\t" + text[at:]
        elif op == "crlf":
            text = text.replace("\n", "\r\n")
        else:
            text = text[:at]
    return text


def _key(f: rules.Finding) -> tuple[Any, ...]:
    return (f.rule.id, f.document, f.resource, f.container, f.message)


def _check_suggestion(before: str, after: str) -> None:
    found = fixes.suggestion(before, after)
    if before == after:
        assert found is None
        return
    assert found is not None
    # the replacement joins lines with \n whatever the file's line breaks: compare with CRLF normalised
    old, new = before.replace("\r\n", "\n"), after.replace("\r\n", "\n")
    lines = old.split("\n")
    count = len(lines) - 1 if old.endswith("\n") else len(lines)
    assert 1 <= found.start_line <= found.end_line <= count, (found, count)
    replacement = found.replacement.split("\n") if found.replacement else []
    rebuilt = "\n".join([*lines[:found.start_line - 1], *replacement, *lines[found.end_line:]])
    assert rebuilt == new, (found, before, after)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_scan_fix_and_suggestion_hold_on_damaged_manifests(text: str) -> None:
    report = rules.scan([("fuzz.yaml", text)], CONFIG)  # raises nothing, whatever the text
    for problem in report.problems:
        assert problem.file == "fuzz.yaml" and problem.line >= 1 and problem.cause
    for finding in report.findings:
        result = fixes.fix_finding("fuzz.yaml", text, finding, CONFIG, SETTINGS)
        if not result.fixed:
            assert result.after in ("", text)
            continue
        assert result.before == text and result.after != text
        before = Counter(_key(f) for f in report.findings)
        after = Counter(_key(f) for f in rules.scan([("fuzz.yaml", result.after)], CONFIG).findings)
        assert after[_key(finding)] < before[_key(finding)], (finding.rule.id, finding.message, result.after)
        _check_suggestion(text, result.after)
    whole = fixes.fix_file("fuzz.yaml", text, CONFIG, SETTINGS, max_safety=fixes.Safety.BEHAVIOUR)
    assert whole.before == text
    if whole.changed:
        _check_suggestion(text, whole.after)
        rest = rules.scan([("fuzz.yaml", whole.after)], CONFIG)
        # the results' findings are of the intermediate texts (messages change as fixes land): compare totals
        assert any(r.fixed for r in whole.results)
        assert len(rest.findings) < len(report.findings)
        assert Counter((p.kind, p.cause) for p in rest.problems) == Counter((p.kind, p.cause) for p in report.problems)
