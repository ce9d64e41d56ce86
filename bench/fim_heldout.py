"""Held-out FIM loss of model folders: the number FIM-tuning optimises, on code it never saw.

    .venv/bin/python bench/fim_heldout.py --model FOLDER [--model FOLDER ...]
        [--examples 160] [--seq-len 320] [--valid data/corpus/valid_thirdparty.jsonl ...]

Every model is scored on the same holes (``reason_lsp.training.infill``, seed 1234, the
held-out splits of ``reason-lsp build-corpus``), each in its own FIM format: the tuned
folder's record, or for a model without FIM tokens the format FIM-tuning would give
it (so the untuned model's row is what tuning starts from). Prints per split the
middle's mean loss (nats a token) and next-token accuracy; not a test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from reason_lsp.training.fim_tune import TuneOptions, evaluate, held_out, tuning_format
from reason_lsp.training.tokenizer import load_tokenizer

VALID = (Path("data/corpus/valid_thirdparty.jsonl"), Path("data/corpus/valid_stdlib.jsonl"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, action="append", required=True)
    ap.add_argument("--examples", type=int, default=160, help="holes a split")
    ap.add_argument("--seq-len", type=int, default=320)
    ap.add_argument("--valid", type=Path, action="append")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM

    print("| model | split | middle loss (nats/token) | next-token accuracy |")
    print("| --- | --- | --- | --- |")
    for folder in args.model:
        opts = TuneOptions(
            init=folder, corpus=[], out=folder, valid=list(args.valid or VALID),
            seq_len=args.seq_len, eval_examples=args.examples,
        )  # fmt: skip
        tok = load_tokenizer(folder)
        splits = held_out(opts, tok, tuning_format(tok, folder))
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16)
        scores = evaluate(model, splits, opts, autocast)
        for name in splits:
            loss, acc = scores[f"{name}_middle_loss"], scores[f"{name}_middle_accuracy"]
            print(f"| {folder} | {name} | {loss:.3f} | {acc:.1%} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
