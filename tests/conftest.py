"""pytest configuration: make tests/helpers.py importable as ``helpers``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


import pytest


@pytest.fixture(scope="session")
def memo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model that knows ``tiny_model.MEMO`` by heart (built once per session)."""
    import os

    from tiny_model import build_memorizing_model

    if os.environ.get("REASON_LSP_TEST_MEMO_MODEL"):  # reuse one while iterating locally
        return Path(os.environ["REASON_LSP_TEST_MEMO_MODEL"])
    return build_memorizing_model(tmp_path_factory.mktemp("memo-model"))


def _accept_registrations() -> None:
    """Real editors accept dynamic registration (the server registers file watchers with
    clients that say they support it); pytest-lsp's test client answers "method not
    found" and fails the test, so its clients accept them here, as VS Code does."""
    from lsprotocol import types
    from pytest_lsp import client as test_client

    @test_client.default_feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        return None

    @test_client.default_feature(types.CLIENT_UNREGISTER_CAPABILITY)
    def unregister(params: types.UnregistrationParams) -> None:
        return None


_accept_registrations()
