"""The naive baseline for bench/completion.py: ``model.generate()`` on the server's prompts.

The same model loaded by the engine's loader, the same prompt ids (``plan`` +
``Decoder.build_prompt``, as the server built them) and ``model.generate(do_sample=
False)`` of the same number of new tokens, without any cache kept between requests.
"""

from __future__ import annotations

import time

from typing_sessions import python_parser

from reason_lsp.features.completion import plan as completion
from reason_lsp.features.completion.plan import LINE_TOKENS


def naive_baseline(args, sessions, calls) -> list[tuple[object, float]]:
    """``model.generate()`` on the same prompts, no cache kept between requests."""
    import torch
    from transformers.utils import logging as hf_logging

    from reason_lsp.engine import GenerateRequest, open_decoder

    hf_logging.disable_progress_bar()
    torch.set_grad_enabled(False)
    decoder = open_decoder(args.model, context_tokens=args.context_tokens)
    loaded, model = decoder.m, decoder.model
    parser = python_parser()
    pad = loaded.tokenizer.pad_token_id
    pad = pad if pad is not None else loaded.tokenizer.eos_token_id

    def generate(ids: list[int], n: int) -> float:
        x = torch.tensor([ids], device=loaded.device)
        t0 = time.perf_counter()
        model.generate(
            input_ids=x,
            attention_mask=torch.ones_like(x),
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            pad_token_id=pad,
        )
        return (time.perf_counter() - t0) * 1000

    timed: list[tuple[object, float]] = []
    for i, req in enumerate(calls):
        text = sessions[req.session].text[: req.offset]
        p = completion.plan(
            text, req.offset, parser.parse(text.encode("utf-8")), context_tokens=args.context_tokens
        )
        if p is None:
            continue
        budget = args.max_new_tokens if p.mode == "block" else min(LINE_TOKENS, args.max_new_tokens)
        prompt = decoder.build_prompt(
            GenerateRequest(prefix=p.prefix, suffix=p.suffix, header=p.header), budget
        )
        if i == 0:
            generate(prompt.ids, req.decoded_tokens)  # warm-up, not counted
        timed.append((req, generate(prompt.ids, req.decoded_tokens)))
    return timed
