"""Vocabulary size: compression of byte-level BPE tokenizers and training cost per step.

Trains the project's byte-level BPE (``reason_lsp.training.tokenizer``) at 4,096,
8,192 and 12,288 tokens on one fixed sample of ``data/corpus/train.jsonl`` (files
in a seeded shuffle: the first ~8 MB of text to train, the next ~2 MB to measure),
beside the shipped ``models/reason-code-small`` tokenizer, and reports characters
and UTF-8 bytes per token on the measuring sample and on
``data/corpus/valid_thirdparty.jsonl``. Then it builds the default shape
(``SHAPES["small"]``, seq 1,024) with each vocabulary and times training steps as
``train.py`` takes them (bf16 autocast, 4 rows of 1,024 tokens from the measuring
sample, forward, backward, clipping, Muon + AdamW step), the candidates interleaved
(A, B, C, A, B, C, …) after one warm-up step each, so a load on the machine hits all
alike. Step cost is the process's CPU time (one thread), median over the steps;
speeds are ratios to the 12,288 candidate, and training bytes per CPU-second
(tokens/s x bytes/token) is the fair throughput measure, since a smaller vocabulary
needs more tokens for the same text.

Not measured: what a vocabulary does to quality. Bits/byte per CPU-hour needs runs
trained for equal CPU time and evaluated on the held-out splits:
``bench/train_compare.py --candidates adamw,vocab8k,vocab4k`` does that, on a quiet
machine.

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python bench/vocab_compare.py [--steps 6] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

NOT_MEASURED = (
    "Not measured: quality. Bits/byte per CPU-hour needs equal-CPU-time training runs "
    "(bench/train_compare.py --candidates adamw,vocab8k,vocab4k, on a quiet machine)."
)
SIZES = (4096, 8192, 12288)
SHIPPED = Path("models/reason-code-small")


def split_sample(
    corpus: Path, train_bytes: int, measure_bytes: int, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Whole files of ``corpus`` in a seeded shuffle: ~train_bytes, then ~measure_bytes."""
    texts = [json.loads(line)["text"] for line in corpus.open(encoding="utf-8") if line.strip()]
    random.Random(seed).shuffle(texts)
    train, measure, size = [], [], 0
    for text in texts:
        n = len(text.encode("utf-8"))
        if size < train_bytes:
            train.append(text)
        elif size < train_bytes + measure_bytes:
            measure.append(text)
        else:
            break
        size += n
    return train, measure


def compression(tok, texts: list[str]) -> dict[str, float]:
    """Characters and UTF-8 bytes per token of ``texts``, each encoded on its own."""
    tokens = sum(len(e.ids) for e in tok.encode_batch(texts))
    chars = sum(len(t) for t in texts)
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    return {"chars_per_token": chars / tokens, "bytes_per_token": nbytes / tokens}


def time_steps(
    toks: dict[str, object],
    text: str,
    steps: int,
    shape: str = "small",
    seq_len: int = 1024,
    batch: int = 4,
) -> dict[str, dict]:
    """Interleaved training steps of ``shape`` with each tokenizer's vocabulary.

    Returns per candidate: parameters, and the CPU and wall seconds of each timed step
    (the warm-up step of each candidate is not counted)."""
    import torch
    import torch.nn.functional as F

    from reason_lsp.training.optim import make_optimizers
    from reason_lsp.training.train import SHAPES, build_model

    runs = {}
    for name, tok in toks.items():
        torch.manual_seed(0)
        dims = replace(SHAPES[shape], vocab=tok.get_vocab_size(), max_positions=seq_len)
        model = build_model(dims).train()
        ids = tok.encode(text).ids[: batch * (seq_len + 1)]
        if len(ids) < batch * (seq_len + 1):
            raise ValueError(f"{name}: the measuring text has only {len(ids)} tokens")
        rows = torch.tensor(ids).view(batch, seq_len + 1)
        runs[name] = {
            "model": model, "optims": make_optimizers(model, "muon", 2e-3), "rows": rows,
            "parameters": sum(p.numel() for p in model.parameters()), "cpu": [], "wall": [],
        }  # fmt: skip
    autocast = torch.autocast("cpu", dtype=torch.bfloat16)
    for round_ in range(steps + 1):  # round 0: the warm-up step of each candidate
        for run in runs.values():
            rows, model = run["rows"], run["model"]
            c0, w0 = time.process_time(), time.perf_counter()
            with autocast:
                logits = model(input_ids=rows[:, :-1]).logits
            loss = F.cross_entropy(
                logits.float().reshape(-1, logits.size(-1)), rows[:, 1:].reshape(-1)
            )
            for optim in run["optims"]:
                optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            for optim in run["optims"]:
                optim.step()
            if round_:
                run["cpu"].append(time.process_time() - c0)
                run["wall"].append(time.perf_counter() - w0)
    return {
        name: {k: r[k] for k in ("parameters", "cpu", "wall")} | {"tokens": batch * seq_len}
        for name, r in runs.items()
    }


