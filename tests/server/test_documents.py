"""Documents: exact edits and incremental trees, unit and property tests.

The property tests drive the server's own didChange path
(``ReasonLanguageServer.apply_did_change``: pygls text + tree-sitter tree) with
random edit sequences and compare against an independent reference: after each
edit the server's text equals the reference text, and the incremental tree
equals a fresh parse of it.
"""

from __future__ import annotations

import logging
import re

import pytest
import tree_sitter
from helpers import did_change_params, edit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.workspace import Workspace

from reason_lsp.server.core import ReasonLanguageServer
from reason_lsp.text import languages
from reason_lsp.text.documents import DocumentStore, apply_changes
from reason_lsp.text.positions import UTF8, UTF16

URI = "file:///tmp/example.py"

# -- an independent reference of LSP edit semantics -------------------------------


def ref_lines(text: str) -> list[tuple[str, str]]:
    """(content, terminator) per LSP line."""
    parts = re.split(r"(\r\n|\r|\n)", text)
    return [(parts[i], parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]


def ref_unit(ch: str, encoding: str) -> int:
    if encoding == UTF8:
        return len(ch.encode("utf-8", "surrogatepass"))
    return 2 if ord(ch) > 0xFFFF else 1


def ref_offset(text: str, pos: types.Position, encoding: str) -> int:
    lines = ref_lines(text)
    if pos.line >= len(lines):
        return len(text)
    offset = sum(len(c) + len(t) for c, t in lines[: pos.line])
    content = lines[pos.line][0]
    used = 0
    for ch in content:
        if used >= pos.character:
            break
        used += ref_unit(ch, encoding)
        offset += 1
    return offset


def ref_apply(text: str, change: types.TextDocumentContentChangePartial, encoding: str) -> str:
    a = ref_offset(text, change.range.start, encoding)
    b = ref_offset(text, change.range.end, encoding)
    a, b = min(a, b), max(a, b)
    return text[:a] + change.text + text[b:]


def ref_units_len(line: str, encoding: str) -> int:
    return sum(ref_unit(c, encoding) for c in line)


def tree_shape(tree: tree_sitter.Tree) -> list[tuple[object, ...]]:
    out = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        out.append(
            (
                node.type,
                node.start_byte,
                node.end_byte,
                node.start_point,
                node.end_point,
                node.is_missing,
            )
        )
        stack.extend(reversed(node.children))
    return out


# -- a server whose didChange path we drive directly --------------------------------


def make_server(encoding: str) -> ReasonLanguageServer:
    server = ReasonLanguageServer()
    server.protocol._workspace = Workspace(
        None, types.TextDocumentSyncKind.Incremental, [], encoding
    )
    return server


def open_doc(server: ReasonLanguageServer, text: str, language_id: str = "python") -> None:
    item = types.TextDocumentItem(URI, language_id, 0, text)
    server.workspace.put_text_document(item)
    server.documents.open(URI, text, 0, language_id)


def change(
    server: ReasonLanguageServer, version: int, *changes: types.TextDocumentContentChangeEvent
) -> str:
    server.apply_did_change(did_change_params(URI, version, list(changes)))
    return server.workspace.get_text_document(URI).source


def fresh(text: str, language: str = "python") -> tree_sitter.Tree:
    lang = languages.load(language)
    assert lang is not None
    return tree_sitter.Parser(lang).parse(text.encode("utf-8", "surrogatepass"))


# -- unit tests ------------------------------------------------------------------------


def test_incremental_edit_updates_tree() -> None:
    server = make_server(UTF16)
    open_doc(server, "def f(x):\n    return x\n")
    assert change(server, 1, edit(1, 11, 1, 12, "x + 1")) == "def f(x):\n    return x + 1\n"
    state = server.documents.get(URI)
    assert state is not None and state.tree is not None
    assert str(state.tree.root_node) == str(fresh("def f(x):\n    return x + 1\n").root_node)
    assert state.version == 1 and state.resyncs == 0


def test_multiple_changes_apply_in_sequence() -> None:
    text, _ = apply_changes("abc\ndef\n", [edit(0, 0, 0, 1, "X"), edit(1, 3, 1, 3, "!")], UTF16)
    assert text == "Xbc\ndef!\n"


def test_full_change_replaces_text() -> None:
    server = make_server(UTF16)
    open_doc(server, "x = 1\n")
    whole = types.TextDocumentContentChangeWholeDocument(text="y = (\n")
    assert change(server, 1, whole) == "y = (\n"
    state = server.documents.get(URI)
    assert state is not None and state.tree is not None
    assert str(state.tree.root_node) == str(fresh("y = (\n").root_node)


def test_emoji_edit_in_utf16_and_utf8() -> None:
    for encoding, col in ((UTF16, 7), (UTF8, 9)):
        server = make_server(encoding)
        open_doc(server, 's = "😋😋"\n')
        # Replace the second emoji: it starts after 's = "' (5) + one emoji.
        assert (
            change(server, 1, edit(0, col, 0, col + (2 if encoding == UTF16 else 4), "x"))
            == 's = "😋x"\n'
        )


def test_positions_past_the_end_are_clamped() -> None:
    server = make_server(UTF16)
    open_doc(server, "ab\ncd")
    assert change(server, 1, edit(0, 99, 0, 99, "!")) == "ab!\ncd"
    assert change(server, 2, edit(50, 0, 60, 0, "?")) == "ab!\ncd?"


def test_drift_is_logged_and_resynced(caplog: pytest.LogCaptureFixture) -> None:
    server = make_server(UTF16)
    open_doc(server, "x = 1\n")
    state = server.documents.get(URI)
    assert state is not None
    state.source = b"garbage"  # simulate a tree that drifted from the text
    with caplog.at_level(logging.ERROR):
        assert change(server, 1, edit(0, 4, 0, 5, "2")) == "x = 2\n"
    assert "resync" in caplog.text
    assert state.tree is not None and state.source == b"x = 2\n"
    assert str(state.tree.root_node) == str(fresh("x = 2\n").root_node)


def test_failed_edit_falls_back_and_resyncs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server(UTF16)
    open_doc(server, "x = 1\n")

    def boom(*args: object, **kwargs: object) -> str:
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(server.documents, "apply_changes", boom)
    with caplog.at_level(logging.ERROR):
        assert change(server, 1, edit(0, 4, 0, 5, "3")) == "x = 3\n"
    assert "could not apply an edit" in caplog.text
    state = server.documents.get(URI)
    assert state is not None and state.source == b"x = 3\n" and state.resyncs == 1


def test_unknown_language_has_no_tree() -> None:
    store = DocumentStore()
    state = store.open("file:///a.unknownext", "hello (", 1, "plaintext")
    assert state.tree is None and state.language is None
    assert (
        store.apply_changes("file:///a.unknownext", "hello (", [edit(0, 0, 0, 0, "x")], 2)
        == "xhello ("
    )


@pytest.mark.parametrize(
    ("language_id", "text"),
    [
        ("javascript", "function f() { return [1, 2 }\n"),
        ("typescript", "let x: number = (1;\n"),
        ("typescriptreact", "const a = <div>{x</div>;\n"),
        ("rust", "fn main() { let x = 1 }\n"),
        ("go", "package main\nfunc main() {\n"),
        ("c", "int main() { return 0 }\n"),
        ("cpp", "int main() { std::vector<int> v{1, 2; }\n"),
        ("java", "class A { void f() { int x = 1 } }\n"),
    ],
)
def test_other_languages_parse_and_edit(language_id: str, text: str) -> None:
    store = DocumentStore()
    state = store.open("file:///x", text, 1, language_id)
    assert state.tree is not None and state.tree.root_node.has_error
    new = store.apply_changes("file:///x", text, [edit(0, 0, 0, 0, "// hi\n")], 2)
    expected = tree_sitter.Parser(state.parser.language).parse(new.encode())  # type: ignore[union-attr]
    assert str(state.tree.root_node) == str(expected.root_node)


# -- property tests ----------------------------------------------------------------------

PIECES = [
    "a", "x = 1", "def f(y):", "    return y", "(", ")", "[", "]", ":", ",", " ", "\t",
    "\n", "\r\n", "\r", "#", "'", '"', "😋", "🐍", "日本語", "中", "é", "e\u0301", "\u0300",
    "if x:", "else", "\u200b", "ß", "👨‍👩‍👧",
]  # fmt: skip

fragments = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)


