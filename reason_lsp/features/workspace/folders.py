"""One workspace folder's index in the server: built in a worker process, kept current.

The build runs in a spawned process (tree-sitter holds the GIL while it parses, so a
thread would stall keystrokes): it walks and extracts the folder and ships the files
in batches, then the frozen window postings; the event loop adopts each batch
(a few milliseconds) and reports progress. The index is swapped in whole when the
build ends, so a query never sees half of one. Where a process cannot be started,
the same build runs in a thread.

Changes that arrive during a build are replayed after it. A changed file on disk is
extracted again (in a thread: it is one file); a deleted one is dropped; many
changes at once, or an index whose windows are mostly stale, start a new build.
Open documents never come from disk: :class:`OpenReader` answers them from their
in-memory text and tree.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reason_lsp.server.progress import Progress
from reason_lsp.text.documents import Snapshot
from reason_lsp.workspace import build
from reason_lsp.workspace.index import Entry, WorkspaceIndex
from reason_lsp.workspace.symbols import extract
from reason_lsp.workspace.walk import Limits

log = logging.getLogger(__name__)

#: More changed files than this at once: build again rather than file by file.
REBUILD_CHANGES = 200
#: Build again once this share of the windows is dead or outside the frozen postings.
REBUILD_STALE = 0.3


class OpenReader(build.Reader):
    """A folder's files as the editor has them: open documents from memory."""

    def __init__(
        self, index: WorkspaceIndex, max_bytes: int, snapshot: Callable[[str], Snapshot | None]
    ) -> None:
        super().__init__(index, max_bytes)
        self.snapshot = snapshot  # rel -> the open document's snapshot, or None

    def load(self, rel: str) -> tuple[tuple[object, ...], bytes] | None:
        snap = self.snapshot(rel)
        if snap is None:
            return super().load(rel)
        return ("open", snap.version), snap.data

    def refresh(self, rel: str, stamp: tuple[object, ...], data: bytes) -> Entry:
        snap = self.snapshot(rel)
        if snap is None or stamp[0] != "open":
            return super().refresh(rel, stamp, data)
        # An edited document's windows are searched from its text; only its facts change.
        self.index.update_facts(rel, extract(data, snap.language, snap.tree, False), stamp)
        entry = self.index.entry(rel)
        assert entry is not None
        return entry


class Folder:
    def __init__(self, server: Any, root: Path, uri: str, limits: Limits) -> None:
        self.server, self.root, self.uri, self.limits = server, root, uri, limits
        self.index: WorkspaceIndex | None = None
        self.build_s = 0.0
        self._task: asyncio.Task[Any] | None = None
        self._process: Any = None
        self._pending: set[str] = set()  # changed during a build: replayed after it
        self._closed = False

    @property
    def building(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.building and not self._closed:
            self._task = self.server.run_task(self._build(), f"index {self.root}")

    def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        self._stop_process()

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.is_alive():
            process.terminate()

    async def _build(self) -> None:
        progress = Progress(self.server, "Indexing workspace")
        await progress.begin(self.root.name)
        started = time.perf_counter()
        try:
            index = await self._in_process(progress)
        except (OSError, EOFError, RuntimeError, ValueError) as exc:
            log.warning("index worker failed (%s); indexing %s in a thread", exc, self.root)
            index = await self.server.run_blocking(build.build, self.root, self.limits)
        except asyncio.CancelledError:
            progress.end("cancelled")
            raise
        self.build_s = time.perf_counter() - started
        self.index = index
        pending, self._pending = self._pending, set()
        progress.end(f"{len(index.files)} files indexed in {self.build_s:.1f} s")
        log.info("%s: %d files indexed in %.1f s", self.root, len(index.files), self.build_s)
        if pending:
            await self.changed(pending)

    async def _in_process(self, progress: Progress) -> WorkspaceIndex:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=build.serve, args=(child,), daemon=True, name="reason-lsp-index"
        )
        process.start()
        self._process = process
        child.close()
        index = WorkspaceIndex(self.root)
        try:
            parent.send((str(self.root), self.limits))
            total = done = 0
            while True:
                kind, payload = await self.server.run_blocking(parent.recv)
                if kind == "found":
                    total = payload
                elif kind == "files":
                    for shipped in payload:
                        index.adopt(shipped)
                    # The index is long-lived: moved out of the collector's generations, its
                    # growth does not set off full collections (each one walks the whole
                    # heap, torch's too, ~150 ms with the loop stopped).
                    gc.freeze()
                    done += len(payload)
                    percentage = int(100 * done / total) if total else 100
                    progress.report(f"{done}/{total} files", percentage)
                elif kind == "windows":
                    index.install(payload)
                    return index
        finally:
            parent.close()
            self._stop_process()

    async def changed(self, rels: set[str]) -> None:
        """Files changed or created on disk (relative paths already judged indexable)."""
        if self.index is None or self.building:
            self._pending |= rels
            return
        if len(rels) > REBUILD_CHANGES:
            self.start()
            return
        index = self.index
        found = await self.server.run_blocking(
            build.extract_files, str(self.root), sorted(rels), self.limits.max_file_bytes
        )
        if index is not self.index:
            return  # a new build replaced it meanwhile
        got = {rel for rel, _, _ in found}
        build.add_all(index, found)
        for rel in rels - got:  # gone or now too large
            index.remove(rel)
        self._maybe_rebuild()

    def deleted(self, rels: set[str]) -> None:
        if self.index is None or self.building:
            self._pending |= rels  # replayed as a change: gone files are dropped then
            return
        for rel in rels:
            if not self.index.remove(rel):  # a folder: everything below it
                prefix = rel.rstrip("/") + "/"
                for inside in [r for r in self.index.files if r.startswith(prefix)]:
                    self.index.remove(inside)
        self._maybe_rebuild()

    def _maybe_rebuild(self) -> None:
        index = self.index
        if index is not None and len(index.windows) > 5000 and index.stale > REBUILD_STALE:
            self.start()

    def stats(self) -> dict[str, Any]:
        index = self.index
        return {
            "root": str(self.root),
            "state": "building" if self.building else "ready" if index is not None else "idle",
            "files": len(index.files) if index is not None else 0,
            "windows": index.windows.live if index is not None else 0,
            "buildSeconds": round(self.build_s, 3),
        }
