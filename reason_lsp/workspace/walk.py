"""Which files of a folder belong to the project: the one walker behind the workspace
index and ``reason-lsp check``.

A folder is walked for files in a language the server knows (``reason_lsp.text.languages``),
in a stable order (each folder's files sorted, then its sorted sub-folders), skipping:

- what git ignores: the ``.gitignore`` files of the walked folders and of their parents
  up to the repository root, and ``.git/info/exclude`` (``pathspec`` matches; as in git,
  the deepest ignore file with a matching pattern decides). A folder named to walk is
  walked even when git ignores it (as ripgrep searches one): only the ignore files
  inside it apply. Outside a repository, only the walked folders' ``.gitignore`` apply.
- folders that hold no project code: the names in ``DEFAULT_EXCLUDES`` (version control,
  vendored packages, installed packages, caches, editor settings), ``*.egg-info``, the
  names in ``BUILD_OUTPUTS`` unless the folder is a Python package of that name
  (``tools/build/__init__.py``), and any virtual environment whatever its name (a folder
  holding ``pyvenv.cfg`` or ``conda-meta``), so a project's own ``env/`` is kept.
- what the caller adds: ``Limits`` (the index's ``workspace.maxFiles`` and
  ``workspace.maxFileKb``, a set of languages) and an exclude predicate (``Globs``, the
  check's ``--exclude``). Files that cannot be stat'ed (dangling links) are skipped.

``is_indexed`` judges one path by the same rules (for file events: a file created under
``node_modules`` is not indexed later either). ``select_files`` is the check's entry:
files named are read whatever their folder or language unless ``--exclude`` matches,
folders named are walked, and names that do not exist are returned, not raised.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pathspec

from reason_lsp.text.languages import EXTENSIONS

#: Folder names never walked into (below the folder walked): version control, vendored
#: and installed packages, virtualenvs of the usual names, caches, editor settings.
#: ``env`` and ``.env`` are not here: virtualenvs are found by their marker files, and a
#: folder of that name is often the project's own code.
DEFAULT_EXCLUDES = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr", ".jj", "node_modules", "bower_components", "vendor",
        "_vendor", "third_party", "thirdparty", "site-packages", "dist-packages",
        "__pypackages__", ".venv", "venv", ".direnv", ".tox", ".nox", ".eggs", "__pycache__",
        ".mypy_cache", ".pytest_cache", ".ruff_cache", ".pytype", ".hypothesis",
        ".ipynb_checkpoints", ".next", ".nuxt", ".cache", ".gradle", "htmlcov", "_build",
        "buck-out", ".idea", ".vscode", ".vscode-test", ".reason-lsp-cache",
    }
)  # fmt: skip
#: Build output, unless the folder is a Python package of that name (``pip/.../build``).
BUILD_OUTPUTS = frozenset({"build", "dist", "target", "out", "coverage"})
#: A folder holding one of these is a virtual environment (venv/virtualenv, conda).
ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")

#: ``exclude(path, is_folder)``: the path as the walk's root was given, joined with the
#: path below it.
Exclude = Callable[[Path, bool], bool]


@dataclass(frozen=True)
class Limits:
    """What a walk keeps beyond the project rules: ``None`` is no limit."""

    max_files: int | None = 10_000
    max_file_bytes: int | None = 256 * 1024
    #: Grammar names (``reason_lsp.text.languages``) to keep; ``None`` keeps them all.
    languages: frozenset[str] | None = None

    def wants(self, name: str) -> bool:
        """Whether a file of this name is in a language kept."""
        language = EXTENSIONS.get(os.path.splitext(name)[1].lower())
        return language is not None and (self.languages is None or language in self.languages)


#: The check reads every project file, whatever its size.
UNLIMITED = Limits(max_files=None, max_file_bytes=None)


@dataclass(frozen=True)
class Found:
    """A file to index: its path relative to the folder, size and modification time."""

    rel: str
    size: int
    mtime_ns: int


def excluded_folder(name: str, path: str) -> bool:
    """Whether the folder ``name`` at ``path`` holds no project code (see the docstring)."""
    if name in BUILD_OUTPUTS:
        return not os.path.isfile(os.path.join(path, "__init__.py"))
    return (
        name in DEFAULT_EXCLUDES
        or name.endswith(".egg-info")
        or any(os.path.exists(os.path.join(path, marker)) for marker in ENVIRONMENT_MARKERS)
    )


class GitIgnores:
    """The ignore files that apply below a folder, each read once: ``.git/info/exclude``,
    the ``.gitignore`` files from the repository root down to the folder, and those of
    the folders entered while walking. Paths are absolute, in posix form."""

    def __init__(self, top: Path) -> None:
        #: (base folder with a trailing "/", precedence, patterns); later entries win.
        self.specs: list[tuple[str, tuple[int, int], pathspec.GitIgnoreSpec]] = []
        self._read: set[str] = set()
        repo = next((f for f in (top, *top.parents) if (f / ".git").exists()), None)
        if repo is None:
            return
        self._add(repo.as_posix(), ".git/info/exclude", first=True)
        for parent in reversed([top, *top.parents][: len(top.parts) - len(repo.parts) + 1]):
            self._add(parent.as_posix(), ".gitignore")
        if top != repo and self.ignored(top.as_posix(), folder=True):
            # A folder named to walk is walked though git ignores it (as ripgrep searches
            # one): only the ignore files inside it apply.
            inside = top.as_posix() + "/"
            self.specs = [entry for entry in self.specs if entry[0].startswith(inside)]

    def _add(self, folder: str, name: str, first: bool = False) -> None:
        path = f"{folder.rstrip('/')}/{name}"
        if path in self._read:
            return
        self._read.add(path)
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                lines = file.read().splitlines()
        except OSError:  # none there (or a folder of that name): nothing to apply
            return
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
        if not any(pattern.include is not None for pattern in spec.patterns):
            return  # only comments and blank lines
        base = folder.rstrip("/") + "/"
        # .git/info/exclude sits below the repository root's .gitignore, as in git.
        self.specs.append((base, (base.count("/"), 0 if first else 1), spec))
        self.specs.sort(key=lambda entry: entry[1])

    def enter(self, folder: str) -> None:
        """Read ``folder``'s ``.gitignore`` (once) before judging what is in it."""
        self._add(folder, ".gitignore")

    def ignored(self, path: str, folder: bool = False) -> bool:
        """Git's answer for one path: the deepest ignore file with a matching pattern
        decides (the folders above it are the walk's business)."""
        verdict: bool | None = None
        for base, _, spec in self.specs:
            if path.startswith(base):
                rel = path[len(base) :]
                result = spec.check_file(rel + "/" if folder else rel)
                if result.include is not None:
                    verdict = result.include
        return bool(verdict)


