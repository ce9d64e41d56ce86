"""The real server as the benchmarks drive it: a subprocess over stdio and a pygls client.

:class:`BenchServer` starts ``python -m reason_lsp --stdio``, initializes it with the
given ``reasonLsp`` settings, waits for the model, and offers the few requests the
benchmarks make (documents, inline completion, ``reasonLsp/stats``, RSS).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
STATUS_METHOD = "reasonLsp/status"
STATS_METHOD = "reasonLsp/stats"


def utf16_position(text: str, offset: int) -> types.Position:
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return types.Position(line, len(text[start:offset].encode("utf-16-le")) // 2)


def proc_status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


class BenchServer:
    def __init__(self, settings: dict[str, Any], root_uri: str | None = None) -> None:
        self.settings = settings
        self.root_uri = root_uri
        self.client = LanguageClient("reason-lsp-bench", "0")
        self.tail: collections.deque = collections.deque(maxlen=40)
        self.load_s = 0.0
        self.status: Any = None
        self.edits: list[types.ApplyWorkspaceEditParams] = []

    async def __aenter__(self) -> BenchServer:
        client = self.client
        ready: asyncio.Future = asyncio.get_running_loop().create_future()

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(ls: LanguageClient, params: object) -> None:
            pass  # syntax diagnostics while typing; not measured here

        @client.feature(types.WINDOW_SHOW_MESSAGE)
        def on_message(ls: LanguageClient, params: object) -> None:
            pass

        @client.feature(types.WORKSPACE_APPLY_EDIT)
        def on_apply_edit(
            ls: LanguageClient, params: types.ApplyWorkspaceEditParams
        ) -> types.ApplyWorkspaceEditResult:
            self.edits.append(params)  # as an editor would: applied, and kept for the caller
            return types.ApplyWorkspaceEditResult(applied=True)

        @client.feature(STATUS_METHOD)
        def on_status(ls: LanguageClient, params: object) -> None:
            if getattr(params, "state", None) in ("ready", "error") and not ready.done():
                ready.set_result(params)

        t0 = time.perf_counter()
        await client.start_io(sys.executable, "-m", "reason_lsp", "--stdio", cwd=str(ROOT))
        self.pid = client._server.pid
        self._drainer = asyncio.ensure_future(self._drain(client._server.stderr))
        caps = types.ClientCapabilities(
            general=types.GeneralClientCapabilities(
                position_encodings=[types.PositionEncodingKind.Utf16]
            )
        )
        await client.initialize_async(
            types.InitializeParams(
                capabilities=caps, process_id=None, root_uri=self.root_uri,
                initialization_options={"reasonLsp": self.settings},
            )
        )  # fmt: skip
        client.initialized(types.InitializedParams())
        try:
            self.status = await asyncio.wait_for(ready, 600)
        except TimeoutError:
            sys.exit("the model did not load in 10 minutes:\n" + "\n".join(self.tail))
        if self.status.state != "ready":
            sys.exit(f"the model failed to load: {self.status.message}\n" + "\n".join(self.tail))
        self.load_s = time.perf_counter() - t0
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()
        self._drainer.cancel()

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        """Read the server's stderr (an unread pipe would block its logging once full)."""
        while line := await stream.readline():
            self.tail.append(line.decode("utf-8", "replace").rstrip())

    async def stats(self) -> collections.defaultdict:
        """The server's completion counters; zero values are not sent."""
        result = await self.client.protocol.send_request_async(STATS_METHOD, None)
        return collections.defaultdict(int, result._asdict() if result is not None else {})

    def open(self, uri: str, text: str, version: int = 1) -> None:
        item = types.TextDocumentItem(uri, "python", version, text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(item))

    def insert(self, uri: str, version: int, text: str, key: str) -> None:
        """Type ``key`` at the end of ``text`` (the document as the server has it)."""
        end = utf16_position(text, len(text))
        change = types.TextDocumentContentChangePartial(range=types.Range(end, end), text=key)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=uri), [change]
            )
        )

    def close(self, uri: str) -> None:
        ident = types.TextDocumentIdentifier(uri)
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(ident))

    async def inline(self, uri: str, text: str, offset: int, invoked: bool = False) -> str:
        """The ghost text the server offers at ``offset`` ("" for none)."""
        kind = types.InlineCompletionTriggerKind
        result = await self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri),
                position=utf16_position(text, offset),
                context=types.InlineCompletionContext(
                    trigger_kind=kind.Invoked if invoked else kind.Automatic
                ),
            )
        )
        shown = result.items[0].insert_text if result is not None and result.items else ""
        return shown.value if isinstance(shown, types.StringValue) else shown
