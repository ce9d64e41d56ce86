"""JSON-RPC envelopes and the LSP lifecycle, judged before any handler (pure)."""

from __future__ import annotations

import pytest
from cattrs.errors import ClassValidationError
from lsprotocol import types

from reason_lsp.server import jsonrpc
from reason_lsp.server.jsonrpc import INVALID_REQUEST, NOT_INITIALIZED, PARSE_ERROR

REQUEST = {"jsonrpc": "2.0", "id": 1, "method": "textDocument/diagnostic", "params": {}}


def verdict(data: object, lifecycle: jsonrpc.Lifecycle = "running") -> tuple | None:
    r = jsonrpc.check(data, lifecycle)
    return None if r is None else (r.code, r.id, r.answer)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (REQUEST, None),
        ({**REQUEST, "id": "a"}, None),
        (42, (INVALID_REQUEST, None, True)),
        ("hello", (INVALID_REQUEST, None, True)),
        (None, (INVALID_REQUEST, None, True)),
        ([], (INVALID_REQUEST, None, True)),
        ({}, (INVALID_REQUEST, None, True)),
        ({k: v for k, v in REQUEST.items() if k != "jsonrpc"}, (INVALID_REQUEST, 1, True)),
        ({**REQUEST, "jsonrpc": "1.0"}, (INVALID_REQUEST, 1, True)),
        ({**REQUEST, "jsonrpc": 2}, (INVALID_REQUEST, 1, True)),
        ({**REQUEST, "method": None}, (INVALID_REQUEST, 1, True)),
        ({**REQUEST, "id": {}}, (INVALID_REQUEST, None, True)),
        ({**REQUEST, "id": True}, (INVALID_REQUEST, None, True)),
        ({**REQUEST, "id": 1.5}, (INVALID_REQUEST, None, True)),
        ({**REQUEST, "method": "textDocument/didOpen"}, (INVALID_REQUEST, 1, True)),
        ({**REQUEST, "method": "$/cancelRequest"}, (INVALID_REQUEST, 1, True)),
        # A request method without an id cannot be answered: logged only.
        ({"jsonrpc": "2.0", "method": "textDocument/diagnostic"}, (INVALID_REQUEST, None, False)),
        ({"jsonrpc": "2.0", "method": "textDocument/didClose"}, None),
        ({"jsonrpc": "2.0", "id": 3, "result": None}, None),  # a response: the protocol's call
        ({"jsonrpc": "2.0", "id": 3}, (INVALID_REQUEST, 3, True)),
        ({"jsonrpc": "2.0", "id": 3, "result": 1, "error": {}}, (INVALID_REQUEST, 3, False)),
    ],
)
def test_envelopes(data: object, expected: tuple | None) -> None:
    assert verdict(data) == expected


def test_the_lifecycle() -> None:
    initialize = {**REQUEST, "method": "initialize"}
    exit_ = {"jsonrpc": "2.0", "method": "exit"}
    opened = {"jsonrpc": "2.0", "method": "textDocument/didOpen"}
    assert verdict(REQUEST, "new") == (NOT_INITIALIZED, 1, True)
    assert verdict(opened, "new") == (NOT_INITIALIZED, None, False)  # dropped
    assert verdict(initialize, "new") is None
    assert verdict(exit_, "new") is None
    assert verdict(initialize, "running") == (INVALID_REQUEST, 1, True)  # only once
    assert verdict(REQUEST, "shut down") == (INVALID_REQUEST, 1, True)
    assert verdict(opened, "shut down") == (INVALID_REQUEST, None, False)
    assert verdict(exit_, "shut down") is None


def test_parse_errors() -> None:
    for body in (b"", b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b"1" * 5000):
        _, problem = jsonrpc.parse(body)
        assert problem is not None and problem.code == PARSE_ERROR and problem.id is None
    assert jsonrpc.parse(b'{"a": [1]}') == ({"a": [1]}, None)


def test_the_strict_converter_takes_no_wrong_primitive() -> None:
    c = jsonrpc.strict_converter()
    ident = {"uri": "file:///a.py", "version": 2}
    change = types.DidChangeTextDocumentParams
    assert c.structure({"textDocument": ident, "contentChanges": [{"text": "x"}]}, change)
    for bad in (
        {"textDocument": ident, "contentChanges": [{"text": 5}]},
        {"textDocument": {**ident, "version": "2"}, "contentChanges": []},
        {"textDocument": {**ident, "uri": 7}, "contentChanges": []},
        {"textDocument": ident, "contentChanges": [{"text": "x", "range": {
            "start": {"line": True, "character": 0}, "end": {"line": 0, "character": 0}}}]},
    ):  # fmt: skip
        with pytest.raises(ClassValidationError):
            c.structure(bad, change)
    item = {"uri": "file:///a.py", "languageId": 5, "version": 1, "text": ""}
    with pytest.raises(ClassValidationError):
        c.structure({"textDocument": item}, types.DidOpenTextDocumentParams)
    with pytest.raises(ClassValidationError):
        c.structure({"id": {}}, types.CancelParams)
    # Enums and open string kinds still come through.
    context = c.structure({"diagnostics": [], "only": ["quickfix"], "triggerKind": 1},
                          types.CodeActionContext)  # fmt: skip
    assert context.trigger_kind is types.CodeActionTriggerKind.Invoked
    assert c.structure({"type": 2, "message": "m"}, types.ShowMessageParams).type == 2
