"""What the subcommands share: reading a file position, and diagnostics as records."""

from __future__ import annotations

import sys
from pathlib import Path

from lsprotocol import types

SEVERITY_NAMES = {1: "error", 2: "warning", 3: "information", 4: "hint"}


def read_position(
    prog: str, path: Path, line: int, col: int | None = None
) -> tuple[str, int] | None:
    """A file's text and the offset of 1-based ``line``/``col`` (no ``col``: the line's first
    non-blank character); None, after saying why on stderr, when it cannot be read or
    the position is outside it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"reason-lsp {prog}: cannot read {path}: {exc}", file=sys.stderr)
        return None
    lines = text.split("\n")
    where = f"line {line}" if col is None else f"{line}:{col}"
    if not 1 <= line <= len(lines) or (
        col is not None and not 1 <= col <= len(lines[line - 1]) + 1
    ):
        print(f"reason-lsp {prog}: {where} is outside {path}", file=sys.stderr)
        return None
    current = lines[line - 1]
    column = len(current) - len(current.lstrip()) if col is None else col - 1
    return text, sum(len(x) + 1 for x in lines[: line - 1]) + column


def diagnostic_record(path: str, d: types.Diagnostic) -> dict[str, object]:
    """One diagnostic as the JSON the CLIs print (LSP-style 0-based range); ``data`` (an
    unlikely-code warning's replacement and surprisal) only when it has some."""
    record: dict[str, object] = {
        "path": path,
        "range": {
            "start": {"line": d.range.start.line, "character": d.range.start.character},
            "end": {"line": d.range.end.line, "character": d.range.end.character},
        },
        "severity": SEVERITY_NAMES.get(int(d.severity or 1), "error"),
        "message": d.message,
        "source": d.source,
        "code": d.code,
    }
    if d.data is not None:
        record["data"] = d.data
    return record
