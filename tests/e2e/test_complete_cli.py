"""``reason-lsp complete``: the completion pipeline from the shell, on the memorizing model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_model import MEMO

pytest.importorskip("torch")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reason_lsp", "complete", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )


def test_complete_prints_the_memorized_line_as_json(tmp_path: Path, memo_model: Path) -> None:
    cursor = MEMO.index("return 2 * math.pi") + len("return 2 * ")
    text = MEMO[:cursor] + MEMO[MEMO.index("\n", cursor) :]
    path = tmp_path / "circle.py"
    path.write_text(text)
    line = text.count("\n", 0, cursor) + 1
    col = cursor - (text.rfind("\n", 0, cursor) + 1) + 1
    done = run(
        str(path),
        "--line",
        str(line),
        "--col",
        str(col),
        "--format",
        "json",
        "--model",
        str(memo_model),
    )
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    assert items[0]["text"] == "math.pi * radius"
    assert items[0]["range"]["start"] == {"line": line - 1, "character": col - 1}


def test_complete_rejects_positions_outside_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text("x = 1\n")
    done = run(str(path), "--line", "9", "--col", "1")
    assert done.returncode == 2 and "outside" in done.stderr


def test_complete_reports_a_missing_model_clearly(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text("x = ")
    done = run(str(path), "--line", "1", "--col", "5", "--model", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "does not exist" in done.stderr
