"""pytest configuration: make tests/helpers.py importable as ``helpers``."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reason_lsp.engine import pretrained

#: The fetched pretrained model, when this machine has it (tests of that model skip
#: without it; CI keeps it in the cache outside the repository).
PRETRAINED_DIR = pretrained.installed_dir()
# Everything else runs on the tiny model, whatever this machine fetched: "embedded"
# resolves against an empty cache in this process and the servers it starts.
os.environ["REASON_LSP_MODEL_CACHE"] = tempfile.mkdtemp(prefix="reason-lsp-no-models-")


@pytest.fixture(scope="session")
def memo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model that knows ``tiny_model.MEMO`` by heart (built once per session)."""
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


@pytest.fixture(scope="session")
def pretrained_model() -> Path:
    """The fetched pretrained model's folder; the test skips where it was never fetched."""
    if PRETRAINED_DIR is None:
        pytest.skip("the pretrained model is not fetched here (reason-lsp fetch-model)")
    return PRETRAINED_DIR
