"""Training batches: windows of source files, some with repository context, FIM-transformed, packed.

Each example is a window of a file that starts at a line start and ends at a line
break (or the file end). A share ``repo_rate`` of examples put pieces of related
files of the same distribution in front of it, in the layout the server's prompts
use (``reason_lsp.training.repo``); the rest are single files. With probability
``fim_rate`` the window is split at two random character positions into prefix,
middle and suffix and laid out in PSM or SPM order (``reason_lsp.engine.fim``), the
repository context joining the prefix side exactly as the decoder builds its
prompt. Every example ends with ``<|endoftext|>``. Examples are tokenized in
batches, joined and cut into fixed-length rows, as in most LM pre-training.
"""

from __future__ import annotations

import json
import lzma
import random
from pathlib import Path

import numpy as np

from reason_lsp.engine import fim
from reason_lsp.engine.fim import EOS, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX
from reason_lsp.training.repo import Doc, Repository

#: Characters per example per token of ``seq_len``: this corpus averages 3.6 characters a
#: token, so an example fills about 0.8 of a row and rows mix example ends and starts.
CHARS_PER_TOKEN = 3

Part = tuple[str, str]  # ("text", piece) or ("special", token name)


def load_docs(paths: list[Path]) -> list[Doc]:
    """Source files from corpus ``.jsonl`` (or ``.jsonl.xz``) files or folders of ``.py`` files.

    A folder of ``.py`` files is one distribution (a user's repository), named after
    the folder, with paths relative to it.
    """
    docs: list[Doc] = []
    for path in paths:
        if path.is_file() and path.name.endswith((".jsonl", ".jsonl.xz")):
            opener = lzma.open if path.suffix == ".xz" else open
            with opener(path, "rt", encoding="utf-8") as fh:
                for line in fh:
                    record = json.loads(line)
                    docs.append(
                        Doc(record.get("path", ""), record.get("package", ""), record["text"])
                    )
        elif path.is_dir() and (path / "train.jsonl").is_file():
            docs.extend(load_docs([path / "train.jsonl"]))
        elif path.is_dir():
            for file in sorted(path.rglob("*.py")):
                rel = file.relative_to(path)
                if any(p.startswith(".") or p in ("node_modules", "venv") for p in rel.parts):
                    continue
                try:
                    text = file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                if text.strip():
                    docs.append(Doc(rel.as_posix(), path.resolve().name, text))
        else:
            raise FileNotFoundError(f"no corpus at {path} (expected a .jsonl file or a folder)")
    if not docs:
        raise ValueError(f"the corpus {[str(p) for p in paths]} holds no Python text")
    return docs


def load_texts(paths: list[Path]) -> list[str]:
    """The texts of :func:`load_docs`."""
    return [doc.text for doc in load_docs(paths)]


def length_weighted(docs: list[Doc]) -> np.ndarray:
    """Cumulative probabilities of drawing each file, by length: every character of the
    corpus is equally likely to be in an example."""
    weights = np.array([len(d.text) for d in docs], dtype=np.float64)
    return np.cumsum(weights / weights.sum())


def draw_index(cum: np.ndarray, rng: random.Random) -> int:
    """An index drawn from :func:`length_weighted` probabilities."""
    return min(int(np.searchsorted(cum, rng.random())), len(cum) - 1)


def line_span(text: str, size: int, rng: random.Random) -> tuple[int, int]:
    """A random span of at most ``size`` characters of ``text`` that starts at a line start
    and ends after a line break (or at the end of the text, or mid-line when one line is
    longer than ``size``)."""
    if len(text) <= size:
        return 0, len(text)
    start = rng.randrange(0, len(text) - size // 2)
    start = text.rfind("\n", 0, start) + 1
    end = min(len(text), start + size)
    if end < len(text):
        cut = text.rfind("\n", start, end)
        end = cut + 1 if cut >= 0 else end
    return start, end


def line_window(text: str, size: int, rng: random.Random) -> str:
    """The text of :func:`line_span`."""
    start, end = line_span(text, size, rng)
    return text[start:end]


def fim_parts(left: str, window: str, rng: random.Random, spm_rate: float) -> list[Part]:
    """``left`` (repository context) and ``window`` as a FIM example in PSM or SPM order.

    The split points fall in ``window``; ``left`` joins the prefix, as the decoder puts
    the repository text before the document's prefix.
    """
    a, b = sorted(rng.randrange(0, len(window) + 1) for _ in range(2))
    prefix, middle, suffix = left + window[:a], window[a:b], window[b:]
    if rng.random() < spm_rate:
        return [
            ("special", FIM_PREFIX), ("special", FIM_SUFFIX), ("text", suffix),
            ("special", FIM_MIDDLE), ("text", prefix + middle), ("special", EOS),
        ]  # fmt: skip
    return [
        ("special", FIM_PREFIX), ("text", prefix), ("special", FIM_SUFFIX), ("text", suffix),
        ("special", FIM_MIDDLE), ("text", middle), ("special", EOS),
    ]  # fmt: skip


class FimSampler:
    """Draws packed token rows of ``seq_len + 1`` ids (inputs and shifted targets)."""

    def __init__(
        self,
        docs: list[Doc] | list[str],
        tokenizer,
        seq_len: int = 1024,
        fim_rate: float = 0.5,
        spm_rate: float = 0.5,
        seed: int = 0,
        repo_rate: float = 0.5,
    ) -> None:
        self.docs = [d if isinstance(d, Doc) else Doc("", "", d) for d in docs]
        self.tok = tokenizer
        self.seq_len = seq_len
        self.fim_rate = fim_rate
        self.spm_rate = spm_rate
        self.repo_rate = repo_rate
        self.rng = random.Random(seed)
        self.cum = length_weighted(self.docs)
        self.window = seq_len * CHARS_PER_TOKEN
        self.repo = Repository(self.docs) if repo_rate > 0 else None
        self.ids = {t: tokenizer.token_to_id(t) for t in (EOS, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX)}
        self._carry: list[int] = []

    def example(self) -> list[Part]:
        """An example as (kind, piece) parts: kind is "text" or "special" (a token name)."""
        i = draw_index(self.cum, self.rng)
        doc = self.docs[i]
        left = ""
        if self.repo is not None and self.rng.random() < self.repo_rate:
            share = self.rng.uniform(0.25, 0.6)
            pieces = self.repo.context(i, int(self.window * share), self.rng)
            if pieces:
                left = fim.repository_text(fim.REASON, pieces, doc.path)
        window = line_window(doc.text, max(256, self.window - len(left)), self.rng)
        if self.rng.random() >= self.fim_rate or len(window) < 8:
            return [("text", left + window), ("special", EOS)]
        return fim_parts(left, window, self.rng, self.spm_rate)

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` tokens of the example stream."""
        stream = self._carry
        while len(stream) < n:
            examples = [self.example() for _ in range(32)]
            pieces = [p for ex in examples for kind, p in ex if kind == "text"]
            encoded = iter(self.tok.encode_batch(pieces, add_special_tokens=False))
            for ex in examples:
                for kind, piece in ex:
                    if kind == "text":
                        stream.extend(next(encoded).ids)
                    else:
                        stream.append(self.ids[piece])
        out = np.array(stream[:n], dtype=np.int64)
        self._carry = stream[n:]
        return out

    def batch(self, batch_size: int) -> np.ndarray:
        return self.take(batch_size * (self.seq_len + 1)).reshape(batch_size, self.seq_len + 1)

    def state(self) -> dict:
        return {"rng": self.rng.getstate()}

    def restore(self, state: dict) -> None:
        self.rng.setstate(state["rng"])
        self._carry = []
