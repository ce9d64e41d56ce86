"""The diagnostics pipeline shared by the server and ``reason-lsp check``.

:func:`collect` turns a :class:`~reason_lsp.text.documents.Snapshot` plus
:class:`~reason_lsp.settings.Settings` into LSP diagnostics. Each provider in
:data:`PROVIDERS` is a plain function ``(snapshot, settings) -> diagnostics``;
syntax errors are the first. The model's "unlikely code" warnings (a later
issue) plug in beside them.

:func:`check_path` is the same pipeline for a file on disk (no editor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import tree_sitter
from lsprotocol import types

from reason_lsp.settings import Settings
from reason_lsp.text import languages
from reason_lsp.text.documents import Snapshot
from reason_lsp.text.positions import UTF16, encode
from reason_lsp.text.syntax import syntax_problems

SOURCE = "reason-lsp"

Provider = Callable[[Snapshot, Settings], list[types.Diagnostic]]


def syntax_diagnostics(snapshot: Snapshot, settings: Settings) -> list[types.Diagnostic]:
    """tree-sitter ERROR/MISSING nodes as Error diagnostics."""
    if not settings.diagnostics_syntax or snapshot.tree is None:
        return []
    index = snapshot.index
    return [
        types.Diagnostic(
            range=index.range_at_bytes(p.start_byte, p.end_byte, snapshot.encoding),
            message=p.message,
            severity=types.DiagnosticSeverity.Error,
            source=SOURCE,
            code=p.code,
        )
        for p in syntax_problems(snapshot.tree, index.data, snapshot.language or "")
    ]


PROVIDERS: list[Provider] = [syntax_diagnostics]


def collect(
    snapshot: Snapshot, settings: Settings, extra: Sequence[Provider] = ()
) -> list[types.Diagnostic]:
    """Every provider's diagnostics for one document version, sorted by position.

    ``extra`` are the server's stateful providers (model warnings, failed examples),
    which read results computed in the background for exactly this snapshot.
    """
    found: list[types.Diagnostic] = []
    for provider in (*PROVIDERS, *extra):
        found.extend(provider(snapshot, settings))
    found.sort(key=lambda d: (d.range.start.line, d.range.start.character))
    return found


def snapshot_for_text(
    uri: str, text: str, language_id: str | None = None, encoding: str = UTF16
) -> Snapshot:
    """Parse ``text`` from scratch into a snapshot (used by the CLI and tests)."""
    resolved = languages.resolve(language_id, uri)
    tree = None
    name = None
    if resolved is not None:
        name, language = resolved
        tree = tree_sitter.Parser(language).parse(encode(text))
    return Snapshot(uri, None, text, name, tree, encoding)


def check_path(
    path: Path,
    settings: Settings | None = None,
    encoding: str = UTF16,
    extra: Sequence[Provider] = (),
) -> list[types.Diagnostic]:
    """Diagnostics for a file on disk. Raises OSError if it cannot be read."""
    data = path.read_bytes()
    text = data.decode("utf-8", "surrogateescape")
    snapshot = snapshot_for_text(path.resolve().as_uri(), text, None, encoding)
    return collect(snapshot, settings or Settings(), extra)
