"""Open documents: the tree-sitter tree kept beside pygls's text.

pygls's workspace owns the text of every open document; this module never keeps
a second copy of it that could drift. For each document it keeps:

* the grammar (or None for an unsupported language: no tree, no crash),
* the current tree and the exact bytes that tree was parsed from.

:meth:`DocumentStore.apply_changes` takes the old text and one ``didChange``'s
content changes, applies them with exact LSP position semantics
(:mod:`reason_lsp.text.positions`), edits the tree (``tree.edit`` for each change,
then one ``parser.parse(new, old_tree)``) and returns the new text for pygls to
store. :meth:`DocumentStore.verify` then compares the tree's bytes with pygls's
text; a mismatch is logged as an error and the tree is rebuilt from scratch
(resync) so the tree can never silently drift from the editor.

:class:`Snapshot` is the immutable view background jobs get: (uri, version,
text, tree). A result computed from a snapshot whose version is no longer
current must be dropped by whoever publishes it.

URIs: :func:`document_key` is the one normalisation of a document URI, the one
pygls's workspace keys its text by (percent-decoding, so ``al%41s.py`` and
``alAs.py`` are one document). The store keys by it too and remembers the spelling
the document was opened with (:meth:`DocumentStore.spelling`), which the protocol
layer gives every incoming URI, so no two parts of the server can disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import unquote

import tree_sitter
from lsprotocol import types

from reason_lsp.text import languages
from reason_lsp.text.positions import UTF16, TextIndex, encode, point_after, point_at_byte

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """An immutable view of one document version, safe to hand to background work."""

    uri: str
    version: int | None
    text: str
    language: str | None
    tree: tree_sitter.Tree | None
    encoding: str = UTF16

    @cached_property
    def index(self) -> TextIndex:
        return TextIndex(self.text)

    @property
    def data(self) -> bytes:
        return self.index.data


@dataclass
class DocumentState:
    uri: str
    language: str | None
    parser: tree_sitter.Parser | None
    tree: tree_sitter.Tree | None = None
    source: bytes = b""  # exactly the bytes ``tree`` was parsed from
    version: int | None = None
    resyncs: int = field(default=0)


def _apply_one(
    text: str,
    data: bytes,
    change: types.TextDocumentContentChangeEvent,
    encoding: str,
    tree: tree_sitter.Tree | None,
) -> tuple[str, bytes]:
    """Apply one content change to ``text``/``data``, editing ``tree`` in place."""
    if not isinstance(change, types.TextDocumentContentChangePartial):
        new_data = encode(change.text)
        if tree is not None:
            end = point_at_byte(data, len(data))
            tree.edit(0, len(data), len(new_data), (0, 0), end, point_after((0, 0), new_data))
        return change.text, new_data
    index = TextIndex(text, data)
    start = index.offset_at(change.range.start, encoding)
    end = index.offset_at(change.range.end, encoding)
    if end < start:  # a reversed range: treat it as the range it spans
        start, end = end, start
    # Prefix encoding is C-speed and avoids building a byte line table per edit.
    start_byte = len(encode(text[:start]))
    end_byte = start_byte + len(encode(text[start:end]))
    inserted = encode(change.text)
    if tree is not None:
        start_point = point_at_byte(data, start_byte)
        tree.edit(
            start_byte=start_byte,
            old_end_byte=end_byte,
            new_end_byte=start_byte + len(inserted),
            start_point=start_point,
            old_end_point=point_at_byte(data, end_byte),
            new_end_point=point_after(start_point, inserted),
        )
    return (
        text[:start] + change.text + text[end:],
        data[:start_byte] + inserted + data[end_byte:],
    )


def apply_changes(
    text: str,
    changes: Sequence[types.TextDocumentContentChangeEvent],
    encoding: str = UTF16,
    tree: tree_sitter.Tree | None = None,
    data: bytes | None = None,
) -> tuple[str, bytes]:
    """Pure core of ``didChange``: the text (and its bytes) after all ``changes``.

    Each change's range refers to the text left by the previous change, as LSP
    specifies. ``tree``, if given, receives the matching ``tree.edit`` calls.
    """
    if data is None:
        data = encode(text)
    for change in changes:
        text, data = _apply_one(text, data, change, encoding, tree)
    return text, data


def document_key(uri: str) -> str:
    """The key of the document at ``uri``: the same one pygls's workspace uses."""
    return unquote(uri)


class DocumentStore:
    """Per-document trees for the open documents, keyed by :func:`document_key`."""

    def __init__(self) -> None:
        self._docs: dict[str, DocumentState] = {}

    def __contains__(self, uri: str) -> bool:
        return document_key(uri) in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def get(self, uri: str) -> DocumentState | None:
        return self._docs.get(document_key(uri))

    def uris(self) -> list[str]:
        return [state.uri for state in self._docs.values()]

    def spelling(self, uri: str) -> str:
        """``uri`` as the open document it names was opened (``uri`` itself if none is)."""
        state = self._docs.get(document_key(uri))
        if state is None:
            return uri
        if state.uri != uri:
            log.debug("%s is open as %s; using that spelling", uri, state.uri)
        return state.uri

    def open(
        self, uri: str, text: str, version: int | None, language_id: str | None
    ) -> DocumentState:
        resolved = languages.resolve(language_id, uri)
        if resolved is None:
            state = DocumentState(uri, None, None, version=version)
        else:
            name, language = resolved
            state = DocumentState(uri, name, tree_sitter.Parser(language), version=version)
        self._docs[document_key(uri)] = state
        self._parse_fresh(state, text)
        return state

    def close(self, uri: str) -> None:
        self._docs.pop(document_key(uri), None)

    def _parse_fresh(self, state: DocumentState, text: str) -> None:
        if state.parser is None:
            return
        data = encode(text)
        state.tree = state.parser.parse(data)
        state.source = data

    def apply_changes(
        self,
        uri: str,
        old_text: str,
        changes: Sequence[types.TextDocumentContentChangeEvent],
        version: int | None,
        encoding: str = UTF16,
    ) -> str:
        """New text after ``changes``; the document's tree follows incrementally."""
        state = self._docs[document_key(uri)]
        if state.parser is None or state.tree is None:
            text, _ = apply_changes(old_text, changes, encoding)
            state.version = version
            return text
        old_data = encode(old_text)
        if state.source != old_data:
            log.error("%s: tree had drifted from the text before an edit; resyncing", uri)
            state.resyncs += 1
            self._parse_fresh(state, old_text)
        # Edit a copy, so snapshots holding the old tree stay valid.
        edited = state.tree.copy()  # type: ignore[union-attr]
        text, data = apply_changes(old_text, changes, encoding, edited, old_data)
        state.tree = state.parser.parse(data, edited)
        state.source = data
        state.version = version
        return text

    def verify(self, uri: str, text: str) -> bool:
        """Check the tree's bytes against pygls's ``text``; resync and log if they differ."""
        state = self._docs.get(document_key(uri))
        if state is None or state.parser is None:
            return True
        if state.source == encode(text):
            return True
        log.error("%s: tree source differs from the editor's text; resyncing", uri)
        self.resync(uri, text)
        return False

    def resync(self, uri: str, text: str) -> None:
        """Rebuild the tree from scratch from ``text``."""
        state = self._docs.get(document_key(uri))
        if state is None:
            return
        state.resyncs += 1
        self._parse_fresh(state, text)

    def snapshot(self, uri: str, text: str, encoding: str = UTF16) -> Snapshot | None:
        state = self._docs.get(document_key(uri))
        if state is None:
            return None
        return Snapshot(state.uri, state.version, text, state.language, state.tree, encoding)
