"""Fix benchmark: ``fixes.fix_file`` on every manifest of a corpus of real files.

    python benchmarks/fix_corpus.py [--corpus DIR] [--rule ID ...]

Prints figures; asserts nothing. Two runs over every ``*.yaml``/``*.yml`` under the corpus
(default ``../shared/corpus``, relative to the repository root):

* ``default``: the built-in configuration, ``--safety value`` (the CLI's default);
* ``mirror``: ``fixes.registryMirror`` maps ``docker.io/library`` and ``docker.io`` to
  ``myacr.azurecr.io``, ``allowedContainerImagesRegex`` is ``^myacr\\.azurecr\\.io/``,
  ``--safety all``.

For each run: findings (unsuppressed, enabled) of the original files, verified fixes applied,
the findings left manual grouped by reason (numbers, ports, names and paths normalised so
identical reasons group), files changed, exceptions escaping ``fix_file`` (caught per file and
printed; must be 0), and fixes per second (fixes applied / time spent in ``fix_file``). A
markdown table per rule closes each run. Reasons starting with ``withdrawn:`` are edits that
were computed but failed verification: each is a bug or a genuinely impossible edit.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import fixes
import rules

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"

MIRROR_CONFIG = r"""
rules:
  container-allowed-images:
    allowedContainerImagesRegex: '^myacr\.azurecr\.io/'
fixes:
  registryMirror:
    docker.io/library: myacr.azurecr.io
    docker.io: myacr.azurecr.io
