"""``reason-lsp check`` and the command line's shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reason_lsp.cli import SUBCOMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


def test_check_text_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('s = "😋"\nprint((1)\n', encoding="utf-8")
    assert main(["check", "--no-model", str(bad)]) == 1
    out = capsys.readouterr().out.strip()
    assert out == f'{bad}:2:6: error: "(" was never closed [syntax-error]'


def test_check_json_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("if x:\n  y\nelse\n  z\n", encoding="utf-8")
    good = tmp_path / "good.rs"
    good.write_text("fn main() {}\n", encoding="utf-8")
    assert main(["check", "--no-model", "--format", "json", str(good), str(bad)]) == 1
    records = json.loads(capsys.readouterr().out)
    assert records == [
        {
            "path": str(bad),
            "range": {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 4}},
            "severity": "error",
            "message": 'unexpected "else"',
            "source": "reason-lsp",
            "code": "syntax-error",
        }
    ]


def test_clean_files_exit_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text("x = 1\n", encoding="utf-8")
    other = tmp_path / "notes.txt"
    other.write_text("(((", encoding="utf-8")  # unknown language: no diagnostics
    assert main(["check", "--no-model", str(good), str(other)]) == 0
    assert main(["check", "--no-model", "--format", "json", str(good)]) == 0
    assert capsys.readouterr().out.strip().endswith("[]")


def test_unreadable_and_usage_errors_exit_two(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["check", "--no-model", str(tmp_path / "missing.py")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["check", "--no-model", str(tmp_path)]) == 0  # a folder is walked
    with pytest.raises(SystemExit) as exc:
        main(["check", "--no-model"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["check", "--no-model", "--format", "xml", "a.py"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--tcp"])
    assert exc.value.code == 2


def test_delegated_subcommand_without_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from reason_lsp import cli

    monkeypatch.setitem(
        cli.SUBCOMMANDS, "train", cli.Subcommand("x", delegate="reason_lsp.no_such_module:main")
    )
    assert main(["train", "--minutes", "1"]) == 2
    assert "not available" in capsys.readouterr().err


def test_delegated_subcommand_passes_raw_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    import types as pytypes

    seen: list[list[str]] = []
    fake = pytypes.ModuleType("fake_training_cli")
    fake.main = lambda argv: seen.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_training_cli", fake)
    from reason_lsp import cli

    monkeypatch.setitem(
        cli.SUBCOMMANDS, "eval", cli.Subcommand("x", delegate="fake_training_cli:main")
    )
    assert main(["-v", "eval", "--help", "x"]) == 7
    assert seen == [["eval", "--help", "x"]]


def test_reserved_subcommands() -> None:
    assert {"check", "train", "eval", "build-corpus"} <= set(SUBCOMMANDS)


def test_console_entry_point_and_module_agree() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reason_lsp", "check", str(ROOT / "examples" / "broken.py")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "broken.py:10:16: error:" in proc.stdout


def test_server_startup_imports_no_torch() -> None:
    """How long start-up takes is measured by bench/startup.py, not asserted here."""
    code = (
        "import sys; import reason_lsp.app, reason_lsp.cli; reason_lsp.app.create_server(); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    torch, transformers = out.stdout.split()
    assert torch == "False" and transformers == "False"
