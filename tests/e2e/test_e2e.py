"""End-to-end: the real server subprocess through pytest-lsp, as VS Code and as Neovim.

VS Code (1.65 capabilities) gets pushed diagnostics and UTF-16 positions;
Neovim (0.11 capabilities) pulls diagnostics and negotiates UTF-8.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
import pytest_lsp
from helpers import SERVER_COMMAND, did_change_params, edit, expect_notification
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

URI = "file:///tmp/reason_lsp_e2e/example.py"
BROKEN = "def average(values):\n    total = sum(values\n    return total\n"
FIXED = "def average(values):\n    total = sum(values)\n    return total\n"


@pytest_lsp.fixture(
    params=["visual-studio-code", "neovim"],
    config=ClientServerConfig(server_command=SERVER_COMMAND),
)
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(request.param),
            # Syntax features only: the model's own tests live in test_completion_e2e.py.
            initialization_options={"reasonLsp": {"model": "none"}},
        )
    )
    lsp_client.initialize_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def is_pull(client: LanguageClient) -> bool:
    caps = client.capabilities
    return bool(caps and caps.text_document and caps.text_document.diagnostic is not None)


def open_doc(client: LanguageClient, text: str, version: int = 1, uri: str = URI) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", version, text))
    )


def change_doc(
    client: LanguageClient, version: int, *changes: types.TextDocumentContentChangeEvent
) -> None:
    client.text_document_did_change(did_change_params(URI, version, list(changes)))


async def diagnostics_after(client: LanguageClient, action, version: int) -> list[types.Diagnostic]:  # type: ignore[no-untyped-def]
    """Diagnostics for URI once the server has seen ``version``: pushed or pulled."""
    if is_pull(client):
        action()
        report = await client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(types.TextDocumentIdentifier(URI))
        )
        assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
        assert report.result_id is not None and report.result_id.startswith(f"{version}.")
        return list(report.items)
    params = await expect_notification(
        client,
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
        action,
        lambda p: p.uri == URI and p.version == version,
    )
    return list(params.diagnostics)


@pytest.mark.asyncio
async def test_initialize_negotiates_encoding(client: LanguageClient) -> None:
    result = client.initialize_result.capabilities  # type: ignore[attr-defined]
    expected = "utf-8" if is_pull(client) else "utf-16"
    assert result.position_encoding == expected
    assert result.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    assert result.diagnostic_provider is not None


@pytest.mark.asyncio
async def test_syntax_error_then_fix(client: LanguageClient) -> None:
    found = await diagnostics_after(client, lambda: open_doc(client, BROKEN), 1)
    assert [(d.message, d.range.start.line, d.range.start.character) for d in found] == [
        ('"(" was never closed', 1, 15)
    ]
    fixed = await diagnostics_after(
        client, lambda: change_doc(client, 2, edit(1, 22, 1, 22, ")")), 2
    )
    assert list(fixed) == []


@pytest.mark.asyncio
async def test_emoji_positions_follow_the_encoding(client: LanguageClient) -> None:
    utf8 = is_pull(client)
    text = 's = "😋日本"\nx = 1\n'
    await diagnostics_after(client, lambda: open_doc(client, text), 1)
    # Insert after the closing quote: 9 code points in, 10 UTF-16 units, 16 UTF-8 bytes.
    col = 16 if utf8 else 10
    found = await diagnostics_after(
        client, lambda: change_doc(client, 2, edit(0, col, 0, col, " + f(")), 2
    )
    assert [(d.message, d.range.start.line, d.range.start.character) for d in found] == [
        ('"(" was never closed', 0, col + 4)
    ]


@pytest.mark.asyncio
async def test_burst_of_changes_never_publishes_an_old_version(client: LanguageClient) -> None:
    if is_pull(client):
        pytest.skip("push only")
    seen: list[int] = []
    await diagnostics_after(client, lambda: open_doc(client, "x = 0\n"), 1)

    def burst() -> None:
        for version in range(2, 22):
            change_doc(client, version, edit(0, 4, 0, 5, str(version % 10)))

    final = await expect_notification(
        client,
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
        burst,
        lambda p: seen.append(p.version) or p.version == 21,
    )
    assert list(final.diagnostics) == []
    assert seen == sorted(seen) and len(seen) < 20  # coalesced, in order


@pytest.mark.asyncio
async def test_pull_unchanged_report(client: LanguageClient) -> None:
    if not is_pull(client):
        pytest.skip("pull only")
    open_doc(client, BROKEN, version=5)
    ident = types.TextDocumentIdentifier(URI)
    first = await client.text_document_diagnostic_async(types.DocumentDiagnosticParams(ident))
    assert isinstance(first, types.RelatedFullDocumentDiagnosticReport) and len(first.items) == 1
    again = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(ident, previous_result_id=first.result_id)
    )
    assert isinstance(again, types.RelatedUnchangedDocumentDiagnosticReport)
    assert again.result_id == first.result_id


@pytest.mark.asyncio
async def test_configuration_change_turns_syntax_off(client: LanguageClient) -> None:
    await diagnostics_after(client, lambda: open_doc(client, BROKEN), 1)
    off = {"reasonLsp": {"diagnostics": {"syntax": False}}}
    change = lambda: client.workspace_did_change_configuration(  # noqa: E731
        types.DidChangeConfigurationParams(off)
    )
    if is_pull(client):
        # The server may first ask the client for its settings (workspace/configuration),
        # so a pull sent right behind the change can still see the old ones: pull again.
        found = await diagnostics_after(client, change, 1)
        for _ in range(100):
            if not found:
                break
            await asyncio.sleep(0.05)
            found = await diagnostics_after(client, lambda: None, 1)
        assert found == []
        return
    # A publication the open already had in flight may still arrive first; what matters
    # is that the server then clears the error (expect_notification fails on a timeout).
    cleared = await expect_notification(
        client,
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
        change,
        lambda p: p.uri == URI and p.version == 1 and not p.diagnostics,
    )
    assert list(cleared.diagnostics) == []


@pytest.mark.asyncio
async def test_close_clears_pushed_diagnostics(client: LanguageClient) -> None:
    if is_pull(client):
        pytest.skip("push only")
    await diagnostics_after(client, lambda: open_doc(client, BROKEN), 1)
    cleared = await expect_notification(
        client,
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
        lambda: client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(URI))
        ),
    )
    assert cleared.uri == URI and list(cleared.diagnostics) == []


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "reason_lsp"]))
async def bare_client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_invalid_initialization_option_is_reported(bare_client: LanguageClient) -> None:
    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options={"reasonLsp": {"device": "tpu", "maxNewTokens": 32}},
    )
    waiter = bare_client.protocol.wait_for_notification_async(types.WINDOW_SHOW_MESSAGE)
    await bare_client.initialize_session(params)
    shown = await asyncio.wait_for(waiter, 15)
    assert "reasonLsp.device" in shown.message and shown.type == types.MessageType.Warning
