"""The default model falls back to the tiny one when the pretrained model was never
fetched, and the server says so once, in one sentence naming the command to run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inprocess import InProcess
from lsprotocol import types

from reason_lsp.engine import catalog, pretrained


def said(h: InProcess) -> list[str]:
    return [m["params"]["message"] for m in h.messages(types.WINDOW_SHOW_MESSAGE)]


async def test_no_fetched_model_is_said_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REASON_LSP_MODEL_CACHE", str(tmp_path))
    h = InProcess()
    h.server.models.fallback_note = catalog.fallback_note  # the real resolution, fake engine
    await h.start()
    notes = [m for m in said(h) if "fetch-model" in m]
    assert notes == [
        "reason-lsp: the pretrained model is not fetched, so the tiny model runs (weaker "
        "completions); run `reason-lsp fetch-model` once to get it."
    ]
    settings = {"reasonLsp": {"contextTokens": 900}}  # the engine restarts: not said again
    h.notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, types.DidChangeConfigurationParams(settings))
    await h.settle()
    assert [m for m in said(h) if "fetch-model" in m] == notes


@pytest.mark.parametrize("model", ["tiny", "embedded"])
async def test_nothing_is_said_when_the_choice_is_the_users_or_the_model_is_there(
    model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REASON_LSP_MODEL_CACHE", str(tmp_path))
    folder = tmp_path / pretrained.SOURCE.name
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / pretrained.SOURCE_RECORD).write_text(json.dumps({"sha256": pretrained.SOURCE.sha256}))
    h = InProcess()
    h.server.models.fallback_note = catalog.fallback_note
    params = types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        initialization_options={"reasonLsp": {"model": model}},
    )
    await h.request(types.INITIALIZE, params)
    h.notify(types.INITIALIZED, types.InitializedParams())
    await h.settle()
    assert not [m for m in said(h) if "fetch-model" in m]