def walk(
    root: Path, limits: Limits | None = None, exclude: Exclude | None = None
) -> Iterator[Found]:
    """The project's files under ``root`` (see the module's docstring), in a stable
    order, at most ``limits.max_files``; ``exclude`` prunes more."""
    limits = limits or Limits()
    top = root.resolve().as_posix()
    ignores = GitIgnores(Path(top))
    given = str(root)
    count = 0
    for folder, dirs, files in os.walk(root):
        below = folder[len(given) :].lstrip(os.sep).replace(os.sep, "/")
        here = f"{top}/{below}" if below else top
        prefix = f"{below}/" if below else ""
        ignores.enter(here)
        dirs[:] = [
            name
            for name in sorted(dirs)
            if not excluded_folder(name, os.path.join(folder, name))
            and not ignores.ignored(f"{here}/{name}", folder=True)
            and not (exclude and exclude(root / (prefix + name), True))
        ]
        for name in sorted(files):
            if not limits.wants(name) or ignores.ignored(f"{here}/{name}"):
                continue
            if exclude and exclude(root / (prefix + name), False):
                continue
            try:
                stat = os.stat(os.path.join(folder, name))
            except OSError:  # a dangling link, or gone since the listing
                continue
            if limits.max_file_bytes is not None and stat.st_size > limits.max_file_bytes:
                continue
            yield Found(prefix + name, stat.st_size, stat.st_mtime_ns)
            count += 1
            if limits.max_files is not None and count >= limits.max_files:
                return


def is_indexed(root: Path, rel: str, limits: Limits | None = None) -> bool:
    """Whether one path (relative to ``root``) is a file the walk would keep (size aside)."""
    path = PurePosixPath(rel)
    parts = path.parts
    if not parts or path.is_absolute() or ".." in parts or not (limits or Limits()).wants(rel):
        return False
    here = root.resolve().as_posix()
    ignores = GitIgnores(Path(here))
    for name in parts[:-1]:
        ignores.enter(here)
        here = f"{here}/{name}"
        if excluded_folder(name, here) or ignores.ignored(here, folder=True):
            return False
    ignores.enter(here)
    return not ignores.ignored(f"{here}/{parts[-1]}")


class Globs:
    """Exclude globs in ``.gitignore`` syntax (``tests/data/``, ``*_pb2.py``,
    ``**/generated/**``) relative to a folder; a path outside it is matched by its
    whole path."""

    def __init__(self, lines: Sequence[str], cwd: Path) -> None:
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)
        self.cwd = cwd

    def __call__(self, path: Path, folder: bool = False) -> bool:
        absolute = path if path.is_absolute() else self.cwd / path
        try:
            rel = absolute.relative_to(self.cwd).as_posix()
        except ValueError:
            rel = absolute.as_posix().lstrip("/")
        return rel not in ("", ".") and self.spec.match_file(rel + "/" if folder else rel)


@dataclass
class Selection:
    """The files to check, in a stable order, and the named paths that do not exist."""

    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def select_files(
    names: Sequence[str], exclude: Sequence[str] = (), cwd: Path | None = None
) -> Selection:
    """The files ``reason-lsp check NAMES...`` reads: a file named is read whatever its
    folder or language (pre-commit names exactly the files it wants checked) unless an
    ``exclude`` glob (relative to ``cwd``) matches it; a folder named is walked, every
    file of the project whatever its size; each file once."""
    globs = Globs(exclude, (cwd or Path.cwd()).resolve()) if exclude else None
    out = Selection()
    seen: set[Path] = set()
    for name in names:
        path = Path(name)
        if path.is_dir():
            if globs is not None and globs(path, True):
                continue
            found = [path / file.rel for file in walk(path, UNLIMITED, globs)]
        elif path.exists() or path.is_symlink():
            found = [] if globs is not None and globs(path) else [path]
        else:
            out.missing.append(name)
            continue
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                out.files.append(file)
    return out
