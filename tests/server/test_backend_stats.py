"""Backend statistics: ``reasonLsp/backendStats`` in the server, the snapshot file, and
``reason-lsp stats`` printing a saved snapshot or the stats folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from inprocess import InProcess

from reason_lsp.engine import latency


@pytest.fixture(autouse=True)
def stats_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REASON_LSP_STATS_DIR", str(tmp_path / "stats"))
    return tmp_path / "stats"


def recorded(url: str = "http://127.0.0.1:1") -> latency.BackendStats:
    stats = latency.for_backend("openai", url)
    stats.model = "coder"
    for ms in (10.0, 20.0, 30.0, 40.0):
        stats.record("generate", ms, first_token_ms=ms / 2)
    stats.record("generate", 0.0, outcome="error", error="refused")
    stats.record("score", 0.0, outcome="cancelled")
    stats.count("redactions", 2)
    return stats


async def test_backend_stats_request_answers_every_backend_of_the_process() -> None:
    recorded("http://127.0.0.1:7001")
    h = InProcess()
    await h.start()
    reply = await h.request("reasonLsp/backendStats", None)
    result = reply["result"]
    assert result["pid"] == os.getpid() and result["version"] == latency.SNAPSHOT_VERSION
    backend = next(b for b in result["backends"] if b["url"] == "http://127.0.0.1:7001")
    gen = backend["operations"]["generate"]
    assert (gen["requests"], gen["errors"]) == (5, 1)
    assert gen["latency"]["p50_ms"] == 25.0 and gen["time_to_first_token"]["p50_ms"] == 12.5
    assert backend["operations"]["score"]["cancelled"] == 1 and backend["redactions"] == 2


def test_snapshot_file_and_the_stats_subcommand(stats_dir, tmp_path) -> None:
    recorded("http://127.0.0.1:7002")
    path = latency.save_soon(force=True)
    assert path is not None and path.parent == stats_dir
    saved = json.loads(path.read_text())
    assert any(b["url"] == "http://127.0.0.1:7002" for b in saved["backends"])
    env = {**os.environ, "REASON_LSP_STATS_DIR": str(stats_dir)}
    run = [sys.executable, "-m", "reason_lsp", "stats"]
    out = subprocess.run([*run, str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "openai http://127.0.0.1:7002" in out.stdout
    assert "generate  5 requests, 1 errors, 0 cancelled; p50 25 ms" in out.stdout
    folder = subprocess.run([*run, "--format", "json"], capture_output=True, text=True, env=env,
                            timeout=60)  # fmt: skip
    assert folder.returncode == 0 and json.loads(folder.stdout)["pid"] == os.getpid()
    empty = {**env, "REASON_LSP_STATS_DIR": str(tmp_path / "none")}
    nothing = subprocess.run(run, capture_output=True, text=True, env=empty, timeout=60)
    assert nothing.returncode == 2 and "no snapshot" in nothing.stderr


async def test_an_unreachable_backend_is_a_retrying_status_told_once() -> None:
    from inprocess import FakeEngine

    engine = FakeEngine()
    h = InProcess(engine)
    await h.start()
    message = "backend unreachable at http://127.0.0.1:1, retrying"
    for _ in range(2):  # two outages: the status each time, the message once
        h.server.models._on_state("retrying", message)
        h.server.models._on_state("ready", "back")
    await h.settle()
    states = [m["params"]["state"] for m in h.messages("reasonLsp/status")]
    assert states[-4:] == ["retrying", "ready", "retrying", "ready"]
    told = [m for m in h.messages("window/showMessage") if "unreachable" in m["params"]["message"]]
    assert len(told) == 1 and "syntax diagnostics keep working" in told[0]["params"]["message"]
