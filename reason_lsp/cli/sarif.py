"""``reason-lsp check --format sarif``: a SARIF 2.1.0 log, for GitHub code scanning.

One run with the rules of ``reason_lsp.cli.rules``, one result per diagnostic, and
the run's notes (no model, an unreadable file) as tool execution notifications.
Paths are relative to ``%SRCROOT%`` (the current folder, where CI checks out the
repository) when inside it, so code scanning can place them; columns are UTF-16
code units (``columnKind``) unless the check counted code points. An unlikely-code
result carries the model's replacement as a SARIF fix. The tests validate the output
against the official 2.1.0 schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from lsprotocol import types

from reason_lsp import __version__
from reason_lsp.cli.formats import Finding, Report
from reason_lsp.cli.rules import RULES

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
COLUMN_KINDS = {"utf-16": "utf16CodeUnits", "utf-32": "unicodeCodePoints"}
_LEVELS = {"error": "error", "warning": "warning", "information": "note", "hint": "note"}


def _artifact(path: str, cwd: Path) -> dict[str, str]:
    absolute = (cwd / path).resolve()
    try:
        rel = absolute.relative_to(cwd.resolve())
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(rel.as_posix()), "uriBaseId": "%SRCROOT%"}


def _region(r: types.Range) -> dict[str, int]:
    # SARIF lines and columns are 1-based and the end column is exclusive, as in LSP.
    return {
        "startLine": r.start.line + 1,
        "startColumn": r.start.character + 1,
        "endLine": r.end.line + 1,
        "endColumn": r.end.character + 1,
    }


def _result(f: Finding, index: dict[str, int], cwd: Path) -> dict[str, object]:
    d = f.diagnostic
    code = str(d.code)
    where = {"artifactLocation": _artifact(f.path, cwd), "region": _region(d.range)}
    result: dict[str, object] = {
        "ruleId": code,
        "level": _LEVELS[f.severity],
        "message": {"text": d.message},
        "locations": [{"physicalLocation": where}],
    }
    if code in index:
        result["ruleIndex"] = index[code]
    replacement = d.data.get("replacement") if isinstance(d.data, dict) else None
    if isinstance(replacement, str):
        result["fixes"] = [
            {
                "description": {"text": f'Replace with "{replacement}"'},
                "artifactChanges": [
                    {
                        "artifactLocation": where["artifactLocation"],
                        "replacements": [
                            {
                                "deletedRegion": _region(d.range),
                                "insertedContent": {"text": replacement},
                            }
                        ],
                    }
                ],
            }
        ]
    return result


def sarif(report: Report, cwd: Path | None = None) -> str:
    cwd = cwd or Path.cwd()
    rules = list(RULES.values())
    index = {r.code: i for i, r in enumerate(rules)}
    run: dict[str, object] = {
        "tool": {
            "driver": {
                "name": "reason-lsp",
                "version": __version__,
                "rules": [
                    {
                        "id": r.code,
                        "name": r.name,
                        "shortDescription": {"text": r.summary.split(": ")[0].rstrip(".")},
                        "fullDescription": {"text": r.summary},
                        "defaultConfiguration": {"level": r.level},
                    }
                    for r in rules
                ],
            }
        },
        "invocations": [
            {
                "executionSuccessful": not any(n.level == "error" for n in report.notes),
                "toolExecutionNotifications": [
                    {"level": n.level, "message": {"text": n.message}} for n in report.notes
                ],
            }
        ],
        "originalUriBaseIds": {"%SRCROOT%": {"uri": cwd.resolve().as_uri() + "/"}},
        "columnKind": COLUMN_KINDS.get(report.encoding, "utf16CodeUnits"),
        "results": [_result(f, index, cwd) for f in report.findings],
    }
    log = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False)