"""


@dataclass
class RunStats:
    name: str
    files: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    fixed: Counter[str] = field(default_factory=Counter)
    manual: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[tuple[str, str], str] = field(default_factory=dict)  # (rule, reason) -> first file:line
    unmirrored: Counter[str] = field(default_factory=Counter)  # registries with no fixes.registryMirror entry
    changed: int = 0
    exceptions: list[tuple[str, str]] = field(default_factory=list)
    problems: int = 0
    seconds: float = 0.0


_NORMALISE = [
    (re.compile(r"\b(for|of) [a-z0-9][\w.-]*\.[a-z]{2,}(?=[:\s]|$)"), r"\1 <registry>"),  # a registry host
    (re.compile(r"mirrored image \S+"), "mirrored image <image>"),
    (re.compile(r"\(([\w-]+): .*\)$"), r"(\1: …)"),  # the message of a new finding
    (re.compile(r"\b\d+\b"), "N"),
]


_REGISTRY = re.compile(r"^no fixes\.registryMirror entry for (\S+):")


def normalise(reason: str) -> str:
    """A reason with its numbers, registries and quoted values replaced, so equal causes group."""
    for pattern, repl in _NORMALISE:
        reason = pattern.sub(repl, reason)
    return reason


def corpus_paths(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))


def run(name: str, corpus: Path, config: rules.Config, safety: fixes.Safety,
        rule_ids: Sequence[str] | None) -> RunStats:
    stats = RunStats(name)
    settings = fixes.settings_from_config(config)
    for path in corpus_paths(corpus):
        rel = str(path.relative_to(corpus))
        text = rules.decode(rel, path.read_bytes())
        stats.files += 1
        if isinstance(text, rules.Problem):
            stats.problems += 1
            continue
        try:
            report = rules.scan_file(rel, text, config)
            stats.problems += len(report.problems)
            for f in report.findings:
                if not f.suppressed and f.effect is not rules.Effect.DISABLED and \
                        (rule_ids is None or f.rule.id in rule_ids):
                    stats.findings[f.rule.id] += 1
            start = time.perf_counter()
            result = fixes.fix_file(rel, text, config, settings, rule_ids=rule_ids, max_safety=safety)
            stats.seconds += time.perf_counter() - start
        except Exception:  # the benchmark counts and prints every escape
            stats.exceptions.append((rel, traceback.format_exc()))
            continue
        stats.changed += result.changed
        for r in result.results:
            rule_id = r.finding.rule.id
            if r.fixed:
                stats.fixed[rule_id] += 1
            else:
                reason = normalise(r.reason)
                registry = _REGISTRY.search(r.reason)
                if registry:
                    stats.unmirrored[registry.group(1)] += 1
                stats.manual[rule_id][reason] += 1
                stats.examples.setdefault((rule_id, reason), f"{rel}:{r.finding.line} ({r.reason})")
    return stats


def report(stats: RunStats, description: str) -> None:
    fixed = sum(stats.fixed.values())
    manual = sum(sum(c.values()) for c in stats.manual.values())
    print(f"\n## {stats.name}: {description}\n")
    print(f"files          {stats.files:8d}  ({stats.problems} parse problems)")
    print(f"findings       {sum(stats.findings.values()):8d}")
    print(f"fixes applied  {fixed:8d}  (each verified: re-parsed, re-scanned, data diffed)")
    print(f"manual         {manual:8d}")
    print(f"files changed  {stats.changed:8d}")
    print(f"exceptions     {len(stats.exceptions):8d}  (must be 0)")
    rate = fixed / stats.seconds if stats.seconds else 0.0
    print(f"fix_file time  {stats.seconds:8.2f} s  ({rate:.1f} fixes per second, verification included)")
    for path, text in stats.exceptions:
        print(f"  EXCEPTION in {path}:\n" + "\n".join("    " + line for line in text.rstrip().splitlines()))

    reasons: Counter[str] = Counter()
    for counter in stats.manual.values():
        reasons.update(counter)
    print("\nmanual results by reason:\n")
    for reason, n in reasons.most_common():
        print(f"  {n:5d}  {reason}")
    withdrawn = [(rule, reason) for rule, c in stats.manual.items() for reason in c if reason.startswith("withdrawn")]
    if withdrawn:
        print("\nwithdrawn (computed but failed verification), first occurrence:\n")
        for key in sorted(withdrawn):
            print(f"  {key[0]}: {stats.examples[key]}")
    else:
        print("\nwithdrawn (computed but failed verification): none")

    if stats.unmirrored:
        names = ", ".join(f"{name} {n}" for name, n in stats.unmirrored.most_common())
        print(f"\nregistries without a mirror: {names}")

    print("\n\"by another fix\": findings gone once a fix of another finding was applied (the privilege-escalation")
    print("fix also sets privileged: false; removing hostNetwork drops the host ports it implied; ...).\n")
    print("| rule | findings | fixed | by another fix | manual | top manual reasons |")
    print("|---|---:|---:|---:|---:|---|")
    for rule_id in sorted(set(stats.findings) | set(stats.fixed) | set(stats.manual)):
        top = stats.manual.get(rule_id, Counter())
        tops = "; ".join(f"{n}× {reason}" for reason, n in top.most_common(3)) or "–"
        other = stats.findings[rule_id] - stats.fixed[rule_id] - sum(top.values())
        print(f"| {rule_id} | {stats.findings[rule_id]} | {stats.fixed[rule_id]} | {other} | {sum(top.values())} | "
              f"{tops.replace('|', '∣')} |")
    other = sum(stats.findings.values()) - fixed - manual
    print(f"| **total** | {sum(stats.findings.values())} | {fixed} | {other} | {manual} | |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=f"default: {DEFAULT_CORPUS}")
    parser.add_argument("--rule", action="append", metavar="ID", help="only this rule (repeatable)")
    args = parser.parse_args(argv)
    corpus: Path = args.corpus.resolve()
    if not corpus.is_dir():
        print(f"error: corpus directory {corpus} not found; give one with --corpus DIR "
              "(a folder of Kubernetes manifests, *.yaml/*.yml, searched recursively)", file=sys.stderr)
        return 2
    if not corpus_paths(corpus):
        print(f"error: no *.yaml/*.yml files under {corpus}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.rule or ()) - set(rules.rule_ids()))
    if unknown:
        parser.error(f"unknown rule id(s): {', '.join(unknown)}")
    print(f"# kubeguard fix benchmark: {corpus} ({len(corpus_paths(corpus))} files)")
    runs = [
        ("default", "built-in configuration, --safety value", rules.default_config(), fixes.Safety.VALUE),
        ("mirror", "registryMirror docker.io(/library) -> myacr.azurecr.io, images ^myacr\\.azurecr\\.io/, "
         "--safety all", rules.load_config(MIRROR_CONFIG, "<mirror config>"), fixes.Safety.BEHAVIOUR),
    ]
    for name, description, config, safety in runs:
        report(run(name, corpus, config, safety, args.rule), description)
    return 0


if __name__ == "__main__":
    sys.exit(main())
