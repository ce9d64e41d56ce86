"""Hostile and malformed input: the server answers with an error or a clamped
result, keeps running, and keeps its documents."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import pytest_lsp
from helpers import SERVER_COMMAND, did_change_params, edit
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

URI = "file:///tmp/reason_lsp_robust/doc.py"
TEXT = "def f(x):\n    return (x\n"  # one known diagnostic: "(" never closed at 1:11


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    # Neovim capabilities: pull diagnostics (ask whenever we like) and UTF-8 positions.
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("neovim"))
    )
    lsp_client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(URI, "python", 1, TEXT))
    )
    yield
    await lsp_client.shutdown_session()


async def pull(client: LanguageClient, uri: str = URI) -> list[tuple[str, int, int]]:
    report = await asyncio.wait_for(
        client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(types.TextDocumentIdentifier(uri))
        ),
        30,
    )
    assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
    return [(d.message, d.range.start.line, d.range.start.character) for d in report.items]


async def assert_intact(client: LanguageClient) -> None:
    assert await pull(client) == [('"(" was never closed', 1, 11)]


def send_raw(client: LanguageClient, payload: bytes) -> None:
    """Write one framed message straight to the server's stdin."""
    server = client._server  # type: ignore[attr-defined]
    server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(payload) + payload)


def send_notification(client: LanguageClient, method: str, params: object) -> None:
    """Send a notification as raw JSON (lone surrogates become \\udXXX escapes)."""
    send_raw(client, json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode())


def raw_request(client: LanguageClient, message: dict[str, object]) -> asyncio.Future[object]:
    """Send a request as raw JSON and return a future for its response."""
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    concurrent = client.protocol._request_futures  # type: ignore[attr-defined]
    from concurrent.futures import Future

    inner: Future[object] = Future()
    concurrent[message["id"]] = inner
    inner.add_done_callback(
        lambda f: future.get_loop().call_soon_threadsafe(
            future.set_exception if f.exception() else future.set_result,
            f.exception() or f.result(),
        )
    )
    send_raw(client, json.dumps(message).encode())
    return future


@pytest.mark.asyncio
async def test_unknown_methods(client: LanguageClient) -> None:
    with pytest.raises(JsonRpcException) as exc:
        await client.protocol.send_request_async("reasonLsp/noSuchMethod", {"x": 1})
    assert exc.value.code == -32601  # method not found
    client.protocol.notify("reasonLsp/noSuchNotification", {"x": 1})
    await assert_intact(client)


@pytest.mark.asyncio
async def test_bad_params(client: LanguageClient) -> None:
    # A request whose params do not fit its method gets an error response.
    bad = {"jsonrpc": "2.0", "id": "bad-1", "method": "textDocument/diagnostic"}
    response = raw_request(client, {**bad, "params": {"textDocument": 5}})
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(response, 30)
    bad_change = {"textDocument": {"uri": URI}, "contentChanges": 3}
    send_notification(client, "textDocument/didChange", bad_change)
    send_raw(client, b'{"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {')
    send_raw(client, b"\xff\xfe not json at all")
    await assert_intact(client)


@pytest.mark.asyncio
async def test_positions_past_the_end_are_clamped(client: LanguageClient) -> None:
    client.text_document_did_change(did_change_params(URI, 2, [edit(1, 999, 1, 999, ")")]))
    assert await pull(client) == []  # the ")" landed at the end of line 1
    client.text_document_did_change(did_change_params(URI, 3, [edit(999, 0, 999, 5, "\nx = (")]))
    assert await pull(client) == [('"(" was never closed', 3, 4)]
    # A change for a document that was never opened changes nothing.
    client.text_document_did_change(
        did_change_params("file:///never/opened.py", 1, [edit(0, 0, 0, 0, "(")])
    )
    assert await pull(client, "file:///never/opened.py") == []
    assert await pull(client) == [('"(" was never closed', 3, 4)]


@pytest.mark.asyncio
async def test_nul_bytes_and_lone_surrogates(client: LanguageClient) -> None:
    uri = "file:///tmp/reason_lsp_robust/odd.py"
    # JSON lets a string hold a lone surrogate (json.dumps writes it as "\\ud800").
    text = 'a = "\ud800\x00"\nb = (\n'
    item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    send_notification(client, "textDocument/didOpen", {"textDocument": item})
    assert b"\\ud800" in json.dumps(text).encode()
    # b = ( : line 1, UTF-8 column 4.
    assert await pull(client, uri) == [('"(" was never closed', 1, 4)]
    # Insert another lone surrogate right after the first (quote at 4, 3 bytes for it).
    at = {"line": 0, "character": 8}
    change = {"range": {"start": at, "end": at}, "text": "\ud83d"}
    params = {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [change]}
    send_notification(client, "textDocument/didChange", params)
    assert await pull(client, uri) == [('"(" was never closed', 1, 4)]
    # Half of a UTF-8 sequence or past the line's end: clamped, still consistent.
    client.text_document_did_change(did_change_params(uri, 3, [edit(0, 6, 0, 99, "")]))
    assert await pull(client, uri) == [('"(" was never closed', 1, 4)]
    await assert_intact(client)


@pytest.mark.asyncio
@pytest.mark.slow
async def test_five_megabyte_file(client: LanguageClient) -> None:
    uri = "file:///tmp/reason_lsp_robust/big.py"
    line = "value_%07d = compute(alpha, beta, [1, 2, 3], {'k': 'v'})  # 日本 😋\n"
    text = "".join(line % i for i in range(5 * 1024 * 1024 // len(line)))
    assert len(text.encode()) > 5_000_000
    t0 = time.perf_counter()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
    )
    assert await pull(client, uri) == []
    opened = time.perf_counter() - t0
    client.text_document_did_change(
        did_change_params(uri, 2, [edit(40000, 0, 40000, 0, "x = (\n")])
    )
    assert await pull(client, uri) == [('"(" was never closed', 40000, 4)]
    assert opened < 60
    await assert_intact(client)
