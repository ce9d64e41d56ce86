"""The byte-level BPE tokenizer of the shipped model, trained with ``tokenizers``.

Saved as ``tokenizer.json`` plus ``tokenizer_config.json`` and
``special_tokens_map.json`` so ``AutoTokenizer.from_pretrained(folder)`` loads it.
Special tokens follow the StarCoder convention and take ids 0..5 (see
``reason_lsp.engine.fim.SPECIAL_TOKENS``).

The GPT-2 style pre-tokenizer splits a run of spaces before a word as
``"   " + " word"``: the last indent space belongs to the next token. A prompt that
ends in indentation therefore ends on a token the model rarely saw there; the
engine heals it (see ``reason_lsp.engine.fim``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from reason_lsp.engine.fim import EOS, FIM_PAD, SPECIAL_TOKENS

#: The files of a saved tokenizer, as a model folder carries them.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def train_tokenizer(texts: Iterable[str], vocab_size: int = 12288):
    """Train a byte-level BPE tokenizer on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok, folder: Path, model_max_length: int = 2048) -> None:
    """Write the tokenizer in the layout ``AutoTokenizer`` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    special = {"bos_token": EOS, "eos_token": EOS, "unk_token": EOS, "pad_token": FIM_PAD}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": False,
        "add_bos_token": False,
        "add_eos_token": False,
        "additional_special_tokens": [t for t in SPECIAL_TOKENS if t not in (EOS, FIM_PAD)],
        **special,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    special_map = {**special, "additional_special_tokens": config["additional_special_tokens"]}
    (folder / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2) + "\n")


def load_tokenizer(folder: Path):
    """The fast ``tokenizers`` object (training uses it directly; it is quicker than HF's)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(folder / "tokenizer.json"))
