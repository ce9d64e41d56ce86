"""Building an index from disk: the work that runs off the event loop, and its results.

:func:`extract_files` reads and extracts a batch of files; it is what the server's
worker process runs (tree-sitter holds the GIL while it parses, so parsing in a
thread would stall keystrokes), and what :func:`build` runs in-process for tests,
benchmarks and small updates. It never raises for one bad file: an unreadable or
undecodable file is left out.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from reason_lsp.text import languages
from reason_lsp.workspace.index import Entry, Shipped, WorkspaceIndex
from reason_lsp.workspace.symbols import Facts, extract
from reason_lsp.workspace.walk import Limits, walk

#: Files per batch handed from the worker to the event loop.
BATCH = 48

Extracted = tuple[str, tuple[object, ...], Facts]


def stamp_of(path: Path) -> tuple[object, ...] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns)


def extract_file(root: Path, rel: str, max_bytes: int) -> Extracted | None:
    """One file's facts from disk, or None when it is gone, too large or unreadable."""
    path = root / rel
    try:
        stat = os.stat(path)
        if stat.st_size > max_bytes:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None  # binary
    language = languages.grammar_name(path=rel)
    return rel, (stat.st_size, stat.st_mtime_ns), extract(data, language)


def extract_files(root: str, rels: list[str], max_bytes: int) -> list[Extracted]:
    """The facts of a batch of files (the unit of work of the worker process)."""
    out = []
    for rel in rels:
        try:
            found = extract_file(Path(root), rel, max_bytes)
        except Exception:  # a grammar bug on one file must not lose the batch
            found = None
        if found is not None:
            out.append(found)
    return out


def discover(root: str, limits: Limits) -> list[str]:
    """The files to index under ``root`` (relative paths), at most ``limits.max_files``."""
    return [found.rel for found in walk(Path(root), limits)]


def add_all(index: WorkspaceIndex, batch: list[Extracted]) -> None:
    for rel, stamp, facts in batch:
        index.add(rel, facts, stamp)


def build(
    root: Path,
    limits: Limits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WorkspaceIndex:
    """A whole index, in this thread."""
    limits = limits or Limits()
    index = WorkspaceIndex(root)
    rels = discover(str(root), limits)
    for start in range(0, len(rels), BATCH):
        add_all(index, extract_files(str(root), rels[start : start + BATCH], limits.max_file_bytes))
        if progress is not None:
            progress(min(start + BATCH, len(rels)), len(rels))
    index.windows.freeze()
    return index


def serve(conn: Connection) -> None:
    """The worker process: receive ``(root, limits)``, build that folder's index and ship
    it through ``conn``: ``("found", n)``, ``("files", [Shipped, ...])`` per batch, then
    ``("windows", state)``. The event loop's side adopts the files as they come."""
    root, limits = conn.recv()
    index = WorkspaceIndex(Path(root))
    rels = discover(root, limits)
    conn.send(("found", len(rels)))
    for start in range(0, len(rels), BATCH):
        shipped: list[Shipped] = []
        batch = extract_files(root, rels[start : start + BATCH], limits.max_file_bytes)
        for rel, stamp, facts in batch:
            entry = index.add(rel, facts, stamp)
            shipped.append((entry.rel, stamp, entry.facts, entry.first_window, entry.windows))
        conn.send(("files", shipped))
    conn.send(("windows", index.windows.state()))
    conn.close()


class Reader:
    """Files' current text for an index, from disk; a file changed since it was indexed is
    indexed again first, so offsets into its text are right. The server's reader answers
    open documents from their in-memory text instead."""

    def __init__(self, index: WorkspaceIndex, max_bytes: int = 256 * 1024) -> None:
        self.index = index
        self.max_bytes = max_bytes

    def load(self, rel: str) -> tuple[tuple[object, ...], bytes] | None:
        """The file's stamp and text now (None: gone or too large)."""
        path = self.index.root / rel
        stamp = stamp_of(path)
        if stamp is None or int(stamp[0]) > self.max_bytes:  # type: ignore[call-overload]
            return None
        try:
            return stamp, path.read_bytes()
        except OSError:
            return None

    def refresh(self, rel: str, stamp: tuple[object, ...], data: bytes) -> Entry:
        return self.index.add(rel, extract(data, languages.grammar_name(path=rel)), stamp)

    def read(self, rel: str) -> tuple[Entry, bytes] | None:
        got = self.load(rel)
        if got is None:
            return None
        stamp, data = got
        entry = self.index.entry(rel)
        if entry is None or entry.stamp != stamp:
            entry = self.refresh(rel, stamp, data)
        return entry, data
