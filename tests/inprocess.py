"""The real server in this process, driven by JSON-RPC messages, with a fake engine.

For server tests that need no torch and no subprocess: :class:`InProcess` feeds
messages to the server's own protocol object (the same structuring, dispatch and
handlers as over stdio) and collects what it writes; :class:`FakeEngine` stands
behind the ``Engine`` protocol and answers at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from concurrent.futures import Future
from typing import Any

from lsprotocol import types
from lsprotocol.converters import get_converter

from reason_lsp.app import create_server
from reason_lsp.engine import (
    GENERATE,
    MEMBERS,
    SCORE,
    EngineInfo,
    GenerateRequest,
    Generation,
    Sample,
    TokenScore,
    Unsupported,
)

CONVERTER = get_converter()


class FakeEngine:
    """An engine that answers from fixed text: ``completion`` for every generate, a
    few names for members, and flat scores; ``capabilities`` is what it claims."""

    def __init__(
        self, completion: str = "return x", capabilities=frozenset({GENERATE, SCORE, MEMBERS})
    ) -> None:
        self.completion = completion
        self._capabilities = frozenset(capabilities)
        self.state, self.error = "loading", ""
        self.requests: list[GenerateRequest] = []
        self._on_state = None

    # -- what ModelHost.factory is called with
    def __call__(self, config, on_state=None, log=None) -> FakeEngine:
        self._on_state = on_state
        return self

    @property
    def info(self) -> EngineInfo:
        return EngineInfo("fake", "cpu", "float32", None, "fake")

    @property
    def capabilities(self) -> frozenset[str]:
        return self._capabilities

    @property
    def cancelled_jobs(self) -> int:
        return 0

    @property
    def model_folder(self) -> str | None:
        return None

    def start(self) -> None:
        self.state = "ready"
        if self._on_state is not None:
            self._on_state("ready", "fake")

    def _done(self, value: Any) -> Future:
        future: Future = Future()
        future.set_result(value)
        return future

    def unsupported_reason(self, capability: str) -> str:
        return f"the fake engine cannot {capability}"

    def _refuse(self, capability: str) -> Future | None:
        if capability in self._capabilities:
            return None
        future: Future = Future()
        future.set_exception(Unsupported(self.unsupported_reason(capability)))
        return future

    def submit(self, request: GenerateRequest) -> Future:
        self.requests.append(request)
        sample = Sample(self.completion, -1.0, 3, "eos")
        return self._done(Generation([sample] * max(1, request.samples), 10, 0, 1.0, 1.0, 3))

    def score(self, context: str, text: str, cancel: threading.Event, key: str = "") -> Future:
        refused = self._refuse(SCORE)
        if refused is not None:
            return refused
        return self._done([TokenScore(i, i + 1, 0.1, text[i], -0.1) for i in range(len(text))])

    def members(self, request: GenerateRequest, k: int = 5) -> Future:
        return self._refuse(MEMBERS) or self._done([("path", -0.1), ("sep", -1.0)][:k])

    def close(self) -> None:
        self.state = "closed"


class _Writer:
    def __init__(self, sink: list[dict]) -> None:
        self.sink = sink

    def write(self, data: bytes) -> None:
        body = data.split(b"\r\n\r\n", 1)[1]
        self.sink.append(json.loads(body))


class InProcess:
    """One server and the messages it sent, for ``async`` tests."""

    def __init__(self, engine: FakeEngine | None = None) -> None:
        self.server = create_server()
        self.engine = engine or FakeEngine()
        self.server.models.factory = self.engine
        self.server.models.fallback_note = lambda spec: None  # a fake engine falls back to nothing
        self.sent: list[dict] = []
        self.server.protocol.set_writer(_Writer(self.sent))
        self._ids = itertools.count(1)

    def _feed(self, message: dict) -> None:
        protocol = self.server.protocol
        protocol.handle_message(protocol.structure_message(message))

    async def request(self, method: str, params: Any) -> dict:
        msg_id = next(self._ids)
        raw = CONVERTER.unstructure(params) if params is not None else None
        self._feed({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": raw})
        for _ in range(500):
            for message in self.sent:
                if message.get("id") == msg_id and "method" not in message:
                    return message
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no answer to {method}")

    def notify(self, method: str, params: Any) -> None:
        raw = CONVERTER.unstructure(params)
        self._feed({"jsonrpc": "2.0", "method": method, "params": raw})

    async def settle(self, seconds: float = 0.05) -> None:
        await asyncio.sleep(seconds)

    async def start(self, capabilities: types.ClientCapabilities | None = None) -> None:
        params = types.InitializeParams(
            capabilities=capabilities or types.ClientCapabilities(),
            root_uri="file:///tmp/reason-inprocess",
        )
        await self.request(types.INITIALIZE, params)
        self.notify(types.INITIALIZED, types.InitializedParams())
        await self.settle()

    def open(self, uri: str, text: str, version: int = 1) -> None:
        item = types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        self.notify(types.TEXT_DOCUMENT_DID_OPEN, types.DidOpenTextDocumentParams(item))

    def close(self, uri: str) -> None:
        ident = types.TextDocumentIdentifier(uri)
        self.notify(types.TEXT_DOCUMENT_DID_CLOSE, types.DidCloseTextDocumentParams(ident))

    def messages(self, method: str) -> list[dict]:
        return [m for m in self.sent if m.get("method") == method]
