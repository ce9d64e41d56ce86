"""Suggestions a user can accept, end to end on the memorizing model: a block opener
arrives with its body, and the confidence gate shows what the model memorized (what it
hides is tested on scripted log-probabilities in tests/server)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import pytest_lsp
from helpers import SERVER_COMMAND
from pytest_lsp import ClientServerConfig, LanguageClient
from test_completion_e2e import inline_params, open_at, start, stats
from tiny_model import MEMO

pytest.importorskip("torch")

OPENER = MEMO.index("    if total < 0:") + 4
#: The function up to a line that opens a block, the cursor after its indentation: a
#: single-line position (the line above is a plain statement).
BLOCK = MEMO[:OPENER]


@pytest.fixture
def gated_model(memo_model: Path, tmp_path: Path) -> Path:
    """The memorizing model with a confidence gate: shown when the tokens are likely."""
    folder = tmp_path / "gated"
    shutil.copytree(memo_model, folder)
    # On the least likely token: p = sigmoid(2 + 4 * min log p); memorized text has
    # min log p near 0 (p ~ 0.88), a guess the model never saw well below -0.5.
    calibration = {"weights": [0.0, 4.0, 0.0], "bias": 2.0, "automatic": 0.5, "invoked": 0.5}
    (folder / "completion_calibration.json").write_text(json.dumps(calibration))
    return folder


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient, gated_model: Path):  # type: ignore[no-untyped-def]
    await start(lsp_client, "visual-studio-code", gated_model)
    yield
    await lsp_client.shutdown_session()


async def test_a_block_opener_arrives_with_its_body(client: LanguageClient) -> None:
    uri = "file:///tmp/reason_lsp_gate/block.py"
    open_at(client, BLOCK, uri)
    result = await client.text_document_inline_completion_async(
        inline_params(BLOCK, len(BLOCK), uri)
    )
    assert result is not None and result.items
    shown = result.items[0].insert_text
    assert shown == 'if total < 0:\n        raise ValueError("negative surface")'
    compile(BLOCK + shown + "\n", "block.py", "exec")  # the file still compiles with it


async def test_the_gate_shows_a_memorized_suggestion(client: LanguageClient) -> None:
    """Only what holds by training: the model is sure of the text it memorized, so the
    gate shows it. Hiding an unlikely one is decided on scripted log-probabilities
    (tests/server/test_completion_gate_server.py): how sure a memorizing model is of
    text it never saw is a property of its training run, not of the gate."""
    sure = MEMO[: MEMO.index("return 2 * math.pi") + len("return 2 * ")]
    open_at(client, sure, "file:///tmp/reason_lsp_gate/sure.py")
    found = await client.text_document_inline_completion_async(
        inline_params(sure, len(sure), "file:///tmp/reason_lsp_gate/sure.py")
    )
    assert found is not None and [i.insert_text for i in found.items] == ["math.pi * radius"]
    after = await stats(client)
    assert after["lastConfidence"] >= 0.5 and after["unsure"] == 0
