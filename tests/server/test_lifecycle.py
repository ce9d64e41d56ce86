"""The server in process with a fake engine: lifecycle fan-out, per-document state freed
on close, and an engine without log-probabilities reported rather than silent."""

from __future__ import annotations

import pytest
from inprocess import FakeEngine, InProcess
from lsprotocol import types

from reason_lsp.engine import GENERATE
from reason_lsp.server.feature import Feature

DOCTESTED = '''def double(x):
    """Twice x.

    >>> double(2)
    4
    """
    return x * 2
'''


def inline_params(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, character),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked
        ),
    )


class Recorder(Feature):
    name = "recorder"

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def on_open(self, uri):
        self.events.append(("open", uri))

    def on_change(self, uri):
        self.events.append(("change", uri))

    def on_close(self, uri):
        self.events.append(("close", uri))

    def on_settings(self, settings):
        self.events.append(("settings", settings.context_tokens))

    def on_model_ready(self, engine):
        self.events.append(("model", engine.info.model))

    def shutdown(self):
        self.events.append(("shutdown", None))


async def test_every_feature_hears_the_lifecycle_through_the_interface() -> None:
    h = InProcess()
    recorder = Recorder()
    h.server.add_feature(recorder)
    await h.start()
    uri = "file:///tmp/r.py"
    h.open(uri, "x = 1\n")
    change = types.TextDocumentContentChangeWholeDocument(text="x = 2\n")
    h.notify(
        types.TEXT_DOCUMENT_DID_CHANGE,
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=2, uri=uri), [change]
        ),
    )
    settings = {"reasonLsp": {"contextTokens": 700}}
    h.notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, types.DidChangeConfigurationParams(settings))
    await h.settle()
    h.close(uri)
    await h.settle()
    await h.request(types.SHUTDOWN, None)
    assert recorder.events == [
        ("model", "fake"),
        ("open", uri),
        ("change", uri),
        ("settings", 700),
        ("model", "fake"),  # a settings change restarts the engine
        ("close", uri),
        ("shutdown", None),
    ]


@pytest.mark.slow
async def test_closing_a_thousand_documents_frees_all_their_state() -> None:
    h = InProcess(FakeEngine(completion="x * 2"))
    await h.start()
    uris = [f"file:///tmp/many/doc{i}.py" for i in range(1000)]
    for uri in uris:
        h.open(uri, DOCTESTED + "\n\ndef triple(x):\n    return ")
        answer = await h.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 10, 11))
        assert answer["result"]["items"][0]["insertText"] == "x * 2"
    for uri in uris[:3]:  # failed-example diagnostics live in the generation feature
        args = [{"uri": uri, "position": {"line": 0, "character": 4}}]
        await h.request(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(command="reasonLsp.verify", arguments=args),
        )
    await h.settle(0.8)  # unlikely-code scoring ran for the open documents
    held = {f.name: f.held() for f in h.server.features}
    assert all(held.values()), f"every feature kept something while open: {held}"
    for uri in uris:
        h.close(uri)
    await h.settle(0.2)
    assert {f.name: f.held() for f in h.server.features} == {
        f.name: set() for f in h.server.features
    }
    assert len(h.server.documents) == 0
    assert h.server.workspace.text_documents == {}
    assert h.server.publisher.held() == set()


async def test_an_engine_without_log_probabilities_says_so_once() -> None:
    h = InProcess(FakeEngine(completion="join(a, b)", capabilities={GENERATE}))
    await h.start()
    uri = "file:///tmp/remote.py"
    h.open(uri, "import os\nos.path.")
    params = types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=types.Position(1, 8)
    )
    answer = await h.request(types.TEXT_DOCUMENT_COMPLETION, params)
    items = answer["result"]["items"]
    assert [i["kind"] for i in items] == [types.CompletionItemKind.Snippet]  # the line only
    said = [m["params"]["message"] for m in h.messages(types.WINDOW_SHOW_MESSAGE)]
    assert sum("cannot members" in m for m in said) == 1
    assert sum("cannot score" in m for m in said) == 1
    settings = {"reasonLsp": {"contextTokens": 900}}  # the engine restarts: nothing said again
    h.notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, types.DidChangeConfigurationParams(settings))
    await h.settle()
    again = [m["params"]["message"] for m in h.messages(types.WINDOW_SHOW_MESSAGE)]
    assert again == said
