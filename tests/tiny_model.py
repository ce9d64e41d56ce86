"""A tiny model made in the test: it memorizes a short file, so its completions are known.

It goes through the project's own pipeline (byte-level BPE with the FIM special
tokens, ``LlamaForCausalLM``, PSM/SPM training, export with ``fim.json``), so the
engine sees exactly the conventions of the shipped model, in a few seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def radius_of(surface):
    total = surface / math.pi
    if total < 0:
        raise ValueError("negative surface")
    return math.sqrt(total)
"""


def build_memorizing_model(
    root: Path, steps: int = 500, text: str = MEMO, texts: Sequence[str] = ()
) -> Path:
    """Train a tiny model on ``text`` (:data:`MEMO`) until it has it by heart; return its folder.

    With ``texts``, on each of them instead, each a distribution of its own (so training
    puts no other file in front of it as repository context)."""
    import torch

    from reason_lsp.training.train import ModelShape, TrainOptions, train

    torch.manual_seed(0)
    corpus = root / "corpus"
    corpora = [corpus / f"d{i}" for i in range(len(texts))] if texts else [corpus]
    for folder, body in zip(corpora, texts or (text,), strict=True):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "memo.py").write_text(body)
    out = root / "model"
    opts = TrainOptions(
        corpus=corpora,
        out=out,
        run_dir=root / "run",
        tokens=steps * 8 * 128,
        seq_len=128,
        batch=8,
        lr=3e-3,
        optimizer="adamw",  # the steps and rate were tuned with it; Muon memorizes harder
        warmup=20,
        decay_frac=0.3,
        seed=0,
        shape=ModelShape(hidden=64, layers=2, heads=2, kv_heads=2, intermediate=128, vocab=384),
    )
    train(opts, log=lambda msg: None)
    return out


def make_random_model(folder: Path, specials: list[str]) -> Path:
    """A tiny random Llama plus a byte-level BPE tokenizer carrying ``specials``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([MEMO] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=specials[0])
    fast.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
        eos_token_id=fast.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def make_repeating_model(folder: Path, specials: list[str], piece: str = "x") -> Path:
    """:func:`make_random_model` rewired so that after any text its greedy token is ``piece``.

    A random model's greedy output is a property of its seed and of float rounding: it
    may end a block, write a newline or an end of text within a few tokens. For tests
    where only a cancel may end a generation, this one cannot stop by itself: every
    embedding is the same all-ones vector and no block adds to the residual stream
    (``o_proj`` and ``down_proj`` are zero), so every position's final hidden state is
    all ones, and the output head gives ``piece`` a logit of the hidden size and every
    other token 0. It writes ``piece`` forever (no newline, no end of text); the healing
    mask still lets it spell out a prompt's last word first."""
    import torch
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    make_random_model(folder, specials)
    token = PreTrainedTokenizerFast.from_pretrained(folder).convert_tokens_to_ids(piece)
    model = LlamaForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        model.model.embed_tokens.weight.fill_(1.0)
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.lm_head.weight.zero_()
        model.lm_head.weight[token] = 1.0
    model.save_pretrained(folder)
    return folder


if __name__ == "__main__":
    # python tests/tiny_model.py OUT_DIR [TEXT_FILE]: for tests outside pytest (VS Code e2e).
    import sys

    out_dir = Path(sys.argv[1])
    source = Path(sys.argv[2]).read_text() if len(sys.argv) > 2 else MEMO
    print(build_memorizing_model(out_dir, text=source))
