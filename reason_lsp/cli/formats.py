"""What ``reason-lsp check`` prints: text, JSON and GitHub workflow annotations.

All formats take one :class:`Report`. Text is ``path:line:col: severity: message
[code]`` (1-based, columns in the chosen position encoding's units); JSON is a list
of LSP-shaped records (``reason_lsp.cli.common.diagnostic_record``); ``github`` is
one workflow command per diagnostic (``::error file=...,line=...::message``), which
GitHub Actions shows on the pull request's lines. SARIF lives in
``reason_lsp.cli.sarif``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lsprotocol import types

from reason_lsp.cli.common import SEVERITY_NAMES, diagnostic_record


@dataclass(frozen=True)
class Finding:
    path: str  # as shown: relative to the current folder when inside it
    diagnostic: types.Diagnostic

    @property
    def severity(self) -> str:
        return SEVERITY_NAMES.get(int(self.diagnostic.severity or 1), "error")


@dataclass(frozen=True)
class Note:
    """Something about the run rather than a file's code (no model, an unreadable file)."""

    level: str  # "error" | "warning"
    message: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    files: int = 0
    encoding: str = "utf-16"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.severity] = out.get(f.severity, 0) + 1
        return out


def text(report: Report) -> str:
    lines = []
    for f in report.findings:
        start = f.diagnostic.range.start
        lines.append(
            f"{f.path}:{start.line + 1}:{start.character + 1}: "
            f"{f.severity}: {f.diagnostic.message} [{f.diagnostic.code}]"
        )
    return "\n".join(lines)


def summary(report: Report) -> str:
    """One line for stderr: ``2 errors, 1 warning in 14 files``."""
    counts = report.counts()
    if not counts:
        return f"no problems in {_plural(report.files, 'file')}"
    order = ("error", "warning", "information", "hint")
    parts = [_plural(counts[s], s) for s in order if s in counts]
    return f"{', '.join(parts)} in {_plural(report.files, 'file')}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 or word == "information" else "s")


def as_json(report: Report) -> str:
    return json.dumps(
        [diagnostic_record(f.path, f.diagnostic) for f in report.findings],
        indent=2,
        ensure_ascii=False,
    )


#: Diagnostic severity -> workflow command (GitHub has no "information" level).
_GITHUB_COMMANDS = {
    "error": "error",
    "warning": "warning",
    "information": "notice",
    "hint": "notice",
}


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(report: Report) -> str:
    """GitHub Actions workflow commands, one per diagnostic (and per note)."""
    lines = []
    for f in report.findings:
        r = f.diagnostic.range
        props = {
            "file": f.path,
            "line": r.start.line + 1,
            "col": r.start.character + 1,
            "endLine": r.end.line + 1,
            "endColumn": r.end.character + 1,
            "title": f"reason-lsp {f.diagnostic.code}",
        }
        rendered = ",".join(f"{k}={_escape_property(str(v))}" for k, v in props.items())
        command = _GITHUB_COMMANDS[f.severity]
        lines.append(f"::{command} {rendered}::{_escape_data(f.diagnostic.message)}")
    for note in report.notes:
        command = "error" if note.level == "error" else "warning"
        lines.append(f"::{command} title=reason-lsp::{_escape_data(note.message)}")
    return "\n".join(lines)
