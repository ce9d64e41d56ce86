"""The one walker (``reason_lsp.workspace.walk``) behind both the workspace index and
``reason-lsp check``: the same project files for both, each caller's options on top, and
git's answer on what ``.gitignore`` files ignore."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reason_lsp.workspace import walk
from reason_lsp.workspace.walk import Limits, select_files

#: Files of a project inside a repository whose root .gitignore and info/exclude apply.
TREE = {
    ".gitignore": "*_pb2.py\nsecret/\n",
    ".git/info/exclude": "local.py\n",
    "app/a.py": "x = 1\n",
    "app/gen_pb2.py": "",
    "app/local.py": "",
    "app/secret/key.py": "",
    "app/big.py": "#" * 500 + "\n",
    "app/node_modules/pkg/index.js": "",
    "app/myenv/pyvenv.cfg": "home = /usr\n",
    "app/myenv/lib/site.py": "",
    "app/conda/conda-meta/history": "",
    "app/conda/lib/os.py": "",
    "app/env/settings.py": "",
    "app/build/lib/copy.py": "",
    "app/tools/build/__init__.py": "",
    "app/vendor/dep/dep.go": "",
    "app/tests/data/bad.py": "",
    "app/web/main.ts": "",
    "app/notes.txt": "",
}
#: What both callers see of ``app``: the root's .gitignore and info/exclude apply, a
#: project's own ``env/`` and a Python package named ``build`` are kept.
PROJECT = [
    "a.py", "big.py", "env/settings.py", "tests/data/bad.py", "tools/build/__init__.py",
    "web/main.ts",
]  # fmt: skip


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_index_and_check_walk_the_same_project_files(tmp_path: Path) -> None:
    app = make(tmp_path, TREE) / "app"
    assert [f.rel for f in walk.walk(app)] == PROJECT
    assert [p.relative_to(app).as_posix() for p in select_files([str(app)]).files] == PROJECT
    # The single-path rule used for file events agrees with the walk.
    every = [p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file()]
    assert sorted(rel for rel in every if walk.is_indexed(app, rel)) == sorted(PROJECT)
    assert not walk.is_indexed(app, "../app/a.py") and not walk.is_indexed(app, str(app / "a.py"))


def test_each_caller_adds_its_own_options(tmp_path: Path) -> None:
    app = make(tmp_path, TREE) / "app"
    # The index: a size cap, a count cap and languages.
    assert [f.rel for f in walk.walk(app, Limits(max_file_bytes=100))] == [
        r for r in PROJECT if r != "big.py"
    ]
    assert [f.rel for f in walk.walk(app, Limits(max_files=2))] == PROJECT[:2]
    typescript = Limits(languages=frozenset({"typescript"}))
    assert [f.rel for f in walk.walk(app, typescript)] == ["web/main.ts"]
    assert walk.is_indexed(app, "web/new.ts", typescript)
    assert not walk.is_indexed(app, "new.py", typescript)
    # The check: --exclude globs relative to the current folder, whatever the size.
    chosen = select_files([str(app)], ["tests/data/", "big.py"], cwd=app)
    assert [p.relative_to(app).as_posix() for p in chosen.files] == [
        r for r in PROJECT if r not in ("big.py", "tests/data/bad.py")
    ]


def test_a_folder_named_is_walked_whatever_its_name(tmp_path: Path) -> None:
    """``check vendor/dep`` or a workspace opened on ``node_modules/pkg`` gets its files;
    only the folders below it are judged."""
    app = make(tmp_path, TREE) / "app"
    assert [f.rel for f in walk.walk(app / "vendor")] == ["dep/dep.go"]
    assert [f.rel for f in walk.walk(app / "node_modules" / "pkg")] == ["index.js"]
    assert select_files([str(app / "secret")]).files == [app / "secret" / "key.py"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_a_dangling_link_is_skipped_when_walked_and_reported_when_named(tmp_path: Path) -> None:
    """The old check walker listed it (then failed with exit 2 on reading it); a link
    to nothing inside a folder is not a project file, while one named is the user's
    request and its error is theirs to see."""
    make(tmp_path, {"a.py": ""})
    (tmp_path / "gone.py").symlink_to(tmp_path / "nowhere.py")
    assert select_files([str(tmp_path)]).files == [tmp_path / "a.py"]
    assert [f.rel for f in walk.walk(tmp_path)] == ["a.py"]
    named = select_files([str(tmp_path / "gone.py")])
    assert named.files == [tmp_path / "gone.py"] and named.missing == []


NAMES = ["a", "b", "gen", "build", "env", "node_modules"]
folders = st.lists(st.sampled_from(NAMES), max_size=3).map("/".join)
#: A deeper .gitignore re-includes what the root's ignores; a folder ignored stays so.
OVERRIDE = (
    [("a", "y_pb2.py"), ("a", "x.py"), ("a/gen", "x.py"), ("b", "x.py")],
    {"": ["*_pb2.py", "x.py", "gen/"], "a": ["!y_pb2.py", "!x.py"], "a/gen": ["!x.py"]},
)
leaf = st.sampled_from(["x.py", "y_pb2.py", "__init__.py", "z.js", "n.txt", "pyvenv.cfg"])
patterns = st.sampled_from(
    ["*_pb2.py", "gen/", "/b", "!y_pb2.py", "x.py", "!x.py", "a/x.py", "build"]
)
trees = st.tuples(
    st.lists(st.tuples(folders, leaf), min_size=1, max_size=12),
    st.dictionaries(folders, st.lists(patterns, min_size=1, max_size=3), max_size=3),
)


def build_tree(root: Path, tree: tuple[list[tuple[str, str]], dict[str, list[str]]]) -> None:
    files, ignores = tree
    for folder, name in files:
        make(root, {f"{folder}/{name}" if folder else name: ""})
    for folder, lines in ignores.items():
        make(root, {f"{folder}/.gitignore" if folder else ".gitignore": "\n".join(lines) + "\n"})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
@example(OVERRIDE)
def test_the_walk_the_single_path_rule_and_check_agree(tree) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tree(root, tree)
        walked = [f.rel for f in walk.walk(root, walk.UNLIMITED)]
        every = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        assert sorted(walked) == sorted(rel for rel in every if walk.is_indexed(root, rel))
        assert [p.relative_to(root).as_posix() for p in select_files([tmp]).files] == walked


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
@example(OVERRIDE)
def test_gitignore_handling_agrees_with_git(tree) -> None:
    """On folders no default exclude touches, the walk keeps what git lists as untracked
    and not ignored, from the repository root and from a sub-folder."""
    files, ignores = tree
    plain = {"a", "b", "gen"}
    files = [(d, n) for d, n in files if set(d.split("/")) <= plain | {""} and n != "pyvenv.cfg"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(["git", "init", "-q", tmp], check=True)
        build_tree(root, (files, ignores))
        listed = subprocess.run(
            ["git", "-c", f"core.excludesFile={os.devnull}", "-C", tmp, "ls-files", "--others",
             "--exclude-standard"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        source = sorted(rel for rel in listed if walk.UNLIMITED.wants(rel))
        assert sorted(f.rel for f in walk.walk(root, walk.UNLIMITED)) == source
        sub = root / "a"  # no pattern drawn ignores "a" itself
        if sub.is_dir():
            below = [rel.removeprefix("a/") for rel in source if rel.startswith("a/")]
            assert sorted(f.rel for f in walk.walk(sub, walk.UNLIMITED)) == below
