"""A tiny model made in the test: it memorizes a short file, so its completions are known.

It goes through the project's own pipeline (byte-level BPE with the FIM special
tokens, ``LlamaForCausalLM``, PSM/SPM training, export with ``fim.json``), so the
engine sees exactly the conventions of the shipped model, in a few seconds.
"""

from __future__ import annotations

from pathlib import Path

MEMO = """import math


def area(radius):
    return math.pi * radius ** 2


def circumference(radius):
    return 2 * math.pi * radius


class Circle:
    def __init__(self, radius):
        self.radius = radius

    def area(self):
        return area(self.radius)

    def scaled(self, factor):
        return Circle(self.radius * factor)
"""


def build_memorizing_model(root: Path, steps: int = 500) -> Path:
    """Train a tiny model on :data:`MEMO` until it has it by heart; return its folder."""
    import torch

    from reason_lsp.training.train import ModelShape, TrainOptions, train

    torch.manual_seed(0)
    corpus = root / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "memo.py").write_text(MEMO)
    out = root / "model"
    opts = TrainOptions(
        corpus=[corpus],
        out=out,
        run_dir=root / "run",
        tokens=steps * 8 * 128,
        seq_len=128,
        batch=8,
        lr=3e-3,
        warmup=20,
        decay_frac=0.3,
        seed=0,
        shape=ModelShape(hidden=64, layers=2, heads=2, kv_heads=2, intermediate=128, vocab=384),
    )
    train(opts, log=lambda msg: None)
    return out
