"""Held-out evaluation of a code model: bits per byte (more tasks in ``bench/model_quality.py``).

Bits per byte does not depend on the tokenizer: the summed negative log-likelihood
of every token of a file (each file starts from ``<|endoftext|>``), in bits, over
the file's UTF-8 size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from reason_lsp.engine.fim import EOS


@torch.inference_mode()
def bits_per_byte(
    model, tok, texts: list[str], seq_len: int = 512, max_bytes: int | None = None
) -> float:
    """Bits per byte of ``model`` on ``texts`` (``tok`` is a ``tokenizers.Tokenizer``)."""
    eos = tok.token_to_id(EOS)
    device = next(model.parameters()).device
    nats, n_bytes = 0.0, 0
    for text in texts:
        ids = [eos, *tok.encode(text, add_special_tokens=False).ids]
        for start in range(0, len(ids) - 1, seq_len):
            window = torch.tensor([ids[start : start + seq_len + 1]], device=device)
            logits = model(input_ids=window[:, :-1]).logits.float()
            nats += F.cross_entropy(logits[0], window[0, 1:], reduction="sum").item()
        n_bytes += len(text.encode("utf-8"))
        if max_bytes is not None and n_bytes >= max_bytes:
            break
    return nats / math.log(2) / max(1, n_bytes)
