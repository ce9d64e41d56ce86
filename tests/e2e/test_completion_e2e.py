"""End-to-end completion through the real server process (pytest-lsp), on tiny real models.

The memorizing model knows ``tiny_model.MEMO`` by heart, so what it should complete
is known; a model rewired to repeat one token forever (it cannot end a block, a line or
the text by itself) is used for cancellation.
"""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import pytest
import pytest_lsp
from helpers import SERVER_COMMAND
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from tiny_model import MEMO, make_repeating_model

pytest.importorskip("torch")

URI = "file:///tmp/reason_lsp_completion/circle.py"
CURSOR = MEMO.index("return 2 * math.pi") + len("return 2 * ")
#: MEMO with the rest of the cursor's line not typed yet.
TYPING = MEMO[:CURSOR] + MEMO[MEMO.index("\n", CURSOR) :]


async def start(client: LanguageClient, caps: str, model: Path, **settings: object) -> None:
    ready: asyncio.Future = asyncio.get_running_loop().create_future()

    @client.feature("reasonLsp/status")
    def on_status(ls: LanguageClient, params: object) -> None:
        state = getattr(params, "state", None)
        if state in ("ready", "error") and not ready.done():
            ready.set_result(params)

    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(caps),
            initialization_options={"reasonLsp": {"model": str(model), **settings}},
        )
    )
    status = await asyncio.wait_for(ready, 120)
    assert status.state == "ready", status


def open_at(client: LanguageClient, text: str, uri: str = URI, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", version, text))
    )


def position_of(text: str, offset: int) -> types.Position:
    line = text.count("\n", 0, offset)
    return types.Position(line, offset - (text.rfind("\n", 0, offset) + 1))


def inline_params(text: str, offset: int, uri: str = URI) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=position_of(text, offset),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )


async def stats(client: LanguageClient) -> dict[str, object]:
    """The server's completion counters (``reasonLsp/stats``); zero counts are not sent."""
    result = await client.protocol.send_request_async("reasonLsp/stats", None)
    return collections.defaultdict(int, result._asdict())


@pytest_lsp.fixture(
    params=["visual-studio-code", "neovim"],
    config=ClientServerConfig(server_command=SERVER_COMMAND),
)
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient, memo_model: Path):  # type: ignore[no-untyped-def]
    await start(lsp_client, request.param, memo_model)
    yield
    await lsp_client.shutdown_session()


async def test_inline_completion_finishes_the_line(client: LanguageClient) -> None:
    open_at(client, TYPING)
    result = await client.text_document_inline_completion_async(inline_params(TYPING, CURSOR))
    assert result is not None and len(result.items) == 1
    item = result.items[0]
    assert item.insert_text == "math.pi * radius"
    assert item.range.start == item.range.end == position_of(TYPING, CURSOR)


async def test_typing_the_suggestion_is_served_from_the_type_ahead_cache(
    client: LanguageClient,
) -> None:
    offset, text = CURSOR, TYPING
    open_at(client, text)
    first = await client.text_document_inline_completion_async(inline_params(text, offset))
    assert first.items[0].insert_text == "math.pi * radius"
    before = await stats(client)
    pos = position_of(text, offset)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=2, uri=URI),
            [types.TextDocumentContentChangePartial(range=types.Range(pos, pos), text="math.")],
        )
    )
    typed = text[:offset] + "math." + text[offset:]
    second = await client.text_document_inline_completion_async(inline_params(typed, offset + 5))
    assert second.items[0].insert_text == "pi * radius"
    after = await stats(client)
    assert after["typeAheadHits"] == before["typeAheadHits"] + 1
    assert after["modelCalls"] == before["modelCalls"]


async def test_classic_completion_offers_members_and_the_line(client: LanguageClient) -> None:
    offset = MEMO.index("self.radius = radius") + len("self.ra")
    open_at(client, MEMO)
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(URI), position=position_of(MEMO, offset)
        )
    )
    assert result is not None and result.items
    labels = [item.label for item in result.items]
    assert "radius" in labels
    member = result.items[labels.index("radius")]
    word_start = position_of(MEMO, offset - 2)
    assert member.text_edit.range == types.Range(word_start, position_of(MEMO, offset))
    assert member.text_edit.new_text == "radius"


