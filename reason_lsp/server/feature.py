"""The one interface every feature implements, and that the server fans out to.

A feature is built with the server it serves (it may register its own LSP
methods then) and is told about the life of documents, settings and the model
through these hooks; the server never calls a feature by name. Every hook has a
default that does nothing, so a feature implements only what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lsprotocol import types

    from reason_lsp.engine import Engine
    from reason_lsp.settings import Settings
    from reason_lsp.text.documents import Snapshot


@dataclass(frozen=True)
class Context:
    """One piece of prompt context: a file's path (relative to the workspace) and text."""

    path: str
    text: str
    kind: str = "snippet"  # "declarations" | "snippet"


class Feature:
    """Base class of the server's features (completion, unlikely code, generation, ...)."""

    #: Shown in logs and used to tell the user once when the engine lacks a capability.
    name = "feature"
    #: Code action kinds the feature offers (empty: it offers none).
    code_action_kinds: tuple[types.CodeActionKind, ...] = ()

    def on_open(self, uri: str) -> None:
        """A document was opened (its text and tree are in the server already)."""

    def on_change(self, uri: str) -> None:
        """A document changed (text and tree already updated)."""

    def on_close(self, uri: str) -> None:
        """A document was closed: drop everything kept for it."""

    def on_settings(self, settings: Settings) -> None:
        """The settings changed."""

    def on_model_ready(self, engine: Engine) -> None:
        """An engine finished loading (the server checked its capabilities)."""

    def diagnostics(self, snapshot: Snapshot, settings: Settings) -> list[types.Diagnostic]:
        """Diagnostics this feature holds for exactly ``snapshot`` (computed beforehand)."""
        return []

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        return []

    def prompt_context(self, snapshot: Snapshot, offset: int, budget_chars: int) -> list[Context]:
        """Text from outside the document that a completion at ``offset`` should see
        (definitions and similar code from the workspace), at most ``budget_chars``."""
        return []

    def held(self) -> set[str]:
        """URIs this feature keeps state for (a closed document must not be among them)."""
        return set()

    def stats(self) -> dict[str, Any]:
        """Counters for ``reasonLsp/stats``."""
        return {}

    def shutdown(self) -> None:
        """The server is stopping: cancel background work."""
