"""``reason-lsp check PATH...``: the server's diagnostics pipeline on files, as a linter.

Syntax errors from tree-sitter, and the model's unlikely-code warnings unless
``--no-model``, on files and directories (``reason_lsp.workspace.walk``), configured by
``[tool.reason-lsp]`` in ``pyproject.toml`` (``reason_lsp.project_config``) with the
command line on top, printed as text, JSON, SARIF or GitHub annotations
(``reason_lsp.cli.formats``, ``reason_lsp.cli.sarif``).

Exit status: 1 if any error-severity diagnostic remains after ``--select`` /
``--ignore`` (any diagnostic at all with ``--strict``), 0 otherwise or with
``--exit-zero``; 2 for usage errors (bad options, a bad configuration) and paths
that cannot be read.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from reason_lsp import project_config
from reason_lsp.cli import formats, rules
from reason_lsp.cli.progress import ProgressBar
from reason_lsp.settings import Settings
from reason_lsp.text.diagnostics import check_path
from reason_lsp.workspace.walk import select_files

FORMATS = ("text", "json", "sarif", "github")
CACHE_ENV = "REASON_LSP_CACHE_DIR"
CACHE_NAME = ".reason-lsp-cache"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files and folders to check")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report here")
    parser.add_argument(
        "--position-encoding",
        choices=("utf-16", "utf-8", "utf-32"),
        default="utf-16",
        help="unit of columns (default utf-16, as LSP and SARIF)",
    )
    parser.add_argument("--model", help='model for "unlikely code" warnings (default embedded)')
    parser.add_argument("--no-model", action="store_true", help="syntax diagnostics only")
    parser.add_argument(
        "--threshold", type=float, help="surprisal (nats) for a warning (diagnostics.threshold)"
    )
    codes = ", ".join(rules.RULES)
    parser.add_argument(
        "--select", action="append", metavar="CODES", help=f"report only these codes ({codes})"
    )
    parser.add_argument("--ignore", action="append", metavar="CODES", help="leave these codes out")
    parser.add_argument(
        "--exclude", action="append", metavar="GLOB", help="skip paths matching (gitignore syntax)"
    )
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even with errors")
    parser.add_argument("--strict", action="store_true", help="exit 1 on any diagnostic")
    parser.add_argument("--config", metavar="PYPROJECT", help="read [tool.reason-lsp] from here")
    parser.add_argument("--cache-dir", metavar="DIR", help=f"model results cache ({CACHE_NAME})")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")


@dataclass(frozen=True)
class Options:
    """The run's choices: the configuration file, then the command line on top."""

    settings: Settings
    select: list[str]
    ignore: list[str]
    exclude: list[str]
    strict: bool
    cache_dir: Path | None


class UsageError(Exception):
    pass


def resolve_options(args: argparse.Namespace, cwd: Path) -> Options:
    """Options from ``args`` and the project's ``[tool.reason-lsp]``; raises UsageError."""
    path = Path(args.config) if args.config else project_config.find(cwd)
    if args.config and not path.is_file():
        raise UsageError(f"--config {args.config}: no such file")
    config = project_config.load(path)
    settings, problems = config.apply()
    problems = [*config.problems, *problems]
    if problems:
        raise UsageError("\n".join(f"reason-lsp check: {p}" for p in problems))
    if args.model is not None:
        settings = settings.replace(model=args.model)
    if args.threshold is not None:
        if not 0 <= args.threshold <= 100:
            raise UsageError("--threshold must be between 0 and 100 nats")
        settings = settings.replace(diagnostics_threshold=args.threshold)
    if args.no_model:
        settings = settings.replace(diagnostics_model=False)
    check = config.check
    try:
        select = rules.parse_codes(args.select if args.select else check.get("select", []))
        ignore = rules.parse_codes(args.ignore if args.ignore else check.get("ignore", []))
    except rules.UnknownCode as exc:
        raise UsageError(f"reason-lsp check: {exc}") from None
    if args.format == "sarif" and args.position_encoding == "utf-8":
        raise UsageError("reason-lsp check: SARIF columns are UTF-16 units or code points")
    return Options(
        settings=settings,
        select=select,
        ignore=ignore,
        exclude=list(args.exclude if args.exclude else check.get("exclude", [])),
        strict=args.strict or bool(check.get("strict", False)),
        cache_dir=_cache_dir(args, config, cwd),
    )


def _cache_dir(args: argparse.Namespace, config: project_config.ProjectConfig, cwd: Path):
    if args.no_cache:
        return None
    if args.cache_dir:
        return Path(args.cache_dir)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    root = config.root or cwd
    if "cache-dir" in config.check:
        return root / config.check["cache-dir"]
    return root / CACHE_NAME


def shown_path(path: Path, cwd: Path) -> str:
    """A walked path as printed: relative to the current folder when it is inside it."""
    if not path.is_absolute():
        return path.as_posix() if os.sep == "/" else str(path)
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return str(path)


def run(args: argparse.Namespace) -> int:
    cwd = Path.cwd()
    try:
        options = resolve_options(args, cwd)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    selection = select_files(args.paths, options.exclude, cwd)
    report = formats.Report(files=len(selection.files), encoding=args.position_encoding)
    bar = ProgressBar(len(selection.files))

    def note(message: str, level: str = "warning") -> None:
        report.notes.append(formats.Note(level, message))
        bar.say(message)

    for name in selection.missing:
        note(f"reason-lsp check: cannot read {name}: no such file or directory", "error")
    extra = []
    checker = None
    if options.settings.diagnostics_model:
        from reason_lsp.features.unlikely.checker import ModelChecker

        checker = ModelChecker(note, options.cache_dir, lambda: bar.show("loading the model…"))
        extra.append(checker.provider)
    for path in selection.files:
        shown = shown_path(path, cwd)
        bar.show(shown)
        try:
            found = check_path(path, options.settings, args.position_encoding, extra)
        except OSError as exc:
            note(f"reason-lsp check: cannot read {shown}: {exc.strerror or exc}", "error")
        else:
            report.findings.extend(
                formats.Finding(shown, d)
                for d in found
                if rules.chosen(d.code, options.select, options.ignore)
            )
        bar.advance()
    bar.clear()
    if not _write(args, report, cwd):
        return 2
    if not args.quiet and args.format == "text":
        print(formats.summary(report), file=sys.stderr)
    return exit_status(report, options.strict, args.exit_zero)


def _write(args: argparse.Namespace, report: formats.Report, cwd: Path) -> bool:
    if args.format == "sarif":
        from reason_lsp.cli.sarif import sarif

        body = sarif(report, cwd)
    else:
        body = {"text": formats.text, "json": formats.as_json, "github": formats.github}[
            args.format
        ](report)
    if args.output:
        try:
            Path(args.output).write_text(body + "\n" if body else "", encoding="utf-8")
        except OSError as exc:
            print(f"reason-lsp check: cannot write {args.output}: {exc}", file=sys.stderr)
            return False
    elif body:
        print(body)
    return True


def exit_status(report: formats.Report, strict: bool, exit_zero: bool) -> int:
    if any(n.level == "error" for n in report.notes):
        return 2  # a path that could not be read: the check is incomplete
    if exit_zero:
        return 0
    if strict:
        return 1 if report.findings else 0
    return 1 if any(f.severity == "error" for f in report.findings) else 0