async def test_no_completion_inside_a_string(client: LanguageClient) -> None:
    text = MEMO + '\nNAME = "circ'
    open_at(client, text)
    result = await client.text_document_inline_completion_async(inline_params(text, len(text)))
    assert result is None or not result.items


async def test_a_stale_result_is_never_returned(client: LanguageClient) -> None:
    """An edit sent right after the request may land before the answer is sent (it is
    dropped as stale) or even before the request is served (the answer is for the new
    version). The edit re-sends the same text as version 2, as a client syncing whole
    documents may, so the model only ever sees the text it memorized; a new text would
    make that last case assert what the model writes in a file it never saw. The drop is
    forced in process, the edit landing while the engine holds the answer
    (tests/server/test_completion_server.py)."""
    open_at(client, TYPING)
    pending = client.text_document_inline_completion_async(inline_params(TYPING, CURSOR))
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=2, uri=URI),
            [types.TextDocumentContentChangeWholeDocument(text=TYPING)],
        )
    )
    result = await pending
    counts = await stats(client)
    # The answer was sent before the edit was applied, was dropped as stale, or was
    # computed for version 2.
    if counts["staleDropped"]:
        assert not result.items
    else:
        assert result.items[0].insert_text == "math.pi * radius"


async def until(client: LanguageClient, condition, tries: int = 500) -> bool:
    """Ask for the stats until ``condition`` holds (each ask is a round trip, no sleeping)."""
    for _ in range(tries):
        if condition(await stats(client)):
            return True
    return False


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def repeating_client(lsp_client: LanguageClient, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The server on a model that writes ``x`` forever: a random model's greedy output
    is its seed's and float rounding's business, and may end a block within a few tokens."""
    folder = make_repeating_model(
        tmp_path / "repeating", ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>"]
    )
    await start(lsp_client, "visual-studio-code", folder, maxNewTokens=8192, contextTokens=64)
    yield
    await lsp_client.shutdown_session()


async def test_cancel_request_stops_the_generation(repeating_client: LanguageClient) -> None:
    """A block completion on the repeating model runs for 8,192 tokens unless cancelled:
    it never writes the newline that could end the block."""
    client = repeating_client
    text = "def f(x):\n    "
    open_at(client, text)
    # Should the job finish anyway as the cancel lands (a machine stalled for all 8,192
    # tokens), that attempt proves nothing, and the next one tries again.
    for attempt in range(1, 6):
        msg_id = f"long-{attempt}"
        pending = asyncio.ensure_future(
            client.protocol.send_request_async(
                types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(text, len(text)), msg_id=msg_id
            )
        )
        assert await until(client, lambda c, n=attempt: c["modelCalls"] == n), (
            "the request never reached the model"
        )
        client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
        with pytest.raises(Exception, match="cancel"):
            await asyncio.wait_for(pending, 30)
        # The decode loop saw its flag and stopped: the job ended cancelled, not finished.
        if await until(client, lambda c: c["engineCancelled"] == 1, tries=200):
            break
    assert (await stats(client))["engineCancelled"] == 1
    assert (await stats(client))["cancelled"] == attempt
    # The worker is free again: a short request is answered.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=2, uri=URI),
            [types.TextDocumentContentChangeWholeDocument(text="x = ")],
        )
    )
    await asyncio.wait_for(
        client.text_document_inline_completion_async(inline_params("x = ", 4)), 30
    )


async def test_hostile_positions_and_text_get_an_answer_not_a_crash(client: LanguageClient) -> None:
    text = "x = 1\x00\ny = '\ud800'\nz = "
    open_at(client, text)
    for position in (types.Position(99, 0), types.Position(2, 999), types.Position(1, 3)):
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(URI),
            position=position,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
        )
        await client.text_document_inline_completion_async(params)  # no error response
        await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(URI), position=position
            )
        )
    unknown = types.TextDocumentIdentifier("file:///never/opened.py")
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=unknown,
            position=types.Position(0, 0),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
        )
    )
    assert result is None or not result.items
    open_at(client, TYPING, uri=URI + "2")
    still = await client.text_document_inline_completion_async(
        inline_params(TYPING, CURSOR, uri=URI + "2")
    )
    assert still.items[0].insert_text == "math.pi * radius"