@st.composite
def edits(draw: st.DrawFn, text: str, encoding: str) -> types.TextDocumentContentChangePartial:
    lines = ref_lines(text)

    def position() -> types.Position:
        line = draw(st.integers(0, len(lines)))  # one past the end is allowed (clamped)
        width = ref_units_len(lines[line][0], encoding) if line < len(lines) else 0
        return types.Position(line, draw(st.integers(0, width + 2)))

    a, b = position(), position()
    if (b.line, b.character) < (a.line, a.character):
        a, b = b, a
    return types.TextDocumentContentChangePartial(range=types.Range(a, b), text=draw(fragments))


@pytest.mark.parametrize("encoding", [UTF16, UTF8])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=fragments, data=st.data())
def test_random_edit_sequences(encoding: str, initial: str, data: st.DataObject) -> None:
    server = make_server(encoding)
    open_doc(server, initial)
    reference = initial
    for version in range(1, data.draw(st.integers(1, 12)) + 1):
        batch = []
        for _ in range(data.draw(st.integers(1, 3))):
            change_ = data.draw(edits(reference, encoding))
            batch.append(change_)
            reference = ref_apply(reference, change_, encoding)
        assert change(server, version, *batch) == reference
        state = server.documents.get(URI)
        assert state is not None and state.tree is not None and state.resyncs == 0
        expected = fresh(reference)
        assert str(state.tree.root_node) == str(expected.root_node)
        assert tree_shape(state.tree) == tree_shape(expected)
