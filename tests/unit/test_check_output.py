"""`reason-lsp check`'s rules and output formats: text, JSON, GitHub annotations, SARIF 2.1.0
(validated against the official schema shipped in tests/data)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from lsprotocol import types

from reason_lsp.cli import formats, rules
from reason_lsp.cli.sarif import sarif
from reason_lsp.features.generation.lsp import FAILED_CODE
from reason_lsp.features.unlikely.flags import CODE as UNLIKELY
from reason_lsp.text.diagnostics import check_path

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json").read_text())


def diagnostic(line, start, end, message, code, severity=1, data=None) -> types.Diagnostic:
    return types.Diagnostic(
        range=types.Range(types.Position(line, start), types.Position(line, end)),
        message=message,
        severity=types.DiagnosticSeverity(severity),
        source="reason-lsp",
        code=code,
        data=data,
    )


def sample_report() -> formats.Report:
    return formats.Report(
        findings=[
            formats.Finding(
                "src/a.py", diagnostic(1, 4, 5, '"(" was never closed', "syntax-error")
            ),
            formats.Finding("src/a.py", diagnostic(3, 8, 8, 'missing ")"', "missing-token")),
            formats.Finding(
                "src/dir with space/ü.py",
                diagnostic(
                    0,
                    10,
                    12,
                    'unusual code: "<=" here; the model expects "<"',
                    UNLIKELY,
                    2,
                    {"replacement": "<", "surprisal": 13.2},
                ),
            ),
            formats.Finding("/elsewhere/b.py", diagnostic(5, 0, 3, "x, y: 50%\nz", UNLIKELY, 3)),
        ],
        notes=[formats.Note("warning", "reason-lsp check: no unlikely-code warnings: no torch")],
        files=3,
    )


def test_every_code_the_pipeline_emits_is_a_rule() -> None:
    assert {"syntax-error", "missing-token", UNLIKELY, FAILED_CODE} == set(rules.RULES)
    assert rules.parse_codes(["syntax-error,missing-token", " unlikely-code "]) == [
        "syntax-error", "missing-token", "unlikely-code",
    ]  # fmt: skip
    with pytest.raises(rules.UnknownCode, match="'E501'"):
        rules.parse_codes(["E501"])
    assert rules.chosen("syntax-error", [], [])
    assert not rules.chosen("syntax-error", ["unlikely-code"], [])
    assert not rules.chosen("unlikely-code", [], ["unlikely-code"])


def test_text_and_summary() -> None:
    report = sample_report()
    lines = formats.text(report).splitlines()
    assert lines[0] == 'src/a.py:2:5: error: "(" was never closed [syntax-error]'
    assert lines[2].startswith("src/dir with space/ü.py:1:11: warning: unusual code")
    assert formats.summary(report) == "2 errors, 1 warning, 1 information in 3 files"
    assert formats.summary(formats.Report(files=1)) == "no problems in 1 file"


def test_json_records_are_lsp_shaped() -> None:
    records = json.loads(formats.as_json(sample_report()))
    assert records[1] == {
        "path": "src/a.py",
        "range": {"start": {"line": 3, "character": 8}, "end": {"line": 3, "character": 8}},
        "severity": "error",
        "message": 'missing ")"',
        "source": "reason-lsp",
        "code": "missing-token",
    }
    assert records[2]["data"] == {"replacement": "<", "surprisal": 13.2}


def test_github_annotations_escape_what_the_workflow_syntax_reserves() -> None:
    lines = formats.github(sample_report()).splitlines()
    assert lines[0] == (
        "::error file=src/a.py,line=2,col=5,endLine=2,endColumn=6,"
        'title=reason-lsp syntax-error::"(" was never closed'
    )
    assert lines[2].startswith("::warning file=src/dir with space/ü.py,line=1,col=11,")
    # information -> notice; "%", newlines, and ":"/"," in properties are escaped
    assert lines[3] == (
        "::notice file=/elsewhere/b.py,line=6,col=1,endLine=6,endColumn=4,"
        "title=reason-lsp unlikely-code::x, y: 50%25%0Az"
    )
    assert (
        lines[4]
        == "::warning title=reason-lsp::reason-lsp check: no unlikely-code warnings: no torch"
    )


def test_sarif_is_valid_against_the_official_schema(tmp_path: Path) -> None:
    log = json.loads(sarif(sample_report(), cwd=Path("/work/repo")))
    jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    run = log["runs"][0]
    assert log["version"] == "2.1.0"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(rules.RULES)
    first, _, unlikely, outside = run["results"]
    assert first["ruleId"] == "syntax-error" and first["level"] == "error"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "src/a.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 2, "startColumn": 5, "endLine": 2, "endColumn": 6}
    assert unlikely["level"] == "warning"
    assert unlikely["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "src/dir%20with%20space/%C3%BC.py"
    )
    change = unlikely["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert change["insertedContent"] == {"text": "<"}
    assert outside["level"] == "note"
    assert outside["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "file:///elsewhere/b.py"
    }
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///work/repo/"
    assert run["columnKind"] == "utf16CodeUnits"
    notification = run["invocations"][0]["toolExecutionNotifications"][0]
    assert notification["level"] == "warning" and "no torch" in notification["message"]["text"]
    assert run["invocations"][0]["executionSuccessful"] is True


def test_sarif_of_real_diagnostics_and_of_nothing_is_valid(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('s = "😋"\nif x\n    pass\nprint((1)\n', encoding="utf-8")
    found = [formats.Finding("bad.py", d) for d in check_path(bad)]
    assert {f.diagnostic.code for f in found} <= {"syntax-error", "missing-token"} and found
    for report in (formats.Report(found, files=1), formats.Report()):
        log = json.loads(sarif(report, cwd=tmp_path))
        jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    unreadable = formats.Report(notes=[formats.Note("error", "cannot read x.py")])
    log = json.loads(sarif(unreadable, cwd=tmp_path))
    jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is False
    utf32 = json.loads(sarif(formats.Report(encoding="utf-32"), cwd=tmp_path))
    assert utf32["runs"][0]["columnKind"] == "unicodeCodePoints"


def test_the_schema_rejects_a_broken_log() -> None:
    """The shipped schema really checks: a result without its message is refused."""
    log = json.loads(sarif(sample_report(), cwd=Path("/work/repo")))
    del log["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
