"""Which files `reason-lsp check` reads (``reason_lsp.workspace.walk.select_files``): folders
walked like a linter, files as given."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reason_lsp.workspace.walk import select_files


def make(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def rels(paths: list[Path], root: Path) -> list[str]:
    return [p.resolve().relative_to(root.resolve()).as_posix() for p in paths]


def walk(folder: Path) -> list[Path]:
    return select_files([str(folder)]).files


def test_a_folder_gives_its_source_files_in_order_without_the_usual_noise(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "src/b.py": "",
            "src/a.py": "",
            "src/lib.rs": "",
            "src/notes.txt": "",
            "src/web/app.tsx": "",
            ".venv/lib/site.py": "",
            "myenv/pyvenv.cfg": "home = /usr\n",
            "myenv/lib/x.py": "",
            "node_modules/pkg/index.js": "",
            "build/lib/copy.py": "",
            "pkg.egg-info/x.py": "",
            "src/__pycache__/a.py": "",
            ".reason-lsp-cache/x.py": "",
        },
    )
    found = rels(walk(tmp_path), tmp_path)
    assert found == ["src/a.py", "src/b.py", "src/lib.rs", "src/web/app.tsx"]


def test_gitignore_files_apply_as_git_reads_them(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    make(
        tmp_path,
        {
            ".gitignore": "generated/\n*_pb2.py\n",
            ".git/info/exclude": "local_only.py\n",
            "src/.gitignore": "!keep_pb2.py\nscratch.py\n",
            "src/keep_pb2.py": "",
            "src/drop_pb2.py": "",
            "src/scratch.py": "",
            "src/main.py": "",
            "local_only.py": "",
            "generated/code.py": "",
            "other/scratch.py": "",
        },
    )
    # Walking a sub-folder still honours the repository root's .gitignore.
    assert rels(walk(tmp_path / "src"), tmp_path) == ["src/keep_pb2.py", "src/main.py"]
    everything = rels(walk(tmp_path), tmp_path)
    assert everything == ["other/scratch.py", "src/keep_pb2.py", "src/main.py"]
    # Git agrees on every file it would list.
    listed = subprocess.run(
        ["git", "-C", str(tmp_path), "ls-files", "--others", "--exclude-standard"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert sorted(p for p in listed if p.endswith(".py")) == everything
    # A folder git ignores is still walked when named (its own .gitignore files apply).
    make(tmp_path, {"generated/.gitignore": "skip.py\n", "generated/skip.py": ""})
    assert rels(walk(tmp_path / "generated"), tmp_path) == ["generated/code.py"]


def test_named_files_are_read_whatever_their_folder_or_language(tmp_path: Path) -> None:
    make(tmp_path, {".venv/x.py": "", "notes.txt": "", "a.py": ""})
    names = [str(tmp_path / ".venv/x.py"), str(tmp_path / "notes.txt"), str(tmp_path / "a.py")]
    chosen = select_files([*names, names[2]], cwd=tmp_path)  # a repeat is read once
    assert [str(p) for p in chosen.files] == names
    assert chosen.missing == []


def test_exclude_globs_prune_folders_and_files_relative_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(
        tmp_path,
        {"src/a.py": "", "src/gen_pb2.py": "", "tests/data/bad.py": "", "tests/t.py": ""},
    )
    monkeypatch.chdir(tmp_path)
    chosen = select_files(["."], ["tests/data/", "*_pb2.py"])
    assert [p.as_posix() for p in chosen.files] == ["src/a.py", "tests/t.py"]
    # A named file is excluded too (pre-commit passes every staged file by name).
    assert select_files(["src/gen_pb2.py", "src/a.py"], ["*_pb2.py"]).files == [Path("src/a.py")]
    assert select_files(["tests/data"], ["tests/data/"]).files == []


def test_missing_paths_are_reported_not_raised(tmp_path: Path) -> None:
    chosen = select_files([str(tmp_path / "nope.py"), str(tmp_path)], cwd=tmp_path)
    assert chosen.files == [] and chosen.missing == [str(tmp_path / "nope.py")]
