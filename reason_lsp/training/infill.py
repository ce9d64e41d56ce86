"""Fill-in-the-middle examples for fine-tuning a pretrained model, with a loss mask on the middle.

A left-to-right model already predicts a file's next token; what it lacks is reading
the code after the cursor and stopping where that code resumes. So each example here
is one hole cut the way an editor meets it, laid out in the order the engine prompts
(``reason_lsp.engine.fim``: SPM when the format has it, the prefix last), and only the
middle and the end-of-text after it are scored: the prefix and suffix tokens carry no
new skill, and scoring them would spend most of each CPU-second re-learning plain
language modelling.

Holes (shares of :data:`HOLES`): a whole line, half of them from after its
indentation (HumanEval single-line infilling, a fresh line in a block); the rest of a
line from a cursor inside it (the typing case); up to three lines (a block body). A
share ``repo_rate`` of examples put pieces of related files in front of the prefix,
in the ``<file_sep>`` layout the server's retrieval renders.

Pure Python and numpy; the tokenizer is a ``tokenizers.Tokenizer``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from reason_lsp.engine import fim
from reason_lsp.engine.fim import FimFormat
from reason_lsp.training.data import draw_index, length_weighted
from reason_lsp.training.repo import Doc, Repository

#: Hole kinds and their shares.
HOLES = (("line", 0.5), ("rest-of-line", 0.25), ("lines", 0.25))
#: Characters of code kept before and after the hole (a prompt the server builds is
#: longer; these keep examples short so more of them fit a CPU-hour).
PREFIX_CHARS = 900
SUFFIX_CHARS = 400
IGNORE = -100
#: Share of holes that stop before their last line break, as at a cursor at the end
#: of a line (the usual typing case), where the suffix starts with that line break.
KEEP_LINE_END = 0.6


def _line_starts(text: str) -> list[int]:
    return [0, *(i + 1 for i, c in enumerate(text) if c == "\n" and i + 1 < len(text))]


def _hole(text: str, kind: str, rng: random.Random) -> tuple[int, int] | None:
    """Character span of a hole of ``kind`` in ``text``: never empty, never blank, and
    never crossing the end of a line it does not include whole."""
    starts = _line_starts(text)
    for _ in range(8):
        i = rng.randrange(len(starts))
        start = starts[i]
        if kind == "lines":
            i = min(len(starts) - 1, i + rng.randrange(3))
        end = text.find("\n", starts[i])
        end = len(text) if end < 0 else end + 1
        line = text[start:end]
        if not line.strip() or len(line) > 200:
            continue
        body = len(line) - len(line.lstrip())
        if kind == "line" and rng.random() < 0.5:
            start += body  # the cursor after the indentation, as on a fresh line
        if kind == "rest-of-line":
            stripped = line.rstrip("\n")
            if len(stripped) - body < 4:
                continue
            start += rng.randrange(body, len(stripped) - 1)
        if text[end - 1] == "\n" and rng.random() < KEEP_LINE_END:
            end -= 1  # the cursor's line goes on: the suffix starts with its line break
        return start, end
    return None


def _context(text: str, start: int, end: int) -> tuple[str, str]:
    """The prefix (from a line start) and suffix (to a line end) around a hole."""
    lo = max(0, start - PREFIX_CHARS)
    if lo > 0:
        cut = text.find("\n", lo, start)
        lo = cut + 1 if cut >= 0 else lo
    hi = min(len(text), end + SUFFIX_CHARS)
    if hi < len(text):
        cut = text.rfind("\n", end, hi)
        hi = cut + 1 if cut >= 0 else hi
    return text[lo:start], text[end:hi]


class InfillExamples:
    """Draws tokenized FIM examples with their loss masks from source files."""

    def __init__(
        self,
        docs: Sequence[Doc],
        tokenizer,
        fmt: FimFormat,
        seq_len: int = 320,
        repo_rate: float = 0.25,
        seed: int = 0,
    ) -> None:
        self.docs = list(docs)
        self.tok = tokenizer
        self.fmt = fmt
        self.seq_len = seq_len
        self.repo_rate = repo_rate
        self.rng = random.Random(seed)
        self.cum = length_weighted(self.docs)
        self.repo = Repository(self.docs) if repo_rate > 0 else None
        ids = {role: tokenizer.token_to_id(getattr(fmt, role)) for role in fim_roles()}
        missing = [getattr(fmt, r) for r, i in ids.items() if i is None]
        if missing:
            raise ValueError(f"the tokenizer has no {', '.join(missing)} token for {fmt.name}")
        self.ids = ids

    def texts(self) -> tuple[str, str, str]:
        """One hole as (prefix, middle, suffix); repository context joins the prefix."""
        while True:
            i = draw_index(self.cum, self.rng)
            doc = self.docs[i]
            kind = self.rng.choices([k for k, _ in HOLES], [w for _, w in HOLES])[0]
            span = _hole(doc.text, kind, self.rng) if doc.text.strip() else None
            if span is None:
                continue
            prefix, suffix = _context(doc.text, *span)
            left = ""
            if self.repo is not None and self.rng.random() < self.repo_rate:
                pieces = self.repo.context(i, self.rng.randrange(200, PREFIX_CHARS), self.rng)
                left = fim.repository_text(self.fmt, pieces, doc.path)
            return left + prefix, doc.text[span[0] : span[1]], suffix

    def encode(self, prefix: str, middle: str, suffix: str) -> tuple[list[int], list[int]]:
        """Token ids of one example and its labels (``IGNORE`` where nothing is scored).

        The prefix is cut as the engine cuts a prompt: its last word is backed off
        (:func:`fim.back_off`) and joins the middle, tokenized with it, which is what
        token healing generates there (SPM). PSM has no healing: the parts stay apart.
        """
        fmt_ids = self.ids
        after = self.tok.encode(suffix, add_special_tokens=False).ids
        before = self.tok.encode(prefix, add_special_tokens=False).ids
        heal = ""
        if self.fmt.supports_spm:
            before, heal = fim.back_off(before, prefix, self.tok.decode)
        mid = self.tok.encode(heal + middle, add_special_tokens=False).ids
        budget = self.seq_len - len(mid) - 4
        after = after[: max(0, min(len(after), budget // 3))]
        before = before[-max(0, budget - len(after)) :] if budget > len(after) else []
        if self.fmt.supports_spm:
            head = fim.spm_ids(fmt_ids, after, before)
        else:
            head = fim.psm_ids(fmt_ids, before, after)
        ids = [*head, *mid, fmt_ids["eos"]]
        labels = [IGNORE] * len(head) + [*mid, fmt_ids["eos"]]
        return ids[: self.seq_len], labels[: self.seq_len]

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` examples right-padded to one length: (input ids, labels)."""
        rows = [self.encode(*self.texts()) for _ in range(n)]
        width = max(len(ids) for ids, _ in rows)
        ids = np.full((n, width), self.ids["eos"], dtype=np.int64)
        labels = np.full((n, width), IGNORE, dtype=np.int64)
        for r, (row_ids, row_labels) in enumerate(rows):
            ids[r, : len(row_ids)] = row_ids
            labels[r, : len(row_labels)] = row_labels
        return ids, labels

    def state(self) -> dict:
        return {"rng": self.rng.getstate()}

    def restore(self, state: dict) -> None:
        self.rng.setstate(state["rng"])


def fim_roles() -> tuple[str, ...]:
    """The roles of a :class:`FimFormat` an example uses, by attribute name."""
    return ("prefix", "suffix", "middle", "eos")
