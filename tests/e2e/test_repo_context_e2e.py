"""Repository context end to end: the server process (pytest-lsp) with a workspace folder.

A tiny model memorizes three texts laid out exactly as the decoder renders a prompt
(``fim.repository_text``): the document ``main.py`` after the snippet of ``lib.py``
defining ``scaled_area``; the same document after a ``lib.py`` defining
``framed_volume``; and the document alone, continued with ``default_area``. So the
right name after ``lib.`` exists only in the other file, and the model can only give
it when the server put that file's snippet, in that layout, in front of the document.
The context it trains on is what the workspace retrieval gives for that workspace.
Without a workspace no context reaches the prompt, and the model gives the plain
answer: the decoder starts a whole document after ``<|endoftext|>``, as training does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from helpers import SERVER_COMMAND
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from reason_lsp.engine import fim
from reason_lsp.text import languages
from reason_lsp.workspace import build, retrieval
from reason_lsp.workspace.symbols import extract

pytest.importorskip("torch")

MAIN = "import lib\n\n\ndef run(width, height):\n    return lib."
LIBS = {
    "a": "def scaled_area(width, height, scale):\n    return width * height * scale\n",
    "b": "def framed_volume(width, height, scale):\n    return width * height * scale\n",
}
ANSWERS = {"a": "scaled_area(width, height, 2)", "b": "framed_volume(width, height, 3)"}
PLAIN_ANSWER = "default_area(width, height)"
BUDGET = 2048  # any budget that holds lib.py whole gives the same context
SETTINGS = {"maxNewTokens": 24, "diagnostics": {"model": False}}


def context_for(root: Path) -> list[tuple[str, str]]:
    """What the workspace retrieval gives ``main.py`` at the cursor, as (path, text)."""
    index = build.build(root)
    tree = languages.parser_for("python").parse(MAIN.encode())
    facts = extract(MAIN.encode(), "python", tree, windows=False)
    doc = retrieval.Document("main.py", MAIN, len(MAIN), facts, tree)
    pieces = retrieval.gather(index, build.Reader(index), retrieval.Retriever(), doc, BUDGET)
    return [(p.path, p.text) for p in pieces]


def workspace(root: Path, variant: str) -> Path:
    root.mkdir(parents=True)
    (root / "lib.py").write_text(LIBS[variant])
    (root / "main.py").write_text(MAIN + "\n")
    return root


@pytest.fixture(scope="module")
def repo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_model import build_memorizing_model

    base = tmp_path_factory.mktemp("repo-model")
    texts = []
    for variant, answer in ANSWERS.items():
        context = context_for(workspace(base / f"layout-{variant}", variant))
        assert [path for path, _ in context] == ["lib.py"], context  # the snippet, whole
        texts.append(fim.repository_text(fim.REASON, context, "main.py") + MAIN + answer + "\n")
    texts.append(MAIN + PLAIN_ANSWER + "\n")
    return build_memorizing_model(base / "train", steps=700, texts=texts)


async def start(client: LanguageClient, model: Path, root: Path | None) -> list:
    """Initialize with ``root`` as the workspace; returns the registrations the server asks
    for (the client answers them)."""
    ready: asyncio.Future = asyncio.get_running_loop().create_future()
    registered: list = []

    # This test keeps the registrations: it replaces the accept-all default (conftest).

    client.protocol.fm.features.pop(types.CLIENT_REGISTER_CAPABILITY, None)

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def on_register(ls: LanguageClient, params: types.RegistrationParams) -> None:
        registered.extend(params.registrations)

    @client.feature("reasonLsp/status")
    def on_status(ls: LanguageClient, params: object) -> None:
        if getattr(params, "state", None) in ("ready", "error") and not ready.done():
            ready.set_result(params)

    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=root.as_uri() if root else None,
            workspace_folders=[types.WorkspaceFolder(root.as_uri(), root.name)] if root else None,
            initialization_options={
                "reasonLsp": {
                    "model": str(model),
                    "maxNewTokens": 24,
                    "diagnostics": {"model": False},
                    # The tiny model's window is 128 tokens: the default share of what is
                    # left after the answer would not hold lib.py's snippet.
                    "completion": {"contextShare": 0.6},
                }
            },
        )
    )
    status = await asyncio.wait_for(ready, 120)
    assert status.state == "ready", status
    return registered


async def wait_indexed(client: LanguageClient) -> dict:
    for _ in range(600):
        state = await client.protocol.send_request_async("reasonLsp/workspace", None)
        folders = state.folders
        if folders and all(f.state == "ready" for f in folders):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"the workspace was not indexed: {state}")


async def complete(client: LanguageClient, uri: str) -> str:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, MAIN + "\n"))
    )
    line = MAIN.count("\n")
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri),
            position=types.Position(line, len(MAIN) - MAIN.rfind("\n") - 1),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
        )
    )
    return result.items[0].insert_text if result is not None and result.items else ""


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield lsp_client
    await lsp_client.shutdown_session()


@pytest.mark.parametrize("variant", ["a", "b"])
async def test_the_answer_from_another_file_comes_from_its_snippet(
    client: LanguageClient, repo_model: Path, tmp_path: Path, variant: str
) -> None:
    root = workspace(tmp_path / "ws", variant)
    registered = await start(client, repo_model, root)
    state = await wait_indexed(client)
    assert [r.method for r in registered] == [types.WORKSPACE_DID_CHANGE_WATCHED_FILES]
    assert state.folders[0].files == 2
    text = await complete(client, (root / "main.py").as_uri())
    assert text == ANSWERS[variant]
    after = await client.protocol.send_request_async("reasonLsp/workspace", None)
    assert after.lastContextPieces == 1


async def test_without_the_workspace_no_context_reaches_the_prompt(
    client: LanguageClient, repo_model: Path, tmp_path: Path
) -> None:
    root = workspace(tmp_path / "ws", "a")
    await start(client, repo_model, None)  # the same file, but no workspace folder
    await complete(client, (root / "main.py").as_uri())
    state = await client.protocol.send_request_async("reasonLsp/workspace", None)
    assert state.folders == [] and state.lastContextPieces == 0


async def test_without_the_workspace_the_answer_is_not_produced(
    client: LanguageClient, repo_model: Path, tmp_path: Path
) -> None:
    root = workspace(tmp_path / "ws", "a")
    await start(client, repo_model, None)
    text = await complete(client, (root / "main.py").as_uri())
    assert ANSWERS["a"] not in text
    assert text == PLAIN_ANSWER
