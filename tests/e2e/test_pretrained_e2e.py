"""The pretrained default model through the real server (pytest-lsp): an invoked inline
completion appears on a plain line and the file still compiles with it. Runs where
``reason-lsp fetch-model`` put the model in the cache (CI keeps it there)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from helpers import SERVER_COMMAND
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from test_completion_e2e import open_at, position_of, start

pytest.importorskip("torch")

URI = "file:///tmp/reason_lsp_pretrained/shapes.py"
TEXT = '''import math


def circle_area(radius: float) -> float:
    """The area of a circle of the given radius."""
    return '''


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient, pretrained_model: Path):  # type: ignore[no-untyped-def]
    await start(lsp_client, "visual-studio-code", pretrained_model)
    yield
    await lsp_client.shutdown_session()


async def test_an_invoked_inline_completion_appears_and_compiles(client: LanguageClient) -> None:
    open_at(client, TEXT, URI)
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(URI),
            position=position_of(TEXT, len(TEXT)),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
        )
    )
    assert result is not None and result.items
    shown = result.items[0].insert_text
    assert isinstance(shown, str) and shown.strip()
    compile(TEXT + shown + "\n", "shapes.py", "exec")  # compile-safe in its place
    assert "radius" in shown  # it read the function it completes
