"""``kubeguard`` command line: scan, rules, docs.

Kept light on purpose: nothing here imports Flask or PyGithub, so a scan starts fast.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import rules
from bot import formats
from bot.docs import render_rules_markdown, render_rules_text

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
DOCS_PATH = Path("docs/rules.md")


class UsageError(Exception):
    pass


def _iter_paths(paths: Sequence[str], problems: list[rules.Problem], root: Path | None = None) -> Iterator[Path]:
    """The files to read. In a directory: its ``.yaml``/``.yml`` files, hidden names skipped, and **no symlink
    followed**, to a file or a directory, pointing inside the tree or out of it: each is reported in ``problems``
    (its name and why) and the rest is still walked. A path named on the command line is read even if it is a
    symlink (the user chose it), unless ``root`` is given and its real path lies outside ``root``.

    Why not follow a link that stays inside: its target is scanned at its own path anyway (following would
    report the same findings twice, under two names), a chain of links is where an escape hides, and the pull
    request pipeline does the same (GitHub's diff of a link is its target's name, not content), so every entry
    point sees the same files.
    """
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"{raw}: no such file or directory")
        if root is not None and not _inside(path, root):
            problems.append(symlink_problem(path, root) if path.is_symlink() else
                            rules.Problem(str(path), 1, 1, f"outside {root}: not read", "skipped"))
        elif path.is_dir():
            yield from _walk(path, problems, root or path)
        else:
            yield path


def _walk(top: Path, problems: list[rules.Problem], root: Path) -> list[Path]:
    found: list[Path] = []
    for here, dirs, names in os.walk(top):  # os.walk never descends into a symlinked directory by itself
        base = Path(here)
        keep = []
        for d in sorted(dirs):
            if d.startswith("."):
                continue
            if (base / d).is_symlink():
                problems.append(symlink_problem(base / d, root))
            else:
                keep.append(d)
        dirs[:] = keep
        for n in names:
            if n.startswith(".") or not n.endswith((".yaml", ".yml")):
                continue
            if (base / n).is_symlink():
                problems.append(symlink_problem(base / n, root))
            else:
                found.append(base / n)
    return sorted(found)


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return False


def symlink_problem(link: Path, root: Path) -> rules.Problem:
    """Why a symlink is not read: where it points (outside ``root``, nowhere, in a loop, or inside)."""
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    try:
        real = link.resolve(strict=True)
    except FileNotFoundError:
        cause = f"broken symlink (to {target}): not followed"
    except (OSError, RuntimeError):  # ELOOP: Python 3.11 raises RuntimeError("Symlink loop ...") or OSError
        cause = f"symlink loop (to {target}): not followed"
    else:
        if real.is_relative_to(root.resolve()):
            cause = f"symlink to {target}: not followed (kubeguard reads a file at its own path only)"
        else:
            cause = f"symlink to {target}, outside {root}: never followed, not read"
    return rules.Problem(str(link), 1, 1, cause, "skipped")


def iter_inputs(paths: Sequence[str], unreadable: list[rules.Problem],
                root: Path | None = None) -> Iterator[tuple[str, bytes]]:
    """(display path, bytes) one file at a time; ``-`` reads standard input. Read errors and symlinks not
    followed go to ``unreadable``; ``root``: read nothing whose real path is outside it (the Action's workspace)."""
    for raw in paths:
        if raw == "-":
            yield "<stdin>", sys.stdin.buffer.read()
            continue
        for path in _iter_paths([raw], unreadable, root):
            try:
                yield str(path), path.read_bytes()
            except OSError as exc:
                unreadable.append(rules.Problem(str(path), 1, 1, f"cannot read: {exc.strerror}", "parse"))


def find_config(paths: Sequence[str], root: Path | None = None) -> Path | None:
    """``.kubeguard.yaml`` at the scanned repository's root (walking up to the directory holding .git, and no
    higher than ``root``)."""
    first = next((p for p in paths if p != "-"), ".")
    start = Path(os.path.abspath(first))  # not resolved: a symlink named here does not move the search
    current = start if start.is_dir() and not start.is_symlink() else start.parent
    top = root.resolve() if root is not None else None
    for directory in (current, *current.parents):
        candidate = directory / rules.CONFIG_FILE
        if candidate.is_file():
            return candidate
        if (directory / ".git").exists() or (top is not None and directory.resolve() == top):
            break
    return None


def load_config(explicit: str | None, paths: Sequence[str], root: Path | None = None) -> rules.Config:
    path = Path(explicit) if explicit else find_config(paths, root)
    if path is None:
        return rules.default_config()
    if root is not None and not _inside(path, root):
        raise rules.ConfigError(str(path), 1, f"outside {root}" + (" (a symlink)" if path.is_symlink() else "")
                                + ": not read")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise rules.ConfigError(str(path), 1, f"cannot read configuration: {exc}") from None
    return rules.load_config(text, str(path))


def _root(args: argparse.Namespace) -> Path | None:
    if args.root is None:
        return None
    root = Path(args.root)
    if not root.is_dir():
        raise UsageError(f"--root {args.root}: not a directory")
    return root


def cmd_scan(args: argparse.Namespace) -> int:
    root = _root(args)
    config = load_config(args.config, args.paths, root)
    unreadable: list[rules.Problem] = []
    report = rules.scan(iter_inputs(args.paths, unreadable, root), config)
    report.problems.extend(unreadable)
    report.findings.sort(key=lambda f: (f.file, f.line, f.column, f.rule.id))
    colour = args.format == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    sys.stdout.write(formats.render(args.format, report, config, colour))
    return EXIT_FINDINGS if formats.fails(report, args.fail_on) else EXIT_OK


def cmd_fix(args: argparse.Namespace) -> int:
    """Print (--diff) or write (--write) the verified fixes; never writes a file whose fix failed verification."""
    import fixes  # not needed by scan: keep it off the scan's start-up path

    root = _root(args)
    config = load_config(args.config, args.paths, root)
    settings = fixes.settings_from_config(config)
    safety = {"safe": fixes.Safety.SAFE, "value": fixes.Safety.VALUE, "all": fixes.Safety.BEHAVIOUR}[args.safety]
    unknown = sorted(set(args.rule or ()) - set(rules.rule_ids()))
    if unknown:
        raise UsageError(f"unknown rule id(s): {', '.join(unknown)}")
    unreadable: list[rules.Problem] = []
    changed = False
    for name, data in iter_inputs(args.paths, unreadable, root):
        text = rules.decode(name, data)
        if isinstance(text, rules.Problem):
            print(f"{text}: not fixed", file=sys.stderr)
            continue
        result = fixes.fix_file(name, text, config, settings, rule_ids=args.rule, max_safety=safety)
        for problem in result.problems:
            if problem.kind != "suppression":  # the file (or a document of it) could not be read
                print(f"{problem}: not fixed", file=sys.stderr)
        for r in result.results:
            if not r.fixed:
                f = r.finding
                print(f"{f.file}:{f.line}: manual: {f.rule.id}: {r.reason}", file=sys.stderr)
        if not result.changed:
            continue
        changed = True
        if args.write and name != "<stdin>":
            _write_atomically(Path(name), result.after)
            print(f"fixed {name} ({sum(r.fixed for r in result.results)} fix(es))", file=sys.stderr)
        else:
            sys.stdout.write(fixes.unified_diff(name, text, result.after))
    for problem in unreadable:
        print(f"{problem}: not fixed", file=sys.stderr)
    if args.write:
        return EXIT_OK
    return EXIT_FINDINGS if changed else EXIT_OK


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the target and rename over it: a reader never sees half a file."""
    import tempfile

    mode = path.stat().st_mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".kubeguard", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cmd_rules(args: argparse.Namespace) -> int:
    profile = rules.Profile(args.profile)
    sys.stdout.write(render_rules_text(profile))
    return EXIT_OK


def cmd_docs(args: argparse.Namespace) -> int:
    text = render_rules_markdown()
    target = Path(args.output)
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is stale: run `kubeguard docs`", file=sys.stderr)
            return EXIT_FINDINGS
        return EXIT_OK
    if args.output == "-":
        sys.stdout.write(text)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    """Review one pull request through the API, as the webhook's workers do (``--dry-run``: print, post nothing)."""
    from bot.github_client import GitHubClient
    from bot.pipeline import Options, review_pull_request

    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        raise UsageError("set GITHUB_TOKEN to a token that may read the repository (and write, unless --dry-run)")
    client = GitHubClient(args.repo, token=token)
    options = Options(filter_mode=args.filter, fail_on=args.fail_on, max_comments=args.max_comments,
                      dry_run=args.dry_run, bot_login=args.bot_login)
    outcome = review_pull_request(client, args.pr, options)
    if outcome.plan is None:
        print(f"kubeguard: {outcome.config_error or outcome.skipped}", file=sys.stderr)
        return EXIT_USAGE if outcome.config_error else EXIT_OK
    if args.dry_run:
        sys.stdout.write(outcome.plan.summary + "\n")
        for c in outcome.plan.comments:
            sys.stdout.write(f"\n--- {c.path}:{c.start_line or c.line}-{c.line}\n{c.body}\n")
    print(f"kubeguard: {outcome.findings} finding(s), {len(outcome.plan.comments)} inline comment(s), "
          f"conclusion {outcome.plan.check.conclusion.value}", file=sys.stderr)
    return EXIT_FINDINGS if outcome.plan.check.conclusion.value == "failure" else EXIT_OK


def cmd_action(args: argparse.Namespace) -> int:
    from bot import action

    return action.run(os.environ, args.paths)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubeguard", description="Azure Defender for Kubernetes rules for "
                                     "manifests and pull requests.")
    sub = parser.add_subparsers(dest="command", required=True)

    scan = sub.add_parser("scan", help="scan manifests (files, directories, - for stdin)")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text")
    scan.add_argument("--config", metavar="FILE", help="configuration (default: .kubeguard.yaml at the repo root)")
    scan.add_argument("--fail-on", choices=("deny", "audit", "never"), default="deny",
                      help="exit 1 when a finding with this effect or stronger remains (default: deny)")
    scan.add_argument("--root", metavar="DIR",
                      help="read nothing whose real path is outside DIR (the Action passes its workspace)")
    scan.set_defaults(func=cmd_scan)

    fix = sub.add_parser("fix", help="apply verified fixes (print a diff, or write the files)")
    fix.add_argument("paths", nargs="+", metavar="PATH")
    mode = fix.add_mutually_exclusive_group()
    mode.add_argument("--diff", action="store_true", help="print a unified diff; exit 1 if anything would change "
                      "(the default)")
    mode.add_argument("--write", action="store_true", help="edit the files in place")
    fix.add_argument("--rule", action="append", metavar="ID", help="only this rule (repeatable)")
    fix.add_argument("--safety", choices=("safe", "value", "all"), default="value",
                     help="which fixes to apply: safe flags only, also configured values (default), or also "
                          "fixes that change behaviour")
    fix.add_argument("--config", metavar="FILE")
    fix.add_argument("--root", metavar="DIR",
                     help="read nothing whose real path is outside DIR (the Action passes its workspace)")
    fix.set_defaults(func=cmd_fix)

    rules_cmd = sub.add_parser("rules", help="list the rules and their parameters")
    rules_cmd.add_argument("--profile", choices=[p.value for p in rules.Profile], default="azure-current")
    rules_cmd.set_defaults(func=cmd_rules)

    docs = sub.add_parser("docs", help="generate docs/rules.md from the rule declarations")
    docs.add_argument("--output", default=str(DOCS_PATH), help="target file, or - for standard output")
    docs.add_argument("--check", action="store_true", help="exit 1 if the file is not current")
    docs.set_defaults(func=cmd_docs)

    review = sub.add_parser("review", help="review a pull request through the GitHub API (token in GITHUB_TOKEN; "
                                           "GITHUB_API_URL for GitHub Enterprise Server)")
    review.add_argument("--repo", required=True, metavar="OWNER/NAME")
    review.add_argument("--pr", required=True, type=int, metavar="NUMBER")
    review.add_argument("--filter", choices=("added", "diff_context", "file", "nofilter"),
                        help="which findings to show (default: the base branch's filter:, else diff_context)")
    review.add_argument("--fail-on", choices=("deny", "audit", "never"))
    review.add_argument("--max-comments", type=int)
    review.add_argument("--bot-login", default="kubeguard[bot]",
                        help="the login the token comments as (to find its earlier comments)")
    review.add_argument("--dry-run", action="store_true", help="print the review instead of posting it")
    review.set_defaults(func=cmd_review)

    action_cmd = sub.add_parser("action", help="the GitHub Action's entry point (reads GITHUB_EVENT_PATH)")
    action_cmd.add_argument("paths", nargs="*", metavar="PATH", help="what to scan on non-pull-request events")
    action_cmd.set_defaults(func=cmd_action)

    from bot import serve as service  # imports neither Flask nor gunicorn until a command runs

    service.add_serve_arguments(sub, handler_factory=_job_handler)
    service.add_jobs_arguments(sub)

    worker = sub.add_parser("worker", help="run an RQ worker for the Redis queue (KUBEGUARD_REDIS_URL)",
                            description="Reviews the jobs the webhook queued on Redis. Environment: "
                                        "KUBEGUARD_REDIS_URL and the variables of `kubeguard serve`. "
                                        "KUBEGUARD_WORKER_HEARTBEAT=seconds (default 5) sets how fast a "
                                        "killed worker's job is taken over (about 4 heartbeats). "
                                        "KUBEGUARD_JOB_HANDLER=module:function (a test/ops hook) runs that "
                                        "function on each job instead of the review.")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.add_argument("--simple", action="store_true", help="run jobs in this process (no fork per job)")
    worker.set_defaults(func=cmd_worker)
    return parser


