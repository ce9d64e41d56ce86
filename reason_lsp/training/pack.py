"""A packed corpus: the training example stream, pre-tokenized, as xz-compressed uint16 shards.

``reason-lsp pack-corpus`` runs the same sampler as ``train`` (``reason_lsp.training.data``:
windows, repository context, FIM, ``<|endoftext|>``) for a number of tokens and writes
the stream, so a machine that only trains (a lent GPU, for minutes) spends no time on
tokenizing and needs neither the corpus nor its files. The folder is self-contained:

- ``meta.json``: tokens, shards, vocabulary size, the tokenizer's SHA-256, how it was made;
- ``train-NNN.u16.xz``: the stream, little-endian uint16, xz-compressed;
- ``tokenizer.json`` (+ config files): the tokenizer the ids belong to;
- ``valid_*.jsonl.xz``: the held-out splits, for bits/byte where training runs.

:class:`PackedStream` reads it back as rows, in a fresh random order every epoch.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
from pathlib import Path

import numpy as np

from reason_lsp.training.data import FimSampler, load_docs
from reason_lsp.training.tokenizer import TOKENIZER_FILES, load_tokenizer

META = "meta.json"
SHARD_TOKENS = 64_000_000
#: LZMA2 with a dictionary as large as a shard (128 MB raw), so the windows that repeat
#: within a shard compress to almost nothing.
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 128 << 20}]


def tokenizer_digest(folder: Path) -> str:
    return hashlib.sha256((folder / "tokenizer.json").read_bytes()).hexdigest()


def pack(
    corpus: list[Path],
    tokenizer_dir: Path,
    out: Path,
    tokens: int,
    valid: list[Path] = (),
    seq_len: int = 1024,
    seed: int = 0,
    fim_rate: float = 0.5,
    repo_rate: float = 0.5,
    log=print,
) -> dict:
    """Write ``tokens`` tokens of the sampler's stream over ``corpus`` into ``out``."""
    tok = load_tokenizer(tokenizer_dir)
    if tok.get_vocab_size() > 1 << 16:
        raise ValueError(f"a vocabulary of {tok.get_vocab_size()} ids does not fit in uint16")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("train-*.u16.xz"):
        old.unlink()
    sampler = FimSampler(load_docs(corpus), tok, seq_len, fim_rate, seed=seed, repo_rate=repo_rate)
    shards, done = [], 0
    while done < tokens:
        n = min(SHARD_TOKENS, tokens - done)
        ids = np.concatenate([sampler.take(min(1 << 20, n - k)) for k in range(0, n, 1 << 20)])
        name = f"train-{len(shards):03d}.u16.xz"
        (out / name).write_bytes(
            lzma.compress(ids.astype("<u2").tobytes(), format=lzma.FORMAT_XZ, filters=_FILTERS)
        )
        shards.append({"name": name, "tokens": int(n)})
        done += n
        log(f"{name}: {n / 1e6:.1f} M tokens, {(out / name).stat().st_size / 1e6:.1f} MB")
    for name in TOKENIZER_FILES:
        shutil.copy(tokenizer_dir / name, out / name)
    for path in valid:
        target = out / (path.name.removesuffix(".xz") + ".xz")
        target.write_bytes(lzma.compress(path.read_bytes(), preset=9))
    meta = {
        "tokens": int(done),
        "shards": shards,
        "vocab": tok.get_vocab_size(),
        "tokenizer_sha256": tokenizer_digest(tokenizer_dir),
        "seq_len": seq_len,
        "seed": seed,
        "fim_rate": fim_rate,
        "repo_rate": repo_rate,
        "corpus": [str(p) for p in corpus],
        "valid": [path.name.removesuffix(".xz") + ".xz" for path in valid],
    }
    (out / META).write_text(json.dumps(meta, indent=1) + "\n")
    size = sum(p.stat().st_size for p in out.iterdir())
    log(f"packed {done / 1e6:.1f} M tokens into {out}: {size / 1e6:.1f} MB in all")
    return meta


class PackedStream:
    """Rows of ``seq_len + 1`` tokens cut from a packed stream, shuffled each epoch."""

    def __init__(self, folder: Path, seq_len: int, seed: int = 0) -> None:
        meta_path = folder / META
        if not meta_path.is_file():
            raise FileNotFoundError(f"no packed corpus at {folder} (run reason-lsp pack-corpus)")
        self.meta = json.loads(meta_path.read_text())
        parts = [
            np.frombuffer(lzma.decompress((folder / s["name"]).read_bytes()), dtype="<u2")
            for s in self.meta["shards"]
        ]
        self.tokens = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self.seq_len = seq_len
        self.n_rows = len(self.tokens) // (seq_len + 1)
        if self.n_rows < 1:
            raise ValueError(f"{folder} holds {len(self.tokens)} tokens, under one row")
        self.seed = seed
        self.epoch, self.pos = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n_rows)

    def batch(self, batch_size: int) -> np.ndarray:
        rows = []
        for _ in range(batch_size):
            if self.pos >= self.n_rows:
                self.epoch, self.pos = self.epoch + 1, 0
                self._order = self._permutation()
            start = int(self._order[self.pos]) * (self.seq_len + 1)
            rows.append(self.tokens[start : start + self.seq_len + 1])
            self.pos += 1
        return np.stack(rows).astype(np.int64)

    @property
    def epochs(self) -> float:
        return self.epoch + self.pos / self.n_rows

    def state(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def restore(self, state: dict) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]
        self._order = self._permutation()
