"""Syntax diagnostics: narrowed ranges and actionable messages."""

from __future__ import annotations

import pytest
from lsprotocol import types

from reason_lsp.settings import Settings
from reason_lsp.text.diagnostics import collect, snapshot_for_text
from reason_lsp.text.positions import UTF8, UTF16


def diags(text: str, language_id: str = "python", encoding: str = UTF16) -> list[types.Diagnostic]:
    return collect(snapshot_for_text("file:///t", text, language_id, encoding), Settings())


def where(d: types.Diagnostic) -> tuple[int, int, int, int]:
    r = d.range
    return r.start.line, r.start.character, r.end.line, r.end.character


@pytest.mark.parametrize(
    ("text", "message", "span"),
    [
        ("def f(:\n  pass\n", 'missing ")"', (0, 6, 0, 6)),
        ("if x:\n  y\nelse\n  z\n", 'unexpected "else"', (2, 0, 2, 4)),
        ("total = sum(values\nreturn total\n", '"(" was never closed', (0, 11, 0, 12)),
        ("return )\n", 'unmatched ")"', (0, 7, 0, 8)),
        ("x = = 1\n", 'unexpected "="', (0, 4, 0, 5)),
        ("class A\n  pass\n", 'expected ":"', (0, 6, 0, 7)),
        ("x = 1 +\n", 'unexpected end of line after "+"', (0, 6, 0, 7)),
        ("s = 'abc\n", "unterminated string", (0, 4, 0, 5)),
        ("for x in :\n  pass\n", "missing identifier", (0, 8, 0, 8)),
    ],
)
def test_python_messages(text: str, message: str, span: tuple[int, int, int, int]) -> None:
    found = diags(text)
    assert [d.message for d in found] == [message]
    assert where(found[0]) == span
    assert found[0].severity == types.DiagnosticSeverity.Error
    assert found[0].source == "reason-lsp"


def test_clean_code_has_no_diagnostics() -> None:
    assert diags("def f(x):\n    return [x, {1: 2}]\n") == []


def test_ranges_count_utf16_or_utf8_units() -> None:
    text = 's = "😋"; print((1)\n'
    (d16,) = diags(text, encoding=UTF16)
    (d8,) = diags(text, encoding=UTF8)
    assert d16.message == d8.message == '"(" was never closed'
    assert d16.range.start.character == 15  # the emoji is 2 UTF-16 units
    assert d8.range.start.character == 17  # and 4 UTF-8 bytes


@pytest.mark.parametrize(
    ("language_id", "text", "message"),
    [
        ("rust", "fn main() { let x = 1 }\n", 'missing ";"'),
        ("c", "int main() { return 0 }\n", 'missing ";"'),
        ("java", "class A { void f() { int x = 1 } }\n", 'missing ";"'),
        ("javascript", "if (x) { y } else else {}\n", 'unexpected "else"'),
        ("go", "package main\nfunc main() {\n x := \n}\n", "missing identifier"),
    ],
)
def test_other_languages(language_id: str, text: str, message: str) -> None:
    assert [d.message for d in diags(text, language_id)] == [message]


def test_unknown_language_gives_nothing() -> None:
    assert diags("def (((", "plaintext") == []


def test_setting_turns_syntax_diagnostics_off() -> None:
    snapshot = snapshot_for_text("file:///t.py", "def (((\n")
    assert collect(snapshot, Settings(diagnostics_syntax=False)) == []


def test_pathological_input_is_capped() -> None:
    found = diags(")" * 5000 + "\n" + "(" * 5000)
    assert 0 < len(found) <= 100


def test_deeply_nested_errors_do_not_recurse() -> None:
    # Deeper than Python's recursion limit, with one bracket left open.
    text = "x = " + "(" * 3000 + "1" + ")" * 2999 + "\ny = [1,\n" + "f(" * 2000 + "\n"
    found = diags(text)
    assert found and len(found) <= 100
    assert all(d.severity == types.DiagnosticSeverity.Error for d in found)
