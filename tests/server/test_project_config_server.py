"""The server reads the workspace's `[tool.reason-lsp]` at initialize (as `check` does), and
tells the user in one sentence, through the status and `window/showMessage`, when a model
package is missing."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from inprocess import InProcess
from lsprotocol import types

from reason_lsp.engine import create_engine
from reason_lsp.server.models import STATUS_METHOD


async def initialize(h: InProcess, root: Path, options: dict | None = None) -> None:
    params = types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        root_uri=root.as_uri(),
        initialization_options=options,
    )
    await h.request(types.INITIALIZE, params)
    h.notify(types.INITIALIZED, types.InitializedParams())
    await h.settle()


def shown(h: InProcess) -> list[str]:
    return [m["params"]["message"] for m in h.messages(types.WINDOW_SHOW_MESSAGE)]


async def test_the_workspace_pyproject_sets_the_settings(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.reason-lsp]\ncontextTokens = 900\ndiagnostics.threshold = 14.0\n"
        'sandbox = { timeout = "long" }\n\n[tool.reason-lsp.check]\nignore = ["unlikely-code"]\n'
    )
    h = InProcess()
    await initialize(h, tmp_path, {"reasonLsp": {"contextTokens": 2048, "maxNewTokens": 16}})
    settings = h.server.settings
    assert (settings.context_tokens, settings.diagnostics_threshold) == (900, 14.0)
    assert settings.max_new_tokens == 16  # the client's, where the project says nothing
    assert settings.sandbox_timeout == 10.0  # the bad value falls back, and the user is told
    (said,) = [m for m in shown(h) if "pyproject.toml" in m]
    assert "sandbox.timeout" in said and "using the default" in said


async def test_a_broken_pyproject_is_said_and_the_server_runs_on(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.reason-lsp\n")
    h = InProcess()
    await initialize(h, tmp_path)
    assert any("not valid TOML" in m for m in shown(h))
    assert h.server.settings.context_tokens == 1024


async def test_a_missing_model_package_is_one_sentence_in_the_status_and_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    h = InProcess()
    h.server.models.factory = create_engine  # the real local engine
    await initialize(h, tmp_path)
    for _ in range(200):
        states = [m["params"] for m in h.messages(STATUS_METHOD)]
        if states and states[-1]["state"] == "error":
            break
        await asyncio.sleep(0.02)
    sentence = (
        "the model needs the Python package torch, which is not installed; "
        "install it with: pip install 'reason-lsp[model]'"
    )
    assert states[-1]["message"] == sentence
    assert [m for m in shown(h) if "torch" in m] == [
        f"reason-lsp: the model could not be loaded ({sentence}); syntax diagnostics keep working."
    ]
    uri = (tmp_path / "bad.py").as_uri()
    h.open(uri, "def f(:\n")  # syntax diagnostics still come
    await h.settle(0.2)
    published = [
        m["params"] for m in h.messages(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        if m["params"]["uri"] == uri
    ]  # fmt: skip
    assert published and published[-1]["diagnostics"]
    h.server.stop()
