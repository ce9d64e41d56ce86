"""The workspace feature in the real server (in process, fake engine): the index is built
from the workspace folder, what the prompt gets, and how it stays current (watched-file
events, edits of open documents winning over the disk, deletes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from inprocess import InProcess
from lsprotocol import types

MAIN = "import lib\n\n\ndef run(width, height):\n    return lib."
LIB = "def scaled_area(width, height, scale):\n    return width * height * scale\n"


def inline(uri: str, text: str) -> types.InlineCompletionParams:
    line = text.count("\n")
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, len(text) - text.rfind("\n") - 1),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked
        ),
    )


async def start(h: InProcess, root: Path) -> None:
    caps = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(
                dynamic_registration=True
            )
        )
    )
    params = types.InitializeParams(capabilities=caps, root_uri=root.as_uri())
    await h.request(types.INITIALIZE, params)
    h.notify(types.INITIALIZED, types.InitializedParams())
    await h.settle()


async def indexed(h: InProcess) -> dict:
    for _ in range(600):
        state = (await h.request("reasonLsp/workspace", None))["result"]
        if state["folders"] and state["folders"][0]["state"] == "ready":
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"not indexed: {state}")


async def context_of(h: InProcess, uri: str, text: str) -> dict[str, str]:
    """The repository context of the prompt the engine was asked for, path -> text."""
    before = len(h.engine.requests)
    await h.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline(uri, text))
    assert len(h.engine.requests) > before
    return dict(h.engine.requests[before].context)


def watched(uri: str, kind: types.FileChangeType) -> types.DidChangeWatchedFilesParams:
    return types.DidChangeWatchedFilesParams(changes=[types.FileEvent(uri=uri, type=kind)])


async def test_the_index_feeds_the_prompt_and_follows_the_files(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "lib.py").write_text(LIB)
    (root / "main.py").write_text(MAIN + "\n")
    h = InProcess()
    await start(h, root)
    main = (root / "main.py").as_uri()
    h.open(main, MAIN + "\n")
    state = await indexed(h)
    assert state["folders"][0]["files"] == 2
    registered = [m for m in h.sent if m.get("method") == types.CLIENT_REGISTER_CAPABILITY]
    assert registered[0]["params"]["registrations"][0]["method"] == (
        types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    )
    context = await context_of(h, main, MAIN + "\n")
    assert "def scaled_area(width, height, scale):" in context["lib.py"]
    # The engine saw the document's own path after the context.
    assert h.engine.requests[-1].path == "main.py"

    # A new file on disk, announced by the client, is indexed: `import shapes` resolves.
    (root / "shapes.py").write_text("def framed_volume(width, height):\n    return 0\n")
    h.notify(
        types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        watched((root / "shapes.py").as_uri(), types.FileChangeType.Created),
    )
    await h.settle(0.3)
    text = "import shapes\n\n\ndef run(width, height):\n    return shapes."
    other = (root / "other.py").as_uri()
    h.open(other, text + "\n")
    assert "def framed_volume(width, height)" in "\n".join(
        (await context_of(h, other, text + "\n")).values()
    )

    # Deleted: gone from the prompt.
    (root / "shapes.py").unlink()
    h.notify(
        types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        watched((root / "shapes.py").as_uri(), types.FileChangeType.Deleted),
    )
    await h.settle(0.1)
    again = (root / "again.py").as_uri()  # a new document: no typed-ahead answer for it
    h.open(again, text + "\n")
    assert "framed_volume" not in "\n".join((await context_of(h, again, text + "\n")).values())


async def test_an_open_documents_text_wins_over_the_disk(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "lib.py").write_text(LIB)
    h = InProcess()
    await start(h, root)
    main = (root / "main.py").as_uri()
    h.open(main, MAIN + "\n")
    await indexed(h)
    lib = (root / "lib.py").as_uri()
    h.open(lib, LIB)
    edited = LIB.replace("scaled_area", "renamed_area")
    h.notify(
        types.TEXT_DOCUMENT_DID_CHANGE,
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=2, uri=lib),
            [types.TextDocumentContentChangeWholeDocument(text=edited)],
        ),
    )
    await h.settle()
    context = await context_of(h, main, MAIN + "\n")
    assert "renamed_area" in context["lib.py"] and "scaled_area" not in context["lib.py"]
    assert (root / "lib.py").read_text() == LIB  # nothing was saved
    # Closed unsaved: the disk is the truth again.
    h.close(lib)
    await h.settle()
    main2 = (root / "main2.py").as_uri()
    h.open(main2, MAIN + "\n")
    context = await context_of(h, main2, MAIN + "\n")
    assert "scaled_area" in context["lib.py"]
    feature = next(f for f in h.server.features if f.name == "workspace")
    assert lib not in feature.held()
    await h.request(types.SHUTDOWN, None)
