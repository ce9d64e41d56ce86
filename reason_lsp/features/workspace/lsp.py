"""The workspace feature: the index of the workspace folders, and context for prompts.

Indexing starts the first time the server hears from the editor after ``initialize``
(a document opened, settings, the model ready, or a prompt asked for), for every
workspace folder (or ``rootUri``), in the background with ``$/progress``; typing never
waits for it: until a folder's index is in, its completions get no repository context.

It is kept current from ``didOpen``/``didChange`` (the in-memory text wins: an open
document's facts are extracted from its text and tree, a second after the last edit
or when a prompt needs them), ``didSave``, ``workspace/didChangeWatchedFiles``
(registered dynamically when the client can) and ``workspace/didChangeWorkspaceFolders``.

:meth:`prompt_context` gives the completion prompt declarations and similar snippets
(:mod:`reason_lsp.workspace.retrieval`); ``reasonLsp/workspace`` reports the state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.uris import from_fs_path

from reason_lsp.features.workspace.folders import Folder, OpenReader
from reason_lsp.server.core import ReasonLanguageServer
from reason_lsp.server.feature import Context, Feature
from reason_lsp.settings import Settings
from reason_lsp.text import languages
from reason_lsp.text.documents import Snapshot
from reason_lsp.workspace import retrieval, walk
from reason_lsp.workspace.symbols import Facts, extract

log = logging.getLogger(__name__)

STATUS_METHOD = "reasonLsp/workspace"
#: Seconds after the last edit before an open document's definitions are re-extracted.
SETTLE_S = 1.0
#: Recently edited files that count as "near" (besides the open ones).
RECENT = 20
_WATCH_ID = "reason-lsp-watched-files"


def uri_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


class WorkspaceFeature(Feature):
    name = "workspace"

    def __init__(self, server: ReasonLanguageServer) -> None:
        self.server = server
        self.folders: dict[Path, Folder] = {}
        self.retriever = retrieval.Retriever()
        self._open: set[str] = set()
        # Recently opened or edited files, as (folder, path): most recent last. A path, not
        # a document: it stays "near" after its document is closed.
        self.recent: OrderedDict[tuple[Path, str], None] = OrderedDict()
        self._facts: dict[str, tuple[int | None, Facts]] = {}
        self._settle: dict[str, asyncio.TimerHandle] = {}
        self._started = False
        self._watching = False
        self.last_ms = 0.0
        self.last_chars = 0
        self.last_pieces = 0
        self._register(server)

    # -- folders ----------------------------------------------------------------------

    def _limits(self, settings: Settings) -> walk.Limits:
        return walk.Limits(settings.workspace_max_files, settings.workspace_max_file_kb * 1024)

    def _start(self) -> None:
        """Index every workspace folder (once; later folder changes come by notification)."""
        if self._started or not self.server.settings.workspace_enable:
            return
        try:
            workspace = self.server.workspace
        except RuntimeError:
            return  # before initialize
        self._started = True
        uris = [f.uri for f in workspace.folders.values()] or (
            [workspace.root_uri] if workspace.root_uri else []
        )
        for uri in uris:
            self._add_folder(uri)
        self._watch()

    def _add_folder(self, uri: str) -> None:
        root = uri_path(uri)
        if root is None or not root.is_dir() or root in self.folders:
            return
        folder = Folder(self.server, root.resolve(), uri, self._limits(self.server.settings))
        self.folders[folder.root] = folder
        folder.start()

    def _locate(self, uri: str) -> tuple[Folder, str] | None:
        """The folder holding ``uri`` (the deepest) and the path relative to it."""
        path = uri_path(uri)
        if path is None:
            return None
        path = path.resolve() if path.exists() else path
        for root in sorted(self.folders, key=lambda r: -len(r.parts)):
            if path.is_relative_to(root):
                return self.folders[root], path.relative_to(root).as_posix()
        return None

    def _reader(self, folder: Folder) -> OpenReader | None:
        if folder.index is None:
            return None
        return OpenReader(
            folder.index, folder.limits.max_file_bytes, lambda rel: self._open_snapshot(folder, rel)
        )

    def _open_snapshot(self, folder: Folder, rel: str) -> Snapshot | None:
        uri = from_fs_path(str(folder.root / rel))
        return self.server.snapshot(uri) if uri and uri in self.server.documents else None

    def _watch(self) -> None:
        if self._watching or not self.server.client_features.watched_files_dynamic:
            return
        self._watching = True
        globs = "**/*.{" + ",".join(sorted(e.lstrip(".") for e in languages.EXTENSIONS)) + "}"
        registration = types.Registration(
            id=_WATCH_ID,
            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=types.DidChangeWatchedFilesRegistrationOptions(
                watchers=[types.FileSystemWatcher(glob_pattern=globs)]
            ),
        )

        async def register() -> None:
            try:
                await self.server.client_register_capability_async(
                    types.RegistrationParams(registrations=[registration])
                )
            except Exception:
                log.warning("the client refused workspace/didChangeWatchedFiles", exc_info=True)

        self.server.run_task(register(), "register watched files")

    # -- hooks ------------------------------------------------------------------------

    def on_open(self, uri: str) -> None:
        self._start()
        self._open.add(uri)
        self._touch(uri)

    def on_change(self, uri: str) -> None:
        self._touch(uri)
        handle = self._settle.pop(uri, None)
        if handle is not None:
            handle.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._settle[uri] = loop.call_later(SETTLE_S, self._settled, uri)

    def _settled(self, uri: str) -> None:
        """An edited document went quiet: bring its definitions into the index."""
        self._settle.pop(uri, None)
        located = self._locate(uri)
        if located is not None:
            reader = self._reader(located[0])
            if reader is not None:
                reader.read(located[1])

    def on_close(self, uri: str) -> None:
        self._open.discard(uri)
        self._facts.pop(uri, None)
        handle = self._settle.pop(uri, None)
        if handle is not None:
            handle.cancel()
        located = self._locate(uri)
        self.retriever.forget(located[1] if located is not None else "", uri)

    def on_settings(self, settings: Settings) -> None:
        if not settings.workspace_enable:
            for folder in self.folders.values():
                folder.close()
            self.folders.clear()
            self._started = False
            return
        limits = self._limits(settings)
        for folder in self.folders.values():
            if folder.limits != limits:
                folder.limits = limits
                folder.start()
        self._start()

    def on_model_ready(self, engine: Any) -> None:
        self._start()

    def held(self) -> set[str]:
        return self._open | set(self._facts) | set(self._settle)

    def shutdown(self) -> None:
        for handle in self._settle.values():
            handle.cancel()
        self._settle.clear()
        for folder in self.folders.values():
            folder.close()

    def _touch(self, uri: str) -> None:
        located = self._locate(uri)
        if located is None:
            return
        key = (located[0].root, located[1])
        self.recent.pop(key, None)
        self.recent[key] = None
        while len(self.recent) > RECENT:
            self.recent.popitem(last=False)

    # -- prompt context ---------------------------------------------------------------

    def prompt_context(self, snapshot: Snapshot, offset: int, budget_chars: int) -> list[Context]:
        settings = self.server.settings
        if not settings.workspace_enable:
            return []
        self._start()
        located = self._locate(snapshot.uri)
        if located is None:
            return []
        folder, rel = located
        reader = self._reader(folder)
        if reader is None:
            return []
        started = time.perf_counter()
        facts = self._doc_facts(snapshot)
        doc = retrieval.Document(rel, snapshot.text, offset, facts, snapshot.tree)
        near = [path for root, path in reversed(self.recent) if root == folder.root]
        pieces = retrieval.gather(
            folder.index, reader, self.retriever, doc, budget_chars,
            snippets=settings.workspace_snippets, near=near, key=snapshot.uri,
        )  # fmt: skip
        self.last_ms = (time.perf_counter() - started) * 1000
        self.last_chars = retrieval.cost(pieces)
        self.last_pieces = len(pieces)
        return pieces

    def _doc_facts(self, snapshot: Snapshot) -> Facts:
        cached = self._facts.get(snapshot.uri)
        if cached is not None and cached[0] == snapshot.version:
            return cached[1]
        facts = extract(snapshot.data, snapshot.language, snapshot.tree, windows=False)
        self._facts[snapshot.uri] = (snapshot.version, facts)
        return facts

    # -- handlers ---------------------------------------------------------------------

    def _register(self, server: ReasonLanguageServer) -> None:
        feature = self

        @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
        async def did_save(
            ls: ReasonLanguageServer, params: types.DidSaveTextDocumentParams
        ) -> None:
            located = feature._locate(params.text_document.uri)
            if located is not None:
                await located[0].changed({located[1]})

        @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
        async def watched(
            ls: ReasonLanguageServer, params: types.DidChangeWatchedFilesParams
        ) -> None:
            changed: dict[Folder, set[str]] = {}
            deleted: dict[Folder, set[str]] = {}
            for event in params.changes:
                located = feature._locate(event.uri)
                if located is None:
                    continue
                folder, rel = located
                if event.type == types.FileChangeType.Deleted:
                    deleted.setdefault(folder, set()).add(rel)
                elif walk.is_indexed(folder.root, rel):
                    changed.setdefault(folder, set()).add(rel)
            for folder, rels in deleted.items():
                folder.deleted(rels)
            for folder, rels in changed.items():
                await folder.changed(rels)

        @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
        def folders_changed(
            ls: ReasonLanguageServer, params: types.DidChangeWorkspaceFoldersParams
        ) -> None:
            for removed in params.event.removed:
                root = uri_path(removed.uri)
                folder = feature.folders.pop(root.resolve(), None) if root else None
                if folder is not None:
                    folder.close()
            if feature._started:
                for added in params.event.added:
                    feature._add_folder(added.uri)

        @server.feature(STATUS_METHOD)
        def status(ls: ReasonLanguageServer, params: object) -> dict[str, Any]:
            return {
                "folders": [f.stats() for f in feature.folders.values()],
                "lastContextMs": round(feature.last_ms, 3),
                "lastContextChars": feature.last_chars,
                "lastContextPieces": feature.last_pieces,
            }
