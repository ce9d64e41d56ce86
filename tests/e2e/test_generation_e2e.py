"""Generation and verification end to end through the real server process (pytest-lsp).

A tiny model memorizes :data:`GEN_MEMO` (functions with their bodies), so when the
file is opened with a body replaced by ``...`` the generate command knows what it
should write. Verification needs no model.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
import pytest_lsp
from helpers import SERVER_COMMAND, did_change_params, edit, expect_notification
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from reason_lsp.features.generation.lsp import (
    GENERATE,
    VERIFY,
    GenerateResult,
    TargetArgs,
    VerifyResult,
)
from reason_lsp.verify.runner import sandbox_missing

GEN_MEMO = '''def add(a, b):
    """Add two numbers.

    >>> add(2, 3)
    5
    >>> add(-1, 1)
    0
    """
    return a + b


def shout(word):
    return word.upper() + "!"
'''
URI = "file:///tmp/reason_lsp_generation/adder.py"
ADD_STUB = GEN_MEMO.replace("    return a + b", "    ...")
SHOUT_STUB = GEN_MEMO.replace('    return word.upper() + "!"', "    ...")
WRONG_ADD = GEN_MEMO.replace("return a + b", "return a * b + 1")  # right for add(-1, 1)

needs_sandbox = pytest.mark.skipif(sandbox_missing() is not None, reason="no reason_lsp.sandbox")


@pytest.fixture(scope="session")
def gen_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("REASON_LSP_TEST_GEN_MODEL"):  # reuse one while iterating locally
        return Path(os.environ["REASON_LSP_TEST_GEN_MODEL"])
    pytest.importorskip("torch")
    from tiny_model import build_memorizing_model

    return build_memorizing_model(tmp_path_factory.mktemp("gen-model"), text=GEN_MEMO)


def position_of(text: str, offset: int) -> types.Position:
    return types.Position(text.count("\n", 0, offset), offset - (text.rfind("\n", 0, offset) + 1))


def apply(text: str, e: types.TextEdit) -> str:
    lines = text.split("\n")

    def offset(p: types.Position) -> int:
        return sum(len(line) + 1 for line in lines[: p.line]) + p.character

    return text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end) :]


async def start(client: LanguageClient, **settings: object) -> list[types.ApplyWorkspaceEditParams]:
    """Initialize; return the list the client's ``workspace/applyEdit`` handler fills."""
    edits: list[types.ApplyWorkspaceEditParams] = []
    ready: asyncio.Future = asyncio.get_running_loop().create_future()

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply(ls: LanguageClient, params: types.ApplyWorkspaceEditParams):
        edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature("reasonLsp/status")
    def on_status(ls: LanguageClient, params: object) -> None:
        if getattr(params, "state", None) in ("ready", "error") and not ready.done():
            ready.set_result(params)

    client.init_result = await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options={"reasonLsp": settings},
        )
    )
    if settings.get("model") != "none":
        status = await asyncio.wait_for(ready, 120)
        assert status.state == "ready", status
    return edits


def open_doc(client: LanguageClient, text: str) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(URI, "python", 1, text))
    )


async def command(client: LanguageClient, name: str, text: str, offset: int):
    args = TargetArgs(URI, position_of(text, offset))
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=[args])
    )
    kind = GenerateResult if name == GENERATE else VerifyResult
    return client.protocol._converter.structure(answer, kind)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def model_client(lsp_client: LanguageClient, gen_model: Path):  # type: ignore[no-untyped-def]
    lsp_client.edits = await start(
        lsp_client, model=str(gen_model), **{"generation.samples": 3,
                                             "generation.temperature": 0.3}
    )  # fmt: skip
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def plain_client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    lsp_client.edits = await start(lsp_client, model="none")
    yield
    await lsp_client.shutdown_session()


@needs_sandbox
async def test_generate_fills_a_stub_whose_doctests_then_pass(model_client: LanguageClient):
    client = model_client
    open_doc(client, ADD_STUB)
    result = await command(client, GENERATE, ADD_STUB, ADD_STUB.index("..."))
    assert result.applied and result.verified, result
    assert (result.passed, result.total, result.candidates) == (2, 2, 3)
    assert result.against == "2 doctests"
    assert result.summary.startswith("verified against 2 doctests: ")
    (params,) = client.edits
    (change,) = params.edit.changes[URI]
    assert apply(ADD_STUB, change) == GEN_MEMO
    assert client.messages[-1].message == f"reason-lsp: {result.summary}"
    reports = [r for rs in client.progress_reports.values() for r in rs]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert any("sampling" in (getattr(r, "message", "") or "") for r in reports)
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)


async def test_generate_without_examples_is_unverified(model_client: LanguageClient):
    client = model_client
    open_doc(client, SHOUT_STUB)
    result = await command(client, GENERATE, SHOUT_STUB, SHOUT_STUB.index("..."))
    assert result.applied and not result.verified, result
    assert result.summary.startswith("unverified: no examples for shout")
    (change,) = client.edits[0].edit.changes[URI]
    assert apply(SHOUT_STUB, change) == GEN_MEMO


