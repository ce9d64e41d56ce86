"""Repository context for one completion: declarations and similar snippets, in a budget.

The query is the lines around the cursor (40 before, 10 after). Cheapest first:

1. Declarations (:mod:`.declarations`) of the names imported or used there, closest
   first, in at most half the budget when snippets are on.
2. Similar snippets: 60-line windows ranked by Jaccard similarity of their identifier
   sets with the query's (Copilot's "neighboring tabs"). Windows of the open and
   recently edited files (every 10 lines) come first; the rest of the workspace is
   searched through the index (BM25 picks candidates, Jaccard on their text ranks
   them). At most one per file, the top :data:`TOP_K`, none under
   :data:`MIN_SIMILARITY`; a window too long for what is left of the budget is cut to
   its lines that share the most tokens with the query. A declaration that a chosen
   snippet already shows is dropped.

The pieces go in front of the document: snippets, least similar first, then the
declarations, closest file last: what matters most sits nearest the cursor. The
document itself is never a source. Every piece costs its text, its path and
:data:`OVERHEAD` characters for the separator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import tree_sitter

from reason_lsp.server.feature import Context
from reason_lsp.text.positions import encode
from reason_lsp.workspace import declarations
from reason_lsp.workspace.build import Reader
from reason_lsp.workspace.index import WorkspaceIndex
from reason_lsp.workspace.symbols import WINDOW_LINES, Facts, token_set, window_tokens

QUERY_BEFORE, QUERY_AFTER = 40, 10
TOP_K = 4
MIN_SIMILARITY = 0.05
NEAR_STRIDE = 10
CANDIDATES = 24
OVERHEAD = 12
#: A window cut to fit the budget must keep at least this many lines.
MIN_LINES = 6
#: The snippets are chosen again only when the cursor moved more lines than this.
REUSE_LINES = 16


@dataclass(frozen=True)
class Document:
    """The document a completion is for."""

    rel: str
    text: str
    offset: int
    facts: Facts  # its own definitions and imports
    tree: tree_sitter.Tree | None = None


@dataclass(frozen=True)
class Snippet:
    rel: str
    start: int  # first line
    lines: tuple[str, ...]
    score: float


def region(text: str, offset: int) -> tuple[int, int]:
    """Character range of the query lines around ``offset``."""
    start = offset
    for _ in range(QUERY_BEFORE + 1):
        start = text.rfind("\n", 0, start)
        if start < 0:
            break
    end = offset
    for _ in range(QUERY_AFTER + 1):
        end = text.find("\n", end + 1)
        if end < 0:
            break
    return start + 1, len(text) if end < 0 else end


def jaccard(a: set[int] | frozenset[int], b: set[int] | frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


class Retriever:
    """Keeps the token sets of the near files' windows between requests."""

    def __init__(self) -> None:
        self._near: dict[str, tuple[object, list[tuple[int, frozenset]]]] = {}
        self._last: dict[str, tuple[int, list[Snippet]]] = {}

    def near_windows(self, rel: str, stamp: object, data: bytes) -> list[tuple[int, frozenset]]:
        cached = self._near.get(rel)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        windows, _ = window_tokens(data, NEAR_STRIDE)
        found = [(k * NEAR_STRIDE, frozenset(tokens)) for k, tokens in enumerate(windows)]
        if len(self._near) > 64:
            self._near.clear()
        self._near[rel] = (stamp, found)
        return found

    def forget(self, rel: str, key: str = "") -> None:
        """A document was closed: drop its windows and the snippets chosen for it."""
        self._near.pop(rel, None)
        self._last.pop(key, None)

    def reused(self, key: str, line: int) -> list[Snippet] | None:
        """The snippets chosen last for ``key`` if the cursor is still near where they were
        chosen: the context block then stays the same, and so does the model's cache."""
        last = self._last.get(key)
        if last is not None and last[1] and abs(line - last[0]) <= REUSE_LINES:
            return last[1]
        return None

    def remember(self, key: str, line: int, chosen: list[Snippet]) -> None:
        if len(self._last) > 64:
            self._last.clear()
        self._last[key] = (line, chosen)

    def snippets(
        self,
        index: WorkspaceIndex,
        reader: Reader,
        query: set[int],
        current: str,
        near: Iterable[str] = (),
        k: int = TOP_K,
    ) -> list[Snippet]:
        """The ``k`` most similar windows of other files, at most one per file, best first."""
        near = [r for r in dict.fromkeys(near) if r != current]
        chosen: list[Snippet] = []
        best: dict[str, tuple[float, int]] = {}
        for rel in near:
            got = reader.read(rel)
            if got is None:
                continue
            entry, data = got
            for start, tokens in self.near_windows(rel, entry.stamp, data):
                score = jaccard(query, tokens)
                if score > best.get(rel, (0.0, 0))[0]:
                    best[rel] = (score, start)
        chosen.extend(self._ranked(reader, best, k))
        best = {}
        for rel, start, _ in index.search(query, {current, *near}, CANDIDATES):
            got = reader.read(rel)
            if got is None:
                continue
            lines = got[1].split(b"\n")[start : start + WINDOW_LINES]
            score = jaccard(query, token_set(b"\n".join(lines)))
            if score > best.get(rel, (0.0, 0))[0]:
                best[rel] = (score, start)
        chosen.extend(self._ranked(reader, best, k - len(chosen)))
        return chosen

    @staticmethod
    def _ranked(reader: Reader, best: dict[str, tuple[float, int]], k: int) -> list[Snippet]:
        out = []
        ranked = sorted(best.items(), key=lambda item: -item[1][0])
        for rel, (score, start) in ranked[: max(0, k)]:
            if score < MIN_SIMILARITY:
                break
            got = reader.read(rel)
            if got is None:
                continue
            text = got[1].decode("utf-8", "replace")
            lines = text.split("\n")[start : start + WINDOW_LINES]
            out.append(Snippet(rel, start, tuple(lines), score))
        return out


