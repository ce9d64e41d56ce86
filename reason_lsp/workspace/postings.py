"""The searchable windows of a workspace: an inverted index of window tokens, and BM25.

Every window (60 lines, every 30) has an id, the id of its file and its first line.
Its tokens go into the postings: token CRC -> window ids. After a build the postings
are *frozen* into three flat arrays (sorted tokens, offsets, ids: 4 bytes an entry,
about 25 MB for 10,000 files, where a dict of arrays costs three times that); windows
added later go to a small dict beside them. A deleted file's windows stay as dead ids
(the owner says which files are alive) until the next build.

:meth:`WindowIndex.search` scores windows by BM25 with binary term frequencies over
the query's rarest tokens only: common tokens add little to a score and most of the
work, so the cost stays small however large the workspace.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable

#: BM25 parameters (Robertson et al.).
K1, B = 1.2, 0.75
#: Query tokens looked up per search, rarest first.
RARE_TERMS = 32


class WindowIndex:
    def __init__(self) -> None:
        self.tokens = array("I")  # frozen: sorted distinct tokens
        self.offsets = array("I", [0])  # frozen: ids of tokens[i] are ids[offsets[i]:offsets[i+1]]
        self.ids = array("I")
        self.delta: dict[int, array] = {}
        self.file = array("I")  # per window: its file's id
        self.start = array("I")  # per window: its first line
        self.size = array("H")  # per window: its number of distinct tokens
        self.total_size = 0  # of live windows
        self.dead = 0

    def __len__(self) -> int:
        return len(self.file)

    @property
    def live(self) -> int:
        return len(self.file) - self.dead

    def add(self, file_id: int, start: int, tokens: Iterable[int]) -> int:
        """A new window; returns its id."""
        w = len(self.file)
        tokens = tuple(tokens)
        size = min(len(tokens), 65535)
        self.file.append(file_id)
        self.start.append(start)
        self.size.append(size)
        self.total_size += size
        delta = self.delta
        for token in tokens:
            found = delta.get(token)
            if found is None:
                delta[token] = array("I", (w,))
            else:
                found.append(w)
        return w

    def kill(self, first: int, count: int) -> None:
        """Windows ``first .. first + count - 1`` belong to a file that is gone."""
        for w in range(first, first + count):
            self.total_size -= self.size[w]
        self.dead += count

    def freeze(self) -> None:
        """Merge the dict of later additions into the flat arrays."""
        if not self.delta:
            return
        merged = sorted(set(self.tokens).union(self.delta))
        tokens, offsets, ids = array("I"), array("I", [0]), array("I")
        for token in merged:
            ids.extend(self._frozen(token))
            extra = self.delta.get(token)
            if extra is not None:
                ids.extend(extra)
            tokens.append(token)
            offsets.append(len(ids))
        self.tokens, self.offsets, self.ids, self.delta = tokens, offsets, ids, {}

    def _frozen(self, token: int) -> array:
        i = bisect_left(self.tokens, token)
        if i < len(self.tokens) and self.tokens[i] == token:
            return self.ids[self.offsets[i] : self.offsets[i + 1]]
        return array("I")

    def df(self, token: int) -> int:
        i = bisect_left(self.tokens, token)
        frozen = (
            self.offsets[i + 1] - self.offsets[i]
            if i < len(self.tokens) and self.tokens[i] == token
            else 0
        )
        extra = self.delta.get(token)
        return frozen + (len(extra) if extra is not None else 0)

    def postings(self, token: int) -> array:
        found = self._frozen(token)
        extra = self.delta.get(token)
        return found + extra if extra is not None else found

    def entries(self) -> int:
        return len(self.ids) + sum(len(a) for a in self.delta.values())

    def search(
        self, query: set[int], alive: Callable[[int], bool], limit: int = 24
    ) -> list[tuple[int, float]]:
        """``(window id, score)`` of the best windows of files ``alive(file_id)`` accepts."""
        live = self.live
        if not live or not query:
            return []
        terms = sorted((df, t) for t in query if (df := self.df(t)) > 0)
        max_df = max(64, live // 50)
        scores: dict[int, float] = {}
        for df, token in terms[:RARE_TERMS]:
            if df > max_df:
                break
            idf = math.log(1 + (live - df + 0.5) / (df + 0.5))
            for w in self.postings(token):
                scores[w] = scores.get(w, 0.0) + idf
        avg = self.total_size / live if live else 1.0
        size, owner = self.size, self.file
        ranked = []
        checked: dict[int, bool] = {}
        for w, score in scores.items():
            f = owner[w]
            ok = checked.get(f)
            if ok is None:
                ok = checked[f] = alive(f)
            if ok:
                norm = (K1 + 1) / (1 + K1 * (1 - B + B * size[w] / avg))
                ranked.append((score * norm, w))
        ranked.sort(reverse=True)
        return [(w, score) for score, w in ranked[:limit]]

    # -- shipping a built index from the worker process ------------------------------

    def state(self) -> tuple[object, ...]:
        self.freeze()
        return (self.tokens, self.offsets, self.ids, self.file, self.start, self.size,
                self.total_size, self.dead)  # fmt: skip

    @classmethod
    def from_state(cls, state: tuple[object, ...]) -> WindowIndex:
        out = cls()
        (out.tokens, out.offsets, out.ids, out.file, out.start, out.size,
         out.total_size, out.dead) = state  # type: ignore[assignment]  # fmt: skip
        return out
