"""Push diagnostics (``textDocument/publishDiagnostics``), lightly debounced.

A document's first change after a quiet spell is published at once (on the
next turn of the event loop); further changes within ``min_interval`` seconds
are coalesced into one publication at the end of the interval. A scheduled run
always computes from the *current* version, and a result whose version is no
longer current when it is ready is dropped, so an old version is never
published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, Protocol

from lsprotocol import types

from reason_lsp.text.documents import Snapshot

log = logging.getLogger(__name__)


class Host(Protocol):
    """What the publisher needs of the server."""

    def run_task(self, coro: Coroutine[Any, Any, Any], name: str) -> Any: ...
    def snapshot(self, uri: str) -> Snapshot | None: ...
    def collect_diagnostics(self, snapshot: Snapshot) -> list[types.Diagnostic]: ...
    def current_version(self, uri: str) -> int | None: ...
    def text_document_publish_diagnostics(self, params: types.PublishDiagnosticsParams) -> None: ...


class DiagnosticsPublisher:
    def __init__(self, server: Host, min_interval: float = 0.05) -> None:
        self.server = server
        self.min_interval = min_interval
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._last: dict[str, float] = {}
        self.published = 0
        self.dropped = 0

    def schedule(self, uri: str) -> None:
        """Publish diagnostics for ``uri`` soon (coalescing with a pending run)."""
        if uri in self._pending:
            return  # the pending run will read the newest version
        delay = max(0.0, self._last.get(uri, -1e9) + self.min_interval - time.monotonic())
        self._pending[uri] = self.server.run_task(self._run(uri, delay), f"diagnostics {uri}")

    async def _run(self, uri: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            self._pending.pop(uri, None)
        snapshot = self.server.snapshot(uri)
        if snapshot is None:
            return
        diagnostics = self.server.collect_diagnostics(snapshot)
        if self.server.current_version(uri) != snapshot.version:
            self.dropped += 1  # a newer change arrived meanwhile; it has its own run
            return
        self._last[uri] = time.monotonic()
        self.published += 1
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri, diagnostics=diagnostics, version=snapshot.version
            )
        )

    def forget(self, uri: str) -> None:
        """Drop what is kept for a closed document (nothing is sent)."""
        task = self._pending.pop(uri, None)
        if task is not None:
            task.cancel()
        self._last.pop(uri, None)

    def held(self) -> set[str]:
        return set(self._pending) | set(self._last)

    def clear(self, uri: str) -> None:
        """Withdraw a closed document's diagnostics."""
        self.forget(uri)
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    def cancel_all(self) -> None:
        for task in list(self._pending.values()):
            task.cancel()
        self._pending.clear()