def fit(lines: tuple[str, ...], query: set[int], budget: int) -> tuple[int, int] | None:
    """The run of lines (start, end) that fits in ``budget`` characters and shares the
    most tokens with the query; None when fewer than :data:`MIN_LINES` fit."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    sizes = [len(line) + 1 for line in lines]
    if budget <= 0:
        return None
    if sum(sizes) <= budget:
        return (0, len(lines)) if lines else None
    hits = [len(token_set(encode(line)) & query) for line in lines]
    best: tuple[int, int, int] | None = None
    start = used = score = 0
    for end, size in enumerate(sizes):
        used += size
        score += hits[end]
        while used > budget and start <= end:
            used -= sizes[start]
            score -= hits[start]
            start += 1
        if end + 1 - start >= MIN_LINES and (best is None or score > best[0]):
            best = (score, start, end + 1)
    return None if best is None else (best[1], best[2])


def gather(
    index: WorkspaceIndex,
    reader: Reader,
    retriever: Retriever,
    doc: Document,
    budget: int,
    *,
    snippets: bool = True,
    near: Iterable[str] = (),
    key: str = "",
) -> list[Context]:
    """The context pieces for a completion in ``doc``, within ``budget`` characters;
    with a ``key`` (the document's URI), snippets are reused while the cursor stays near."""
    if budget <= OVERHEAD:
        return []
    start, end = region(doc.text, doc.offset)
    names = declarations.names_near(doc.text, start, end, doc.offset)
    byte = len(encode(doc.text[: doc.offset]))
    bases = declarations.enclosing_bases(doc.tree, byte) if doc.facts.language == "python" else []
    want = declarations.wanted(index, doc.rel, doc.facts, names, bases)
    decl_budget = budget // 2 if snippets else budget
    blocks = declarations.blocks(reader, want, decl_budget)
    used = sum(len(b.text) + 1 for b in blocks) + sum(
        len(rel) + OVERHEAD for rel in {b.rel for b in blocks}
    )
    chosen: list[tuple[Snippet, int, int]] = []
    if snippets:
        query = token_set(encode(doc.text[start:end]))
        line = doc.text.count("\n", 0, doc.offset)
        found = retriever.reused(key, line) if key else None
        if found is None:
            found = retriever.snippets(index, reader, query, doc.rel, near)
            if key:
                retriever.remember(key, line, found)
        for snippet in found:
            left = budget - used - len(snippet.rel) - OVERHEAD
            span = fit(snippet.lines, query, left)
            if span is None:
                continue
            lines = snippet.lines[span[0] : span[1]]
            used += sum(len(line) + 1 for line in lines) + len(snippet.rel) + OVERHEAD
            chosen.append((snippet, snippet.start + span[0], snippet.start + span[1]))
    shown = [(s.rel, first, last) for s, first, last in chosen]
    blocks = [b for b in blocks if not any(b.rel == r and a <= b.row < z for r, a, z in shown)]
    out = [
        Context(s.rel, "\n".join(s.lines[first - s.start : last - s.start]), "snippet")
        for s, first, last in reversed(chosen)
    ]
    by_file: dict[str, list[declarations.Block]] = {}
    for b in blocks:
        by_file.setdefault(b.rel, []).append(b)
    for rel, group in sorted(by_file.items(), key=lambda item: -min(b.distance for b in item[1])):
        text = "\n".join(b.text for b in sorted(group, key=lambda b: b.row))
        out.append(Context(rel, text, "declarations"))
    return out


def cost(pieces: Iterable[Context]) -> int:
    """Characters the pieces take in the prompt, by this module's count."""
    return sum(len(c.text) + 1 + len(c.path) + OVERHEAD for c in pieces)
