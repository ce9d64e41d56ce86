"""Helpers shared by the end-to-end tests: the server command, waiting for notifications."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

ROOT = Path(__file__).resolve().parent.parent
SERVER_COMMAND = [sys.executable, "-m", "reason_lsp", "--stdio"]


async def expect_notification(
    client: Any,
    method: str,
    action: Callable[[], object] | None = None,
    predicate: Callable[[Any], bool] = lambda _: True,
    timeout: float = 15.0,
) -> Any:
    """Run ``action``, then wait for a ``method`` notification whose params satisfy
    ``predicate``. The waiter is registered before the action, so nothing is missed."""

    async def wait() -> Any:
        first = True
        while True:
            future = client.protocol.wait_for_notification_async(method)
            if first and action is not None:
                action()
            first = False
            params = await future
            if predicate(params):
                return params

    return await asyncio.wait_for(wait(), timeout)


def did_change_params(
    uri: str, version: int, changes: list[types.TextDocumentContentChangeEvent]
) -> types.DidChangeTextDocumentParams:
    return types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(version=version, uri=uri), changes
    )


def edit(l1: int, c1: int, l2: int, c2: int, text: str) -> types.TextDocumentContentChangePartial:
    """An incremental change replacing (l1, c1)-(l2, c2) with ``text``."""
    return types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(l1, c1), types.Position(l2, c2)), text=text
    )