def compare(
    train_texts: list[str],
    measure_texts: list[str],
    valid_texts: list[str],
    sizes: tuple[int, ...] = SIZES,
    shipped: Path | None = SHIPPED,
    steps: int = 6,
    shape: str = "small",
    seq_len: int = 1024,
) -> dict:
    """The whole comparison as a JSON-able record (the last size is the baseline)."""
    from reason_lsp.training.tokenizer import load_tokenizer, train_tokenizer

    toks, train_s = {}, {}
    for size in sizes:
        c0 = time.process_time()
        toks[f"bpe{size}"] = train_tokenizer(train_texts, size)
        train_s[f"bpe{size}"] = time.process_time() - c0
    if shipped is not None:
        toks["shipped"] = load_tokenizer(shipped)
    tokenizers = {
        name: {
            "vocab": tok.get_vocab_size(),
            "train_cpu_s": train_s.get(name),
            "sample": compression(tok, measure_texts),
            "valid_thirdparty": compression(tok, valid_texts),
        }
        for name, tok in toks.items()
    }
    timed = {name: toks[name] for name in train_s}
    timing = time_steps(timed, "\n".join(measure_texts), steps, shape, seq_len)
    base = f"bpe{sizes[-1]}"
    base_tps = timing[base]["tokens"] / statistics.median(timing[base]["cpu"])
    base_bpt = tokenizers[base]["sample"]["bytes_per_token"]
    for name, t in timing.items():
        tps = t["tokens"] / statistics.median(t["cpu"])
        t["step_cpu_s"] = statistics.median(t["cpu"])
        t["step_wall_s"] = statistics.median(t["wall"])
        t["tokens_per_s_ratio"] = tps / base_tps
        bpt = tokenizers[name]["sample"]["bytes_per_token"]
        t["bytes_per_s_ratio"] = tps * bpt / (base_tps * base_bpt)
    return {
        "sample": {
            "train_files": len(train_texts),
            "train_bytes": sum(len(t.encode("utf-8")) for t in train_texts),
            "measure_files": len(measure_texts),
            "measure_bytes": sum(len(t.encode("utf-8")) for t in measure_texts),
        },
        "shape": shape, "seq_len": seq_len, "steps": steps, "baseline": base,
        "tokenizers": tokenizers, "timing": timing, "not_measured": NOT_MEASURED,
    }  # fmt: skip


def table(result: dict) -> str:
    s = result["sample"]
    lines = [
        f"tokenizers trained on {s['train_files']} files ({s['train_bytes'] / 1e6:.1f} MB), "
        f"measured on the next {s['measure_files']} ({s['measure_bytes'] / 1e6:.1f} MB); "
        f"{result['steps']} timed steps each of {result['shape']} at seq {result['seq_len']}, "
        f"ratios to {result['baseline']}",
        "",
        "| tokenizer | vocab | chars/token | bytes/token | valid_thirdparty bytes/token | "
        "parameters | step CPU s (min–max) | step wall s | tokens/s ratio | bytes/s ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, tk in result["tokenizers"].items():
        t = result["timing"].get(name)
        timing = (
            f"{t['parameters'] / 1e6:.2f} M | {t['step_cpu_s']:.2f} ({min(t['cpu']):.2f}–"
            f"{max(t['cpu']):.2f}) | {t['step_wall_s']:.2f} | "
            f"{t['tokens_per_s_ratio']:.2f} | {t['bytes_per_s_ratio']:.2f}"
            if t
            else "– | – | – | – | –"
        )
        lines.append(
            f"| {name} | {tk['vocab']} | {tk['sample']['chars_per_token']:.2f} | "
            f"{tk['sample']['bytes_per_token']:.2f} | "
            f"{tk['valid_thirdparty']['bytes_per_token']:.2f} | {timing} |"
        )
    return "\n".join([*lines, "", result["not_measured"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus/train.jsonl"))
    parser.add_argument("--valid", type=Path, default=Path("data/corpus/valid_thirdparty.jsonl"))
    parser.add_argument("--train-mb", type=float, default=8.0)
    parser.add_argument("--measure-mb", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per candidate")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    args = parser.parse_args(argv)
    for path in (args.corpus, args.valid, SHIPPED / "tokenizer.json"):
        if not path.is_file():
            parser.error(f"{path} is missing (run from the repository root; build-corpus)")
    import torch

    torch.set_num_threads(args.threads)
    train_texts, measure_texts = split_sample(
        args.corpus, int(args.train_mb * 1e6), int(args.measure_mb * 1e6)
    )
    valid = [json.loads(line)["text"] for line in args.valid.open(encoding="utf-8")]
    result = compare(train_texts, measure_texts, valid, steps=args.steps)
    result["threads"] = torch.get_num_threads()
    if args.json:
        for t in result["timing"].values():
            t["cpu"] = [round(x, 4) for x in t["cpu"]]
            t["wall"] = [round(x, 4) for x in t["wall"]]
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
