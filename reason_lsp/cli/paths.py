"""Which files ``reason-lsp check PATH...`` reads: files as given, directories walked.

A directory is walked the way linters do: files in a language the server knows
(``reason_lsp.text.languages``), skipping what ``.gitignore`` files ignore (those of
the walked folders and of their parents up to the repository root, plus
``.git/info/exclude``), the usual folders that hold no project code (virtualenvs,
``node_modules``, build output, caches) and anything matching ``--exclude``. A file
named on the command line is always read unless ``--exclude`` matches it (pre-commit
names exactly the files it wants checked), and so is a named folder that git ignores.

Exclude globs use ``.gitignore`` syntax (``pathspec``), relative to the current folder:
``tests/data/``, ``*_pb2.py``, ``**/generated/**``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from reason_lsp.text import languages

#: Folder names never walked into (a folder holding ``pyvenv.cfg`` is skipped too).
DEFAULT_EXCLUDES = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", "__pypackages__",
        "build", "dist", "site-packages", ".eggs", ".tox", ".nox", ".mypy_cache",
        ".pytest_cache", ".ruff_cache", ".hypothesis", ".reason-lsp-cache", "_build",
        "buck-out", ".direnv", ".idea", ".vscode",
    }
)  # fmt: skip


@dataclass
class Selection:
    """The files to check, in a stable order, and the named paths that do not exist."""

    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def select_files(
    names: Sequence[str], exclude: Sequence[str] = (), cwd: Path | None = None
) -> Selection:
    """The files ``names`` stand for (see the module's docstring)."""
    cwd = (cwd or Path.cwd()).resolve()
    spec = pathspec.GitIgnoreSpec.from_lines(exclude) if exclude else None

    def excluded(path: Path, folder: bool = False) -> bool:
        if spec is None:
            return False
        absolute = path if path.is_absolute() else cwd / path
        try:
            rel = absolute.relative_to(cwd).as_posix()
        except ValueError:  # outside the current folder: match its whole path
            rel = absolute.as_posix().lstrip("/")
        return rel not in ("", ".") and spec.match_file(rel + "/" if folder else rel)

    out = Selection()
    seen: set[Path] = set()
    for name in names:
        path = Path(name)
        if path.is_dir():
            found: Iterable[Path] = [] if excluded(path, True) else walk(path, excluded)
        elif path.exists() or path.is_symlink():
            found = [] if excluded(path) else [path]
        else:
            out.missing.append(name)
            continue
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                out.files.append(file)
    return out


def walk(top: Path, excluded: Callable[[Path, bool], bool] = lambda p, d: False) -> Iterator[Path]:
    """Files under ``top`` in a known language, honouring ``.gitignore``, in sorted order;
    ``excluded(path, is_folder)`` prunes more."""
    top_abs = top.resolve()
    ignores = _GitIgnores(top_abs)
    for folder, dirs, files in os.walk(top):
        here = Path(folder)
        here_abs = top_abs / here.relative_to(top)
        ignores.enter(here_abs)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in DEFAULT_EXCLUDES
            and not d.endswith(".egg-info")
            and not (here / d / "pyvenv.cfg").exists()
            and not ignores.ignored(here_abs / d, folder=True)
            and not excluded(here / d, True)
        )
        for name in sorted(files):
            if languages.grammar_name(path=name) is None:
                continue
            if not ignores.ignored(here_abs / name) and not excluded(here / name, False):
                yield here / name


class _GitIgnores:
    """The ignore files that apply below a folder, each read once: ``.git/info/exclude``,
    the ``.gitignore`` files from the repository root down to the folder, and those
    found while walking."""

    def __init__(self, top: Path) -> None:
        #: (base folder, precedence, patterns); later entries win over earlier ones.
        self.specs: list[tuple[Path, tuple[int, int], pathspec.PathSpec]] = []
        self.read: set[Path] = set()
        repo = next((f for f in (top, *top.parents) if (f / ".git").exists()), None)
        if repo is not None:
            self._read(repo, repo / ".git" / "info" / "exclude", first=True)
            for parent in reversed([top, *top.parents][: len(top.parts) - len(repo.parts) + 1]):
                self._read(parent, parent / ".gitignore")
            if top != repo and self.ignored(top, folder=True):
                # A folder named on the command line is checked even though git ignores
                # it (as ripgrep searches one): only the ignore files inside it apply.
                self.specs = [entry for entry in self.specs if top in (entry[0], *entry[0].parents)]

    def _read(self, base: Path, path: Path, first: bool = False) -> None:
        if path in self.read or not path.is_file():
            return
        self.read.add(path)
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        rank = (len(base.parts), 0 if first else 1)
        self.specs.append((base, rank, pathspec.GitIgnoreSpec.from_lines(lines)))
        self.specs.sort(key=lambda entry: entry[1])

    def enter(self, folder: Path) -> None:
        self._read(folder, folder / ".gitignore")

    def ignored(self, path: Path, folder: bool = False) -> bool:
        """Git's answer: the deepest ignore file with a pattern that matches decides."""
        verdict: bool | None = None
        for base, _, spec in self.specs:
            if base not in path.parents:
                continue
            rel = path.relative_to(base).as_posix()
            result = spec.check_file(rel + "/" if folder else rel)
            if result.include is not None:
                verdict = result.include
        return bool(verdict)