@needs_sandbox
async def test_verify_publishes_the_failing_example_until_the_next_edit(
    plain_client: LanguageClient,
):
    client = plain_client
    open_doc(client, WRONG_ADD)
    failing_line = WRONG_ADD[: WRONG_ADD.index(">>> add(2, 3)")].count("\n")

    def has_failure(params: types.PublishDiagnosticsParams) -> bool:
        return any(d.code == "example-failed" for d in params.diagnostics)

    result, published = await asyncio.gather(
        command(client, VERIFY, WRONG_ADD, WRONG_ADD.index("return")),
        expect_notification(client, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, None, has_failure),
    )
    assert (result.passed, result.total) == (1, 2), result
    (diagnostic,) = [d for d in published.diagnostics if d.code == "example-failed"]
    assert diagnostic.range.start == types.Position(failing_line, 4)
    assert diagnostic.source == "reason-lsp"
    assert diagnostic.message == "example failed: expected 5, got 7"
    cleared = await expect_notification(
        client,
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
        lambda: client.text_document_did_change(
            did_change_params(URI, 2, [edit(0, 0, 0, 0, "# edited\n")])
        ),
    )
    assert not has_failure(cleared)


async def test_without_a_model_generate_says_so_and_stubs_offer_the_action(
    plain_client: LanguageClient,
):
    client = plain_client
    open_doc(client, ADD_STUB)
    result = await command(client, GENERATE, ADD_STUB, ADD_STUB.index("..."))
    assert not result.applied and result.summary == "the model is not ready"
    at = position_of(ADD_STUB, ADD_STUB.index("..."))
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(URI),
            range=types.Range(at, at),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    titles = [a.title for a in actions]
    assert "Generate implementation" in titles
    generate = actions[titles.index("Generate implementation")]
    # pygls's client structures the ``Command | CodeAction`` union as a Command and keeps
    # the action's command object as text; the server sent a CodeAction with a Command.
    assert f"'command': '{GENERATE}'" in str(generate.command)
    caps = client.init_result.capabilities  # advertised commands
    assert {GENERATE, VERIFY} <= set(caps.execute_command_provider.commands)


def generate_add_stub(gen_model: Path, folder: Path) -> tuple[Path, list[str], dict]:
    """``reason-lsp generate`` on ADD_STUB written to ``folder``: (file, command, record)."""
    path = folder / "adder.py"
    path.write_text(ADD_STUB)
    line = ADD_STUB[: ADD_STUB.index("def add")].count("\n") + 1
    command = [*SERVER_COMMAND[:-1], "generate", str(path), "--line", str(line),
               "--samples", "2", "--model", str(gen_model), "--format", "json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return path, command, json.loads(done.stdout)


@needs_sandbox
def test_generate_cli_prints_the_body_and_the_summary(gen_model: Path, tmp_path: Path) -> None:
    path, command, record = generate_add_stub(gen_model, tmp_path)
    assert record == {
        "code": "    return a + b", "verified": True, "passed": 2, "total": 2, "candidates": 2,
        "summary": "verified against 2 doctests: 2/2 candidates passed all",
        "against": "2 doctests",
    }  # fmt: skip
    assert path.read_text() == ADD_STUB  # the file is left alone
    bad = subprocess.run([*command[:3], "generate", str(path), "--line", "12",
                          "--model", str(gen_model)], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "already has a body" in bad.stderr


@needs_sandbox
def test_generate_cli_runs_the_workspace_tests_whole(gen_model: Path, tmp_path: Path) -> None:
    """Test functions with their own setup (a local, a loop) run whole beside the body."""
    (tmp_path / "test_adder.py").write_text(
        "from adder import add\n\n"
        "def test_add():\n    x = 2\n    assert add(x, 3) == 5\n\n"
        "def test_add_many():\n    total = 0\n    for n in range(4):\n"
        "        total = add(total, n)\n    assert total == 6\n"
    )
    _, _, record = generate_add_stub(gen_model, tmp_path)
    assert record["verified"] and (record["passed"], record["total"]) == (4, 4), record
    assert record["against"] == "2 doctests and 2 tests from test_adder.py"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def verifying_client(lsp_client: LanguageClient, gen_model: Path):  # type: ignore[no-untyped-def]
    await start(lsp_client, model=str(gen_model), verifyCompletions=True)
    yield
    await lsp_client.shutdown_session()


@needs_sandbox
async def test_verify_completions_runs_a_finishing_completion_before_showing_it(
    verifying_client: LanguageClient,
):
    """In the memorized file the model finishes ``add`` with ``a + b``; the server runs
    add's doctests on it, which pass, before showing it. That a completion failing a
    doctest is dropped is decided on a fixed suggestion in process
    (tests/server/test_completion_server.py): with a doctest changed, the file is one the
    model never saw, and what it writes there is its training run's business."""
    client = verifying_client
    typing = GEN_MEMO.replace("return a + b", "return ")
    open_doc(client, typing)
    cursor = position_of(typing, typing.index("return ") + len("return "))
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(URI),
            position=cursor,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
        )
    )
    stats = await client.protocol.send_request_async("reasonLsp/stats", None)
    assert result is not None and [item.insert_text for item in result.items] == ["a + b"]
    assert (stats.verified, getattr(stats, "verifyRejected", 0)) == (1, 0)
    assert stats.lastVerifyMs > 0
