"""Which files of a workspace folder are indexed: source files, minus what is ignored.

A file is skipped when a ``.gitignore`` on its way down says so (each one applies to
its own folder, as git reads them; ``pathspec`` does the matching), when it lies in
a folder that is vendored, a virtual environment or build output (``node_modules``,
``.venv``, ``site-packages``, ``build``, any folder holding ``pyvenv.cfg``, ...), when
it is larger than the size cap, or when the count cap is reached. The same rules
judge one path at a time for file events (``is_indexed``), so a file created under
``node_modules`` is not indexed later either.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from reason_lsp.text.languages import EXTENSIONS

#: Folder names never walked: vendored code, virtual environments, caches, build output.
DEFAULT_EXCLUDES = frozenset(
    {
        ".git", ".hg", ".svn", ".jj", "node_modules", "bower_components", "vendor", "_vendor",
        "third_party", "thirdparty", "site-packages", "dist-packages", ".venv", "venv", "env",
        ".env", ".tox", ".nox", ".eggs", "__pycache__", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", ".hypothesis", ".ipynb_checkpoints", ".next", ".nuxt", ".cache",
        ".gradle", ".idea", ".vscode", ".vscode-test", "htmlcov", "_build", "buck-out", ".direnv",
        ".reason-lsp-cache",
    }
)  # fmt: skip
#: Build output, unless the folder is a Python package of that name (``pip/.../build``).
BUILD_OUTPUTS = frozenset({"build", "dist", "target", "out", "coverage"})


@dataclass(frozen=True)
class Limits:
    max_files: int = 10_000
    max_file_bytes: int = 256 * 1024


@dataclass(frozen=True)
class Found:
    """A file to index: its path relative to the folder, size and modification time."""

    rel: str
    size: int
    mtime_ns: int


def is_source(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in EXTENSIONS


def excluded_folder(name: str, path: str) -> bool:
    if name in BUILD_OUTPUTS:
        return not os.path.isfile(os.path.join(path, "__init__.py"))
    return (
        name in DEFAULT_EXCLUDES
        or name.endswith(".egg-info")
        or os.path.isfile(os.path.join(path, "pyvenv.cfg"))
    )


class Ignores:
    """The ``.gitignore`` files met so far, each with the folder it applies to."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}

    def spec(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        """The spec of ``folder`` (relative, "" for the root), read once."""
        if folder not in self._specs:
            path = self.root / folder / ".gitignore"
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                lines = []
            self._specs[folder] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._specs[folder]

    def ignored(self, rel: str, is_dir: bool = False) -> bool:
        """Whether a path (relative to the root) is ignored by a ``.gitignore`` above it."""
        parts = PurePosixPath(rel).parts
        for depth in range(len(parts)):
            folder = "/".join(parts[:depth])
            spec = self.spec(folder)
            if spec is None:
                continue
            below = "/".join(parts[depth:]) + ("/" if is_dir else "")
            if spec.match_file(below):
                return True
        return False


def walk(root: Path, limits: Limits | None = None) -> Iterator[Found]:
    """The folder's source files to index, in a stable order, at most ``limits.max_files``."""
    limits = limits or Limits()
    ignores = Ignores(root)
    count = 0
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root).as_posix()
        rel_folder = "" if rel_folder == "." else rel_folder
        kept = []
        for name in sorted(dirs):
            rel = f"{rel_folder}/{name}" if rel_folder else name
            path = os.path.join(folder, name)
            if os.path.islink(path) or excluded_folder(name, path):
                continue
            if not ignores.ignored(rel, is_dir=True):
                kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            if not is_source(name):
                continue
            rel = f"{rel_folder}/{name}" if rel_folder else name
            try:
                stat = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            if stat.st_size > limits.max_file_bytes or ignores.ignored(rel):
                continue
            yield Found(rel, stat.st_size, stat.st_mtime_ns)
            count += 1
            if count >= limits.max_files:
                return


def is_indexed(root: Path, rel: str) -> bool:
    """Whether one path (relative to ``root``) is a file the walk would index (size aside)."""
    parts = PurePosixPath(rel).parts
    if not parts or parts[0] == ".." or not is_source(parts[-1]):
        return False
    for depth in range(1, len(parts)):
        path = root.joinpath(*parts[:depth])
        if excluded_folder(parts[depth - 1], str(path)):
            return False
    return not Ignores(root).ignored(rel)
