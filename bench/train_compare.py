"""Training candidates at equal CPU-minutes: tokens/s and held-out bits/byte, as a table.

Each candidate is one ``reason-lsp train`` run from scratch, one at a time, under
``nice -n 19`` with one thread, budgeted by the process's CPU time (``--clock cpu``)
so that other jobs on the machine do not change what a candidate gets. Each ends on
its own full schedule (warm-up, flat, decay) and is evaluated on the first 100 kB of
each held-out split, at its own trained context length. Candidates differ from
``adamw`` (the default recipe: AdamW, bf16 autocast, 1,024-token rows, 4,096 tokens a
step, the shipped tokenizer) in one setting each.

    nohup nice -n 19 .venv/bin/python bench/train_compare.py --minutes 3 \\
        --candidates adamw,muon,fp32,seq512 > runs/compare.log 2>&1 &
    .venv/bin/python bench/train_compare.py --report     # the table of finished runs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BASE = [
    "--seq-len", "1024", "--batch", "4", "--precision", "bf16", "--optimizer", "adamw",
    "--tokenizer", "models/reason-code-small", "--warmup", "10", "--eval-minutes", "1000",
    "--ckpt-minutes", "1000", "--eval-bytes", "100000",
]  # fmt: skip

#: name -> (what differs, options appended to BASE; later options win in argparse)
CANDIDATES: dict[str, tuple[str, list[str]]] = {
    "adamw": ("AdamW, bf16, seq 1024 (default)", []),
    "muon": ("Muon (hidden matrices) + AdamW", ["--optimizer", "muon"]),
    "fp32": ("fp32, no autocast", ["--precision", "fp32"]),
    "seq512": ("seq 512 (8 rows a step)", ["--seq-len", "512", "--batch", "8"]),
    "vocab8k": ("vocabulary 8,192 (own tokenizer)", ["--tokenizer-none", "--vocab", "8192"]),
    "vocab4k": ("vocabulary 4,096 (own tokenizer)", ["--tokenizer-none", "--vocab", "4096"]),
    "deep": ("10 layers of 192", ["--hidden", "192", "--layers", "10", "--heads", "3",
                                          "--intermediate", "512"]),
    "wide": ("4 layers of 320", ["--hidden", "320", "--layers", "4", "--heads", "5",
                                         "--intermediate", "864"]),
}  # fmt: skip


def command(name: str, minutes: float, root: Path, threads: int) -> list[str]:
    extra = CANDIDATES[name][1]
    args = list(BASE)
    if "--tokenizer-none" in extra:  # this candidate trains its own tokenizer
        i = args.index("--tokenizer")
        del args[i : i + 2]
        extra = [a for a in extra if a != "--tokenizer-none"]
    run = root / name
    return [
        "nice", "-n", "19", sys.executable, "-m", "reason_lsp.training.cli", "train",
        *args, *extra, "--minutes", str(minutes), "--clock", "cpu", "--threads", str(threads),
        "--out", str(run / "model"), "--run-dir", str(run),
    ]  # fmt: skip


def table(names: list[str], root: Path, minutes: float) -> str:
    rows = [
        f"| candidate | setting | tokens/s (CPU) | tokens | valid_stdlib bits/byte at {minutes:g} "
        "CPU-min | valid_thirdparty bits/byte |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        stats_path = root / name / "model" / "training_stats.json"
        if not stats_path.is_file():
            rows.append(f"| {name} | {CANDIDATES[name][0]} | – | – | – | – |")
            continue
        s = json.loads(stats_path.read_text())
        rows.append(
            f"| {name} | {CANDIDATES[name][0]} | {s['tokens_per_second']:.0f} | "
            f"{s['tokens'] / 1e6:.2f} M | {s.get('valid_stdlib', float('nan')):.3f} | "
            f"{s.get('valid_thirdparty', float('nan')):.3f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="CPU-minutes a candidate")
    parser.add_argument("--candidates", default="adamw,muon,fp32,seq512")
    parser.add_argument("--root", type=Path, default=Path("runs/compare"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="print the table, train nothing")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.candidates.split(",") if n.strip()]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
    env = {
        **os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }  # fmt: skip
    if not args.report:
        for name in names:  # one at a time: the machine's cores are shared
            cmd = command(name, args.minutes, args.root, args.threads)
            print(f"== {name}: {' '.join(cmd)}", flush=True)
            started = time.monotonic()
            (args.root / name).mkdir(parents=True, exist_ok=True)
            with (args.root / name / "train.log").open("w") as log:
                rc = subprocess.call(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            print(f"== {name}: exit {rc} after {time.monotonic() - started:.0f} s wall", flush=True)
    print(table(names, args.root, args.minutes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
