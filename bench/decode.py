"""Decode speed: ms per token for eager transformers and the lean path, fp32 to int4.

Each variant prefills the same 400-token prompt (code from this repository) and
greedily decodes 64 tokens, one token per forward call with the cache reused,
exactly as ``Decoder`` does; the decode loop and the cold prefill are timed, best of
``--repeats``.
Tokens are compared against eager float32 transformers.

    python bench/decode.py [--model embedded|FOLDER] [--threads 1] [--int8]

Measure with ``OMP_NUM_THREADS`` equal to ``--threads``: with another process on the
same cores, OpenMP spin-waiting otherwise inflates every number.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

Forward = Callable[[list[int], object], tuple[torch.Tensor, object]]


def hf_forward(model: torch.nn.Module, n_logits: int) -> Forward:
    def forward(ids: list[int], cache):
        out = model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True)
        return out.logits[0, -1, :n_logits].float(), out.cache

    return forward


@torch.inference_mode()
def forced(forward: Forward, prompt: list[int], tokens: list[int]) -> list[torch.Tensor]:
    """Log-probabilities at each step with the reference tokens fed (teacher forcing)."""
    logits, cache = forward(prompt, None)
    out = [torch.log_softmax(logits, -1)]
    for tok in tokens[:-1]:
        logits, cache = forward([tok], cache)
        out.append(torch.log_softmax(logits, -1))
    return out


@torch.inference_mode()
def run(forward: Forward, prompt: list[int], new: int) -> tuple[float, list[int], float]:
    """(ms per decoded token, greedy tokens, ms of the cold prefill)."""
    t0 = time.perf_counter()
    logits, cache = forward(prompt, None)
    prefill = (time.perf_counter() - t0) * 1000
    tokens = []
    t0 = time.perf_counter()
    for _ in range(new):
        tok = int(torch.argmax(logits))
        tokens.append(tok)
        logits, cache = forward([tok], cache)
    return (time.perf_counter() - t0) * 1000 / new, tokens, prefill


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 2)))
    ap.add_argument("--prompt-tokens", type=int, default=400)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--int8", action="store_true", help="also eager int8 dynamic quantization")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reason_lsp.engine.lean_llama import LeanLlama
    from reason_lsp.engine.loader import resolve_model

    source = resolve_model(args.model)
    tok = AutoTokenizer.from_pretrained(source)
    root = Path(__file__).resolve().parent.parent / "reason_lsp"
    text = "\n".join(p.read_text() for p in sorted(root.rglob("*.py")))
    prompt = tok.encode(text, add_special_tokens=False)[: args.prompt_tokens]
    n_logits = len(tok)

    def load(dtype: torch.dtype) -> torch.nn.Module:
        return AutoModelForCausalLM.from_pretrained(source, dtype=dtype).eval()

    fp32 = load(torch.float32)
    variants: list[tuple[str, Callable[[], Forward]]] = [
        ("hf eager fp32", lambda: hf_forward(fp32, n_logits)),
        ("hf eager bf16", lambda: hf_forward(load(torch.bfloat16), n_logits)),
        ("lean fp32", lambda: LeanLlama(fp32, "fp32", n_logits).forward),
        ("lean bf16", lambda: LeanLlama(fp32, "bf16", n_logits).forward),
        ("lean bf16+fp32 head", lambda: LeanLlama(fp32, "bf16", n_logits, head="fp32").forward),
        ("lean bf16 refine 64", lambda: LeanLlama(fp32, "bf16", n_logits, refine=64).forward),
        ("lean int8 refine 64", lambda: LeanLlama(fp32, "int8", n_logits, refine=64).forward),
        ("lean int4 refine 64", lambda: LeanLlama(fp32, "int4", n_logits, refine=64).forward),
    ]
    if args.int8:
        variants.append(
            (
                "hf int8 dynamic",
                lambda: hf_forward(
                    torch.ao.quantization.quantize_dynamic(
                        load(torch.float32), {torch.nn.Linear}, dtype=torch.qint8
                    ),
                    n_logits,
                ),
            )
        )
    print(
        f"model {source}, {args.threads} thread(s), prompt {len(prompt)} tokens, "
        f"{args.new_tokens} new, best of {args.repeats}"
    )
    print(
        "free-running greedy tokens vs eager fp32; teacher-forced on eager's tokens: "
        "top-1 agreement and max |delta log p| of the eager top-1 token"
    )
    built = {name: make() for name, make in variants}
    forwards = dict(built)
    # The floor of a decode step: the weight bytes it must read over the memory bandwidth.
    big = torch.randn(128 * 1024 * 1024)  # 512 MB, far past the caches
    big.sum()
    t0 = time.perf_counter()
    for _ in range(3):
        big.sum()
    bandwidth = 3 * big.numel() * 4 / (time.perf_counter() - t0)
    del big
    print(f"read bandwidth {bandwidth / 1e9:.1f} GB/s ({args.threads} threads, a 512 MB sum)")
    best = dict.fromkeys(forwards, float("inf"))
    prefill = dict.fromkeys(forwards, float("inf"))
    greedy: dict[str, list[int]] = {}
    # Round-robin, best of each: a background load then weighs on every variant alike.
    for _ in range(args.repeats):
        for name, forward in forwards.items():
            ms, greedy[name], cold = run(forward, prompt, args.new_tokens)
            best[name], prefill[name] = min(best[name], ms), min(prefill[name], cold)
    reference = greedy["hf eager fp32"]
    ref_logp = forced(forwards["hf eager fp32"], prompt, reference)
    for name, forward in forwards.items():
        tokens = greedy[name]
        first = next(
            (i for i, (a, b) in enumerate(zip(tokens, reference, strict=True)) if a != b), None
        )
        note = "identical" if first is None else f"differ from {first}"
        logp = forced(forward, prompt, reference)
        top1 = sum(int(a.argmax()) == int(b.argmax()) for a, b in zip(logp, ref_logp, strict=True))
        dlp = max(
            float((a[b.argmax()] - b.max()).abs()) for a, b in zip(logp, ref_logp, strict=True)
        )
        # Where the top-1 differs, how far apart eager put the two tokens (a near-tie?).
        gaps = [
            float(b.max() - b[a.argmax()])
            for a, b in zip(logp, ref_logp, strict=True)
            if int(a.argmax()) != int(b.argmax())
        ]
        gap = f"  (eager gap there: {max(gaps):.4f} nats)" if gaps else ""
        owner = getattr(built[name], "__self__", None)
        if hasattr(owner, "decode_bytes"):
            mb = owner.decode_bytes() / 1e6
            gap += f"  [{mb:.0f} MB/token, floor {owner.decode_bytes() / bandwidth * 1000:.1f} ms]"
        print(
            f"{name:20s} {best[name]:6.2f} ms/token  prefill {prefill[name]:6.0f} ms  "
            f"tokens: {note:15s} "
            f"forced top-1 {top1}/{len(logp)}  max dlogp {dlp:.3f}{gap}"
        )


if __name__ == "__main__":
    main()
