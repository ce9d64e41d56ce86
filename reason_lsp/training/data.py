"""Training batches: random windows of source files, fill-in-the-middle transformed, packed.

Each example is a window of a file (starting at a line) that with probability
``fim_rate`` is split at two random character positions into prefix, middle and
suffix and laid out in PSM or SPM order (``reason_lsp.engine.fim``); the rest stay plain
left-to-right text. Examples are tokenized in batches, joined and cut into
fixed-length rows, as in most LM pre-training.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from reason_lsp.engine.fim import EOS, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX


def load_texts(paths: list[Path]) -> list[str]:
    """Source texts from corpus ``.jsonl`` files or from folders of ``.py`` files."""
    texts: list[str] = []
    for path in paths:
        if path.is_file() and path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as fh:
                texts.extend(json.loads(line)["text"] for line in fh)
        elif path.is_dir() and (path / "train.jsonl").is_file():
            texts.extend(load_texts([path / "train.jsonl"]))
        elif path.is_dir():
            for file in sorted(path.rglob("*.py")):
                if any(
                    part.startswith(".") or part in ("node_modules", "venv") for part in file.parts
                ):
                    continue
                try:
                    text = file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                if text.strip():
                    texts.append(text)
        else:
            raise FileNotFoundError(f"no corpus at {path} (expected a .jsonl file or a folder)")
    if not texts:
        raise ValueError(f"the corpus {[str(p) for p in paths]} holds no Python text")
    return texts


class FimSampler:
    """Draws packed token rows of ``seq_len + 1`` ids (inputs and shifted targets)."""

    def __init__(
        self,
        texts: list[str],
        tokenizer,
        seq_len: int = 512,
        fim_rate: float = 0.5,
        spm_rate: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.texts = texts
        self.tok = tokenizer
        self.seq_len = seq_len
        self.fim_rate = fim_rate
        self.spm_rate = spm_rate
        self.rng = random.Random(seed)
        weights = np.array([len(t) for t in texts], dtype=np.float64)
        self.cum = np.cumsum(weights / weights.sum())
        self.window = seq_len * 3  # characters; about 0.9 rows of tokens on Python
        self.ids = {t: tokenizer.token_to_id(t) for t in (EOS, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX)}
        self._carry: list[int] = []

    def _window(self) -> tuple[str, bool]:
        """A random window of a random file (by size), and whether it reaches the file end."""
        text = self.texts[int(np.searchsorted(self.cum, self.rng.random()))]
        if len(text) <= self.window:
            return text, True
        start = self.rng.randrange(0, len(text) - self.window // 2)
        if start:
            nl = text.find("\n", start)
            start = nl + 1 if 0 <= nl < start + 200 else start
        end = start + self.window
        return text[start:end], end >= len(text)

    def _example(self) -> list[tuple[str, str]]:
        """An example as (kind, piece) parts: kind is "text" or a special token name."""
        text, at_end = self._window()
        if self.rng.random() >= self.fim_rate or len(text) < 8:
            return [("text", text)] + ([("special", EOS)] if at_end else [])
        a, b = sorted(self.rng.randrange(0, len(text) + 1) for _ in range(2))
        prefix, middle, suffix = text[:a], text[a:b], text[b:]
        if self.rng.random() < self.spm_rate:
            return [
                ("special", FIM_PREFIX), ("special", FIM_SUFFIX), ("text", suffix),
                ("special", FIM_MIDDLE), ("text", prefix + middle), ("special", EOS),
            ]  # fmt: skip
        return [
            ("special", FIM_PREFIX), ("text", prefix), ("special", FIM_SUFFIX), ("text", suffix),
            ("special", FIM_MIDDLE), ("text", middle), ("special", EOS),
        ]  # fmt: skip

    def batch(self, batch_size: int) -> np.ndarray:
        need = batch_size * (self.seq_len + 1)
        stream = self._carry
        while len(stream) < need:
            examples = [self._example() for _ in range(32)]
            pieces = [p for ex in examples for kind, p in ex if kind == "text"]
            encoded = iter(self.tok.encode_batch(pieces, add_special_tokens=False))
            for ex in examples:
                for kind, piece in ex:
                    if kind == "text":
                        stream.extend(next(encoded).ids)
                    else:
                        stream.append(self.ids[piece])
        rows = np.array(stream[:need], dtype=np.int64).reshape(batch_size, self.seq_len + 1)
        self._carry = stream[need:][: self.seq_len * 4]
        return rows
