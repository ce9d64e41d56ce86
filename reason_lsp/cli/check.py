"""``reason-lsp check PATH...``: the server's diagnostics pipeline on files, as a linter.

Syntax errors from tree-sitter, and the model's unlikely-code warnings unless
``--no-model``. Exit status: 1 if any error-severity diagnostic, 0 otherwise, 2 for
usage errors or unreadable files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reason_lsp.cli.common import diagnostic_record
from reason_lsp.text.diagnostics import check_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files to check")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--position-encoding",
        choices=("utf-16", "utf-8", "utf-32"),
        default="utf-16",
        help="unit of columns (default utf-16, as LSP)",
    )
    parser.add_argument(
        "--model", default="embedded", help='model for "unlikely code" warnings (default embedded)'
    )
    parser.add_argument("--no-model", action="store_true", help="syntax diagnostics only")


def run(args: argparse.Namespace) -> int:
    extra = []
    if not args.no_model:
        from reason_lsp.features.unlikely.checker import ModelChecker

        extra.append(ModelChecker(args.model, lambda m: print(m, file=sys.stderr)).provider)

    records: list[dict[str, object]] = []
    errors = unreadable = 0
    for name in args.paths:
        path = Path(name)
        try:
            if path.is_dir():
                raise IsADirectoryError(f"{name} is a directory")
            diagnostics = check_path(path, encoding=args.position_encoding, extra=extra)
        except OSError as exc:
            print(f"reason-lsp check: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
            unreadable += 1
            continue
        for d in diagnostics:
            record = diagnostic_record(name, d)
            errors += record["severity"] == "error"
            records.append(record)
    if args.format == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
    else:
        for r in records:
            start = r["range"]["start"]  # type: ignore[index]
            print(
                f"{r['path']}:{start['line'] + 1}:{start['character'] + 1}: "
                f"{r['severity']}: {r['message']} ({r['source']})"
            )
    if unreadable:
        return 2
    return 1 if errors else 0
