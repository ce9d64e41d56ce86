"""The index of one workspace folder: its files' facts, imports resolved, windows searchable.

Only the event loop's thread changes an index (the build runs elsewhere and hands it
finished :class:`~reason_lsp.workspace.symbols.Facts`), so there are no locks.

- ``files``: relative path -> :class:`Entry` (its facts, where its windows are).
- Top-level definition names -> the files defining them, for languages whose names
  cross files without an import the index can follow (and as a fallback).
- Its windows, searchable (:mod:`reason_lsp.workspace.postings`); a changed or deleted
  file's windows stay as dead ids until the next build (:attr:`stale` says how many).
- Python imports resolve by path: relative ones from the importer's package,
  absolute ones against the importer's folders (deepest first) and the root, with the
  root's own package name (a root that is a package, like ``site-packages/rich``)
  stripped; ``from m import n`` follows re-exports a few levels deep.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reason_lsp.workspace.postings import WindowIndex
from reason_lsp.workspace.symbols import FIELDS, WINDOW_STRIDE, Facts, Import

#: Resolving ``from m import n`` follows this many re-exports.
REEXPORT_DEPTH = 3

_PY_SUFFIXES = (".py", ".pyi", "/__init__.py", "/__init__.pyi")
_JS_SUFFIXES = ("", ".ts", ".tsx", ".js", ".jsx", ".mjs", "/index.ts", "/index.js")


@dataclass(slots=True)
class Entry:
    id: int
    rel: str
    stamp: tuple[object, ...]  # (size, mtime_ns) on disk, or ("open", version)
    facts: Facts  # windows emptied once they are in the postings
    first_window: int
    windows: int


#: A file as the worker process ships it: rel, stamp, facts, first window, windows.
Shipped = tuple[str, tuple[object, ...], Facts, int, int]


@dataclass(frozen=True)
class Target:
    """What an import points at: a file, and a definition in it (-1: the module itself)."""

    rel: str
    definition: int = -1


def package_prefix(root: Path) -> str:
    """The dotted package name of ``root`` when it is a package (``.../site-packages/rich``
    gives "rich"), else ""."""
    parts: list[str] = []
    folder = root
    while (folder / "__init__.py").is_file() or (folder / "__init__.pyi").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts)


class WorkspaceIndex:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = package_prefix(root)
        self.files: dict[str, Entry] = {}
        self.windows = WindowIndex()
        self._by_id: list[Entry | None] = []
        self._names: dict[str, list[int]] = {}
        self.generation = 0  # bumped by every change

    # -- changes ----------------------------------------------------------------------

    def add(self, rel: str, facts: Facts, stamp: tuple[object, ...]) -> Entry:
        """Put (or replace) a file's facts; its windows become searchable."""
        self.remove(rel)
        entry = self._enter(rel, facts, stamp, len(self.windows), len(facts.windows))
        for k, tokens in enumerate(facts.windows):
            self.windows.add(entry.id, k * WINDOW_STRIDE, tokens)
        facts.windows = ()
        return entry

    def adopt(self, shipped: Shipped) -> None:
        """A file the worker process indexed (in the worker's order; windows come later)."""
        rel, stamp, facts, first_window, windows = shipped
        self._enter(rel, facts, stamp, first_window, windows)

    def install(self, state: tuple[object, ...]) -> None:
        """The windows of every adopted file, built by the worker process."""
        self.windows = WindowIndex.from_state(state)
        self.generation += 1

    def _enter(
        self, rel: str, facts: Facts, stamp: tuple[object, ...], first: int, windows: int
    ) -> Entry:
        entry = Entry(len(self._by_id), sys.intern(rel), stamp, facts, first, windows)
        self._by_id.append(entry)
        self.files[entry.rel] = entry
        self._add_names(entry)
        self.generation += 1
        return entry

    def update_facts(self, rel: str, facts: Facts, stamp: tuple[object, ...]) -> None:
        """New definitions and imports for a file whose windows stay as indexed (an open
        document being edited: its own text is searched directly, not through the index)."""
        entry = self.files.get(rel)
        if entry is None:
            self.add(rel, facts, stamp)
            return
        self._drop_names(entry)
        facts.windows = ()
        entry.facts, entry.stamp = facts, stamp
        self._add_names(entry)
        self.generation += 1

    def remove(self, rel: str) -> bool:
        entry = self.files.pop(rel, None)
        if entry is None:
            return False
        self._by_id[entry.id] = None
        self._drop_names(entry)
        self.windows.kill(entry.first_window, entry.windows)
        self.generation += 1
        return True

    @property
    def stale(self) -> float:
        """The share of windows that are dead or outside the frozen postings (a rebuild
        restores 0)."""
        windows = self.windows
        loose = len(windows.delta)
        return (windows.dead + loose) / max(1, len(windows) + loose)

    def _add_names(self, entry: Entry) -> None:
        facts = entry.facts
        for i, name in enumerate(facts.names):
            if facts.defs[i * FIELDS + 1] == 0:
                self._names.setdefault(sys.intern(name), []).append(entry.id)

    def _drop_names(self, entry: Entry) -> None:
        facts = entry.facts
        for i, name in enumerate(facts.names):
            ids = self._names.get(name)
            if facts.defs[i * FIELDS + 1] == 0 and ids is not None:
                if entry.id in ids:
                    ids.remove(entry.id)
                if not ids:
                    del self._names[name]

    # -- queries ----------------------------------------------------------------------

    def entry(self, rel: str) -> Entry | None:
        return self.files.get(rel)

    def defining(self, name: str) -> list[str]:
        """Files with a top-level definition of ``name``."""
        by_id = self._by_id
        return [e.rel for i in self._names.get(name, ()) if (e := by_id[i]) is not None]

    def search(
        self, query: set[int], exclude: Collection[str] = (), limit: int = 24
    ) -> list[tuple[str, int, float]]:
        """Windows most like ``query`` (BM25): ``(rel, first line, score)``, best first."""
        by_id = self._by_id

        def alive(file_id: int) -> bool:
            entry = by_id[file_id] if file_id < len(by_id) else None
            return entry is not None and entry.rel not in exclude

        windows = self.windows
        out = []
        for w, score in windows.search(query, alive, limit):
            entry = by_id[windows.file[w]]
            assert entry is not None
            out.append((entry.rel, windows.start[w], score))
        return out

    # -- imports ----------------------------------------------------------------------

    def module_file(self, importer: str, module: str, level: int = 0) -> str | None:
        """The workspace file of a module imported from ``importer`` (None: outside)."""
        parts = [p for p in module.split(".") if p]
        folder = list(PurePosixPath(importer).parent.parts)
        if level > 0:
            if level - 1 > len(folder):
                return None
            base = folder[: len(folder) - (level - 1)]
            return self._python_file([*base, *parts]) if parts else self._init(base)
        if self.prefix and (module == self.prefix or module.startswith(self.prefix + ".")):
            inside = module[len(self.prefix) + 1 :]
            found = self._python_file(inside.split(".")) if inside else self._init([])
            if found is not None:
                return found
        for depth in range(len(folder), -1, -1):
            found = self._python_file([*folder[:depth], *parts])
            if found is not None:
                return found
        return None

    def _python_file(self, parts: list[str]) -> str | None:
        if not parts:
            return None
        stem = "/".join(parts)
        for suffix in _PY_SUFFIXES:
            if stem + suffix in self.files:
                return stem + suffix
        return None

    def _init(self, parts: list[str]) -> str | None:
        for name in ("__init__.py", "__init__.pyi"):
            rel = "/".join([*parts, name])
            if rel in self.files:
                return rel
        return None

    def resolve(self, importer: str, imp: Import, depth: int = 0) -> Target | None:
        """Where an import of ``importer`` points inside the workspace, or None."""
        if imp.level < 0:
            return self._path_import(importer, imp.module)
        module = self.module_file(importer, imp.module, imp.level)
        if not imp.name or imp.name == "*":
            return Target(module) if module is not None else None
        if module is not None:
            found = self.member(module, imp.name, depth)
            if found is not None:
                return found
        dotted = f"{imp.module}.{imp.name}" if imp.module else imp.name
        sub = self.module_file(importer, dotted, imp.level)  # a namespace package's module
        return Target(sub) if sub is not None else None

    def member(self, module: str, name: str, depth: int = 0) -> Target | None:
        """``name`` in the module file ``module``: its definition, what it re-exports
        under that name, or the package's submodule."""
        entry = self.files.get(module)
        if entry is None:
            return None
        index = entry.facts.find(name)
        if index >= 0:
            return Target(module, index)
        if depth < REEXPORT_DEPTH:
            for again in entry.facts.imports:
                if again.alias == name:
                    found = self.resolve(module, again, depth + 1)
                    if found is not None:
                        return found
        path = PurePosixPath(module)
        if path.stem == "__init__":
            sub = self._python_file([*path.parent.parts, name])
            if sub is not None:
                return Target(sub)
        return None

    def _path_import(self, importer: str, spec: str) -> Target | None:
        """A JavaScript/TypeScript relative import or a C/C++ quoted include."""
        folder = PurePosixPath(importer).parent
        base = os.path.normpath((folder / spec).as_posix())
        for suffix in _JS_SUFFIXES:
            if base + suffix in self.files:
                return Target(base + suffix)
        name = PurePosixPath(spec).name
        for rel in self.files:  # an include found through the include path
            if rel.endswith("/" + name) or rel == name:
                return Target(rel)
        return None
