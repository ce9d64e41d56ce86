"""The workspace's [tool.reason-lsp] stays on top of later settings from the client."""

from __future__ import annotations

from inprocess import InProcess
from lsprotocol import types


async def test_a_settings_change_keeps_the_project_table_on_top(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.reason-lsp]\nmaxNewTokens = 17\n")
    h = InProcess()
    params = types.InitializeParams(capabilities=types.ClientCapabilities(),
                                    root_uri=tmp_path.as_uri())  # fmt: skip
    await h.request(types.INITIALIZE, params)
    h.notify(types.INITIALIZED, types.InitializedParams())
    await h.settle()
    assert h.server.settings.max_new_tokens == 17
    change = {"reasonLsp": {"maxNewTokens": 64, "contextTokens": 700}}
    h.notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, types.DidChangeConfigurationParams(change))
    await h.settle()
    assert h.server.settings.max_new_tokens == 17  # the project file wins
    assert h.server.settings.context_tokens == 700  # the client's other settings apply
