"""Unlikely-code diagnostics end to end: the server on a memorizing model, and `check`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import pytest_lsp
import tree_sitter
from helpers import SERVER_COMMAND, expect_notification
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from tiny_model import MEMO

from reason_lsp.text import languages

PARSER = tree_sitter.Parser(languages.load("python"))
URI = "file:///tmp/reason_lsp_unlikely/circle.py"
MUTANT = MEMO.replace("math.pi * radius ** 2", "math.pi * radius ** 3")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient, memo_model: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    ready: asyncio.Future = asyncio.get_running_loop().create_future()

    @lsp_client.feature("reasonLsp/status")
    def on_status(ls: LanguageClient, params: object) -> None:
        if getattr(params, "state", None) in ("ready", "error") and not ready.done():
            ready.set_result(params)

    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            # The memo model has not been calibrated: a high, explicit warning threshold.
            initialization_options={
                "reasonLsp": {"model": str(memo_model), "diagnostics": {"threshold": 9.0}}
            },
        )
    )
    assert (await asyncio.wait_for(ready, 120)).state == "ready"
    yield
    await lsp_client.shutdown_session()


async def model_diagnostics(client: LanguageClient, text: str, uri: str) -> list[types.Diagnostic]:
    """Open ``text`` and wait for the publication that follows the model's scoring."""
    item = types.TextDocumentItem(uri, "python", 1, text)
    first = await expect_notification(
        client,
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
        lambda: client.text_document_did_open(types.DidOpenTextDocumentParams(item)),
        lambda p: p.uri == uri,
    )  # syntax diagnostics, at once
    assert not [d for d in first.diagnostics if d.code == "unlikely-code"]
    scored = await expect_notification(
        client, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, None, lambda p: p.uri == uri, timeout=60
    )  # after the model's scoring
    return [d for d in scored.diagnostics if d.code == "unlikely-code"]


async def test_planted_mutation_is_flagged_and_fixed_by_the_code_action(
    client: LanguageClient,
) -> None:
    found = await model_diagnostics(client, MUTANT, URI)
    assert len(found) == 1
    d = found[0]
    line = MUTANT.splitlines()[d.range.start.line]
    assert line == "    return math.pi * radius ** 3"
    assert line[d.range.start.character : d.range.end.character] == "3"
    assert d.message == 'unusual code: "3" here; the model expects "2"'
    assert d.source == "reason-lsp" and d.data["replacement"] == "2"
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(URI),
            range=d.range,
            context=types.CodeActionContext(diagnostics=[d]),
        )
    )
    assert actions and actions[0].kind == types.CodeActionKind.QuickFix
    edit = actions[0].edit.changes[URI][0]
    assert edit.range == d.range and edit.new_text == "2"


async def test_clean_file_gets_no_warning(client: LanguageClient) -> None:
    assert await model_diagnostics(client, MEMO, URI + "-clean") == []


def test_check_cli_reports_the_mutation_with_the_model(
    tmp_path: Path, memo_model: Path, capsys
) -> None:
    pytest.importorskip("torch")
    from reason_lsp.cli import main

    path = tmp_path / "circle.py"
    path.write_text(MUTANT)
    # Warnings do not fail the check (exit 0); --no-model leaves them out.
    assert main(["check", "--model", str(memo_model), "--format", "json", str(path)]) == 0
    records = json.loads(capsys.readouterr().out)
    warned = [r for r in records if r["code"] == "unlikely-code" and r["severity"] == "warning"]
    assert [r["message"] for r in warned] == ['unusual code: "3" here; the model expects "2"']
    assert main(["check", "--no-model", "--format", "json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == []
