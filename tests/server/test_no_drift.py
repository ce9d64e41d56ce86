"""The server's state under hostile input, seen from inside: one URI normalisation for
pygls's workspace, the document store and every feature; a refused second
``initialize``; a malformed ``didChange`` that changes nothing; the model features'
size limit; errors logged, never popped up."""

from __future__ import annotations

import logging

import pytest
from inprocess import FakeEngine, InProcess
from lsprotocol import types
from pygls.exceptions import FeatureNotificationError

from reason_lsp.text.documents import document_key

QUOTED = "file:///tmp/drift/al%41s.py"
PLAIN = "file:///tmp/drift/alAs.py"


def feed(h: InProcess, message: dict) -> None:
    protocol = h.server.protocol
    protocol.handle_message(protocol.structure_message(message))


def answer_to(h: InProcess, msg_id: object) -> dict:
    return next(m for m in h.sent if m.get("id") == msg_id and "method" not in m)


def held(h: InProcess) -> dict[str, set[str]]:
    return {f.name: f.held() for f in h.server.features if f.held()}


async def test_two_spellings_of_one_uri_are_one_document_everywhere() -> None:
    h = InProcess(FakeEngine(completion="x * 2"))
    await h.start()
    h.open(QUOTED, "a = 1\n")
    h.open(PLAIN, "b = (\n")  # the same file: it replaces the first
    await h.settle(0.6)  # the features did their work on it (scoring, ...)
    assert h.server.documents.uris() == [QUOTED]
    assert list(h.server.workspace.text_documents) == [document_key(QUOTED)]
    assert h.server.workspace_document(PLAIN).source == "b = (\n"  # type: ignore[union-attr]
    assert h.server.snapshot(PLAIN).uri == QUOTED  # type: ignore[union-attr]
    h.close(PLAIN)
    await h.settle()
    assert h.server.documents.uris() == []
    assert h.server.workspace.text_documents == {}
    assert held(h) == {}


async def test_a_second_initialize_changes_nothing() -> None:
    h = InProcess()
    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            diagnostic=types.DiagnosticClientCapabilities()
        )
    )
    await h.start(caps)
    h.open(QUOTED, "x = (\n")
    features = h.server.client_features
    settings = h.server.settings
    again = await h.request(
        types.INITIALIZE,
        types.InitializeParams(capabilities=types.ClientCapabilities(),
                               initialization_options={"reasonLsp": {"maxNewTokens": 3}}),
    )  # fmt: skip
    assert again["error"]["code"] == -32600
    assert h.server.client_features is features and h.server.pull_diagnostics
    assert h.server.settings is settings
    assert h.server.documents.uris() == [QUOTED]


async def test_a_did_change_with_a_number_for_its_text_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = InProcess()
    await h.start()
    h.open(QUOTED, "x = 1\n")
    ident = {"uri": QUOTED, "version": 2}
    with caplog.at_level(logging.ERROR):
        feed(h, {"jsonrpc": "2.0", "method": "textDocument/didChange",
                 "params": {"textDocument": ident, "contentChanges": [{"text": 5}]}})  # fmt: skip
    assert h.server.workspace_document(QUOTED).source == "x = 1\n"  # type: ignore[union-attr]
    assert h.server.documents.get(QUOTED).version == 1  # type: ignore[union-attr]
    assert any("malformed 'textDocument/didChange'" in r.getMessage() for r in caplog.records)


async def test_model_features_skip_a_document_over_the_limit_and_say_so_once() -> None:
    engine = FakeEngine(completion="x * 2")
    h = InProcess(engine)
    params = types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        initialization_options={"reasonLsp": {"maxModelChars": 1000}},
    )
    await h.request(types.INITIALIZE, params)  # fmt: skip
    h.notify(types.INITIALIZED, types.InitializedParams())
    await h.settle()
    big, small = "file:///tmp/drift/big.py", "file:///tmp/drift/small.py"
    h.open(big, "def f(x):\n    return " + "x + " * 300 + "(\n")
    h.open(small, "def f(x):\n    return ")
    invoked = types.InlineCompletionContext(types.InlineCompletionTriggerKind.Invoked)
    for uri, line, col in ((big, 1, 11), (small, 1, 11), (big, 0, 3)):
        where = types.TextDocumentIdentifier(uri)
        at = types.Position(line, col)
        params = types.InlineCompletionParams(text_document=where, position=at, context=invoked)
        await h.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)
    await h.settle(0.6)
    assert [r.key for r in engine.requests] == [small]  # the big one never reached the model
    said = [m["params"]["message"] for m in h.messages(types.WINDOW_SHOW_MESSAGE)]
    assert len(said) == 1 and "big.py has 1,223 characters" in said[0]
    report = await h.request(types.TEXT_DOCUMENT_DIAGNOSTIC, types.DocumentDiagnosticParams(
        types.TextDocumentIdentifier(big)))  # fmt: skip
    assert [d["code"] for d in report["result"]["items"]] == ["syntax-error"]  # syntax stays


async def test_errors_outside_a_response_are_logged_not_shown() -> None:
    h = InProcess()
    await h.start()
    h.server.report_server_error(RuntimeError("boom"), FeatureNotificationError)
    feed(h, {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": PLAIN, "languageId": 5, "version": 1, "text": ""}}})  # fmt: skip
    feed(h, {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": {}}})
    await h.settle()
    assert h.messages(types.WINDOW_SHOW_MESSAGE) == []
    assert h.server.documents.uris() == []


async def test_execute_command_without_arguments_is_invalid_params() -> None:
    h = InProcess()
    await h.start()
    cases = [
        {"command": "reasonLsp.verify"},
        {"command": "reasonLsp.generate", "arguments": None},
        {"command": "reasonLsp.verify", "arguments": [{"uri": 1}]},
    ]
    for n, params in enumerate(cases):
        request = {"jsonrpc": "2.0", "id": f"cmd{n}", "method": "workspace/executeCommand"}
        feed(h, {**request, "params": params})
        await h.settle()
        assert answer_to(h, f"cmd{n}")["error"]["code"] == -32602
