"""Language resolution: languageId first, file extension second, unknown -> None."""

from __future__ import annotations

import pytest

from reason_lsp.text import languages


@pytest.mark.parametrize(
    ("language_id", "path", "expected"),
    [
        ("python", None, "python"),
        ("typescriptreact", None, "tsx"),
        ("javascriptreact", None, "javascript"),
        (None, "file:///src/main.rs", "rust"),
        ("plaintext", "/tmp/x.go", "go"),
        ("", "file:///a/b/c%20d.hpp", "cpp"),
        ("markdown", "/tmp/readme.md", None),
        (None, None, None),
    ],
)
def test_grammar_name(language_id: str | None, path: str | None, expected: str | None) -> None:
    assert languages.grammar_name(language_id, path) == expected


def test_every_grammar_loads() -> None:
    for name in languages.GRAMMARS:
        assert languages.load(name) is not None, name


def test_unknown_grammar() -> None:
    assert languages.load("cobol") is None
    assert languages.resolve("cobol", "x.cob") is None
