"""``make demo``: drive the real server through a real LSP client and print what it says.

The server runs as a subprocess (``python -m reason_lsp``) behind pygls's
``LanguageClient`` over stdio, exactly as an editor would start it. The demo
opens ``examples/broken.py`` and prints the diagnostics it receives.

The demo is a list of steps (:data:`STEPS`); each is an async function taking
the :class:`DemoSession`. Later features (completion, generation) append theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "broken.py"
COMPLETE = ROOT / "examples" / "complete.py"
#: Where the completion demo puts the cursor: it erases the rest of each line after these.
CURSORS = ("return sorted(", "with open(path, ", "os.path.")


class DemoSession:
    """A started server, an initialized client, and the diagnostics it pushed."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.diagnostics: dict[str, asyncio.Queue[types.PublishDiagnosticsParams]] = {}
        self.versions: dict[str, int] = {}
        self.model_status: asyncio.Queue[object] = asyncio.Queue()

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
            self.diagnostics.setdefault(params.uri, asyncio.Queue()).put_nowait(params)

        @client.feature("reasonLsp/status")
        def on_status(ls: LanguageClient, params: object) -> None:
            self.model_status.put_nowait(params)

        @client.feature(types.WINDOW_SHOW_MESSAGE)
        def on_message(params: types.ShowMessageParams) -> None:
            print(f"  [server says] {params.message}")

    @classmethod
    async def start(cls) -> DemoSession:
        client = LanguageClient("reason-lsp-demo", "0.1")
        session = cls(client)
        await client.start_io(sys.executable, "-m", "reason_lsp", "--stdio")
        t0 = time.perf_counter()
        result = await client.initialize_async(
            types.InitializeParams(
                process_id=None,
                root_uri=ROOT.as_uri(),
                capabilities=types.ClientCapabilities(
                    text_document=types.TextDocumentClientCapabilities(
                        publish_diagnostics=types.PublishDiagnosticsClientCapabilities()
                    )
                ),
            )
        )
        server = result.server_info
        print(
            f"initialized {server.name if server else '?'} {server.version if server else ''} "
            f"in {(time.perf_counter() - t0) * 1000:.0f} ms "
            f"(position encoding {result.capabilities.position_encoding})"
        )
        client.initialized(types.InitializedParams())
        return session

    def open(self, path: Path, language_id: str = "python") -> str:
        uri = path.resolve().as_uri()
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri, language_id, 1, path.read_text(encoding="utf-8"))
            )
        )
        return uri

    async def next_diagnostics(
        self, uri: str, timeout: float = 10
    ) -> types.PublishDiagnosticsParams:
        queue = self.diagnostics.setdefault(uri, asyncio.Queue())
        return await asyncio.wait_for(queue.get(), timeout)

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


def print_diagnostics(path: Path, params: types.PublishDiagnosticsParams) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    print(f"{len(params.diagnostics)} diagnostic(s) for {path.name} (version {params.version}):")
    for d in params.diagnostics:
        start = d.range.start
        print(f"  {path.name}:{start.line + 1}:{start.character + 1}: {d.message} [{d.code}]")
        if start.line < len(lines):
            print(f"      {lines[start.line]}")
            print(f"      {' ' * start.character}^")


async def step_diagnostics(session: DemoSession) -> None:
    print(f"\n== syntax diagnostics: opening {EXAMPLE.relative_to(ROOT)}")
    uri = session.open(EXAMPLE)
    print_diagnostics(EXAMPLE, await session.next_diagnostics(uri))


async def wait_for_model(session: DemoSession, timeout: float = 120) -> object | None:
    """The model's final status (ready or error), as the server reports it."""
    t0 = time.perf_counter()
    while True:
        status = await asyncio.wait_for(session.model_status.get(), timeout)
        state = getattr(status, "state", "")
        if state != "loading":
            took = time.perf_counter() - t0
            detail = getattr(status, "message", "")
            print(f"  model {state}: {getattr(status, 'model', '')} {detail} (waited {took:.1f} s)")
            return status if state == "ready" else None


async def step_completion(session: DemoSession) -> None:
    print(f"\n== completions: {COMPLETE.relative_to(ROOT)} with parts of lines erased")
    if await wait_for_model(session) is None:
        print("  no model: completion skipped (syntax features keep working)")
        return
    original = COMPLETE.read_text(encoding="utf-8")
    for n, marker in enumerate(CURSORS):
        cursor = original.index(marker) + len(marker)
        end = original.index("\n", cursor)
        text = original[:cursor] + original[end:]
        uri = COMPLETE.resolve().as_uri() + f"#{n}"
        session.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )
        line = text.count("\n", 0, cursor)
        position = types.Position(line, cursor - (text.rfind("\n", 0, cursor) + 1))
        shown = text[text.rfind("\n", 0, cursor) + 1 : cursor].strip()
        t0 = time.perf_counter()
        if marker.endswith("."):
            result = await session.client.text_document_completion_async(
                types.CompletionParams(
                    text_document=types.TextDocumentIdentifier(uri), position=position
                )
            )
            ms = (time.perf_counter() - t0) * 1000
            labels = [item.label for item in (result.items if result else [])]
            print(f"  {COMPLETE.name}:{line + 1}:{position.character + 1} after {shown!r}: "
                  f"completion items {labels} ({ms:.0f} ms)")  # fmt: skip
        else:
            result = await session.client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri),
                    position=position,
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Invoked
                    ),
                )
            )
            ms = (time.perf_counter() - t0) * 1000
            items = result.items if result else []
            suggestion = items[0].insert_text if items else None
            print(f"  {COMPLETE.name}:{line + 1}:{position.character + 1} after {shown!r}: "
                  f"inline completion {suggestion!r} ({ms:.0f} ms); "
                  f"the file had {original[cursor:end]!r}")  # fmt: skip
        session.client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
        )


Step = Callable[[DemoSession], Awaitable[None]]
STEPS: list[Step] = [step_diagnostics, step_completion]


async def run() -> int:
    session = await DemoSession.start()
    try:
        for step in STEPS:
            await step(session)
    finally:
        await session.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