def cmd_worker(args: argparse.Namespace) -> int:
    from bot import logs, rq_queue, rq_worker
    from bot.serve import ServiceSettings, SettingsError

    hook = os.environ.get(rq_queue.HANDLER_ENV, "").strip()
    try:
        settings = ServiceSettings.from_env(os.environ, need_secrets=not hook)
        handler = rq_queue.load_handler(hook) if hook else _job_handler(settings)
        timing = rq_worker.WorkerSettings.from_env(os.environ)
    except (SettingsError, ValueError, ImportError, AttributeError) as exc:
        raise UsageError(f"configuration error: {exc}") from None
    if not settings.redis_url:
        raise UsageError("set KUBEGUARD_REDIS_URL (redis://host:6379/0): the worker drains the Redis queue")
    logs.configure(os.environ.get("KUBEGUARD_LOG_LEVEL", "INFO").upper())
    preload = None if hook else functools.partial(rq_worker.preload_review, settings)
    rq_worker.run_worker(settings.redis_url, burst=args.burst, simple=args.simple, handler=handler,  # type: ignore[arg-type]
                         settings=timing, service=settings, preload=preload)
    return EXIT_OK


def _job_handler(settings: object) -> object:
    from bot.pipeline import run_job

    return functools.partial(run_job, settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except rules.ConfigError as exc:
        print(f"kubeguard: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"kubeguard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
