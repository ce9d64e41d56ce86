"""``reason-lsp train | build-corpus | fetch-corpus | pack-corpus | eval``: the training CLI."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

DEFAULT_MODEL = Path("models/reason-code-small")
_DEFAULT_VALID = (
    Path("data/corpus/valid_stdlib.jsonl"),
    Path("data/corpus/valid_thirdparty.jsonl"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reason-lsp", description="Train and evaluate code models."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    corpus = sub.add_parser(
        "build-corpus", help="collect permissively licensed Python on this machine"
    )
    corpus.add_argument("--out", type=Path, default=Path("data/corpus"))
    corpus.add_argument("--site", action="append", help="site-packages folder (repeatable)")

    from reason_lsp.training import fetch

    fetch.add_arguments(
        sub.add_parser(
            "fetch-corpus",
            help="grow the corpus from the pinned PyPI packages in corpus_packages.toml",
        )
    )

    train = sub.add_parser("train", help="train a model from scratch or fine-tune one")
    train.add_argument("--build-corpus", action="store_true", help="build data/corpus first")
    train.add_argument(
        "--corpus",
        type=Path,
        action="append",
        help="corpus .jsonl or folder of .py files (repeatable; default data/corpus)",
    )
    train.add_argument("--valid", type=Path, action="append", help="validation .jsonl (repeatable)")
    train.add_argument(
        "--init", type=Path, help="model folder to fine-tune (e.g. models/reason-code-small)"
    )
    train.add_argument("--out", type=Path, default=None, help="output model folder")
    train.add_argument(
        "--run-dir", type=Path, default=None, help="checkpoints (default runs/<out name>)"
    )
    train.add_argument("--minutes", type=float, help="time budget")
    train.add_argument("--tokens", type=float, help="token budget")
    train.add_argument("--resume", action="store_true")
    train.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--lr", type=float, default=None, help="peak AdamW learning rate")
    train.add_argument(
        "--optimizer", choices=["adamw", "muon"], default="muon",
        help="muon: torch.optim.Muon on hidden matrices, AdamW on the rest (default: it won "
        "bench/train_compare.py at equal CPU-minutes); adamw: AdamW on everything",
    )  # fmt: skip
    train.add_argument("--muon-lr", type=float, default=0.02, help="Muon's peak learning rate")
    train.add_argument(
        "--warmup", type=int, default=None, help="warm-up steps (100; 20 FIM-tuning)"
    )
    train.add_argument("--batch", type=int, default=None, help="rows a step (default: 4096 tokens)")
    train.add_argument(
        "--seq-len", type=int, default=None,
        help="trained context (= max_position_embeddings; 1024), or FIM-tuning's tokens an "
        "example (320)",
    )  # fmt: skip
    train.add_argument(
        "--lora-rank", type=int, default=None,
        help="FIM-tune the --init model (the route for one without our FIM tokens): LoRA "
        "rank (16), 0 trains every weight",
    )  # fmt: skip
    train.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    train.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall",
        help="what --minutes counts: wall-clock, or this process's CPU time (all threads)",
    )  # fmt: skip
    train.add_argument("--fim-rate", type=float, default=0.5)
    train.add_argument(
        "--repo-rate",
        type=float,
        default=None,
        help="share of examples with repository context (0.5; 0.25 FIM-tuning)",
    )
    train.add_argument("--tokenizer", type=Path, help="reuse this folder's tokenizer.json")
    train.add_argument(
        "--packed", type=Path, help="train on a packed stream (reason-lsp pack-corpus)"
    )
    train.add_argument(
        "--shape", choices=["small", "gpu", "tiny"], default="small",
        help="named model shape (reason_lsp.training.train.SHAPES); the options below override it",
    )  # fmt: skip
    for name in ("hidden", "layers", "heads", "kv-heads", "intermediate", "vocab"):
        train.add_argument(f"--{name}", type=int, default=None)
    train.add_argument("--eval-minutes", type=float, default=10.0)
    train.add_argument(
        "--eval-examples", type=int, default=160, help="FIM-tuning: held-out holes a split"
    )
    train.add_argument(
        "--eval-bytes", type=int, default=100_000, help="per held-out split (0: all)"
    )
    train.add_argument("--ckpt-minutes", type=float, default=5.0)
    train.add_argument("--max-shard-mb", type=int, default=None, help="shard the safetensors")
    train.add_argument("--compile", action="store_true", help="torch.compile the model")
    train.add_argument("--threads", type=int, default=0)

    pk = sub.add_parser(
        "pack-corpus", help="pre-tokenize the training stream into xz uint16 shards"
    )
    pk.add_argument("--corpus", type=Path, action="append", help="default data/corpus/train.jsonl")
    pk.add_argument("--valid", type=Path, action="append", help="held-out splits to carry along")
    pk.add_argument("--tokenizer", type=Path, default=DEFAULT_MODEL)
    pk.add_argument("--out", type=Path, default=Path("data/gpu"))
    pk.add_argument("--tokens", type=float, required=True)
    pk.add_argument("--seq-len", type=int, default=1024)
    pk.add_argument("--seed", type=int, default=0)
    pk.add_argument("--fim-rate", type=float, default=0.5)
    pk.add_argument("--repo-rate", type=float, default=0.5)

    ev = sub.add_parser("eval", help="bits per byte of a model on held-out files")
    ev.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ev.add_argument("--valid", type=Path, action="append")
    ev.add_argument("--max-bytes", type=int, default=400_000)
    ev.add_argument(
        "--full",
        action="store_true",
        help="also next-line, identifier (vs Jedi) and FIM tasks (bench/model_quality.py)",
    )
    # Options of --full (reason_lsp/training/quality.py, bench/model_quality.py).
    ev.add_argument("--tasks", default="bpb,line,ident,fim", help="subset of the --full tasks")
    ev.add_argument("-n", type=int, default=150, help="positions per task per split")
    ev.add_argument("--max-files", type=int, default=None, help="files per split (shuffled)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--context", type=int, default=512, help="left context in tokens")
    ev.add_argument("--no-jedi", action="store_true", help="skip the Jedi baseline")
    ev.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ev.add_argument("--json", type=Path, default=None, help="write the numbers here ('-': stdout)")
    ev.add_argument("--examples", action="store_true", help="keep per-position rows in --json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "build-corpus" or (args.command == "train" and args.build_corpus):
        from reason_lsp.training.corpus import build

        build(
            getattr(args, "out", None) if args.command == "build-corpus" else Path("data/corpus"),
            getattr(args, "site", None),
        )
        if args.command == "build-corpus":
            return 0
    if args.command == "fetch-corpus":
        from reason_lsp.training.fetch import main_from_args

        return main_from_args(args)
    if args.command == "train":
        return _train(args)
    if args.command == "pack-corpus":
        return _pack(args)
    if args.command == "eval":
        return _eval(args)
    return 2


def _train(args) -> int:
    from reason_lsp.training.train import SHAPES, TrainOptions, main_log, train

    if not args.minutes and not args.tokens:
        print("reason-lsp train: give a budget with --minutes or --tokens", file=sys.stderr)
        return 2
    corpus = args.corpus or [Path("data/corpus/train.jsonl")]
    valid = args.valid
    if valid is None and not args.corpus:
        valid = [p for p in _DEFAULT_VALID if p.is_file()]
    out = args.out or (Path("runs/finetuned") if args.init else DEFAULT_MODEL)
    if args.init is not None and (args.lora_rank is not None or not _has_own_sentinels(args.init)):
        return _fim_tune(args, corpus, valid or [], out)
    args.seq_len = args.seq_len or 1024
    args.warmup = 100 if args.warmup is None else args.warmup
    args.repo_rate = 0.5 if args.repo_rate is None else args.repo_rate
    given = {
        k: getattr(args, k)
        for k in ("hidden", "layers", "heads", "kv_heads", "intermediate", "vocab")
        if getattr(args, k) is not None
    }
    if "heads" in given and "kv_heads" not in given:
        given["kv_heads"] = given["heads"]
    shape = replace(SHAPES[args.shape], **given)
    lr = args.lr if args.lr is not None else (3e-4 if args.init else 2e-3)
    # Options whose argparse name is the TrainOptions field.
    same = (
        "init", "minutes", "resume", "device", "seed", "seq_len", "warmup", "fim_rate",
        "repo_rate", "eval_minutes", "ckpt_minutes", "compile", "threads", "optimizer",
        "muon_lr", "precision", "clock", "tokenizer", "packed", "max_shard_mb",
    )  # fmt: skip
    opts = TrainOptions(
        corpus=corpus,
        out=out,
        run_dir=args.run_dir or Path("runs") / out.name,
        valid=valid or [],
        tokens=int(args.tokens) if args.tokens else None,
        batch=args.batch or max(1, 4096 // args.seq_len),
        lr=lr,
        eval_bytes=args.eval_bytes or None,
        shape=shape,
        **{name: getattr(args, name) for name in same},
    )
    try:
        train(opts, log=main_log)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"reason-lsp train: {exc}", file=sys.stderr)
        return 1
    return 0


def _has_own_sentinels(folder: Path) -> bool:
    """Whether ``folder``'s tokenizer has the FIM tokens our training stream spells."""
    from reason_lsp.engine.fim import SPECIAL_TOKENS
    from reason_lsp.training.tokenizer import load_tokenizer

    tok = load_tokenizer(folder)
    return all(tok.token_to_id(t) is not None for t in SPECIAL_TOKENS[:4])


def _fim_tune(args, corpus: list[Path], valid: list[Path], out: Path) -> int:
    from reason_lsp.training.fim_tune import TuneOptions, tune
    from reason_lsp.training.train import main_log

    if args.tokens or args.resume or args.packed:
        print("reason-lsp train: FIM-tuning takes --minutes (no --tokens, --resume, --packed)",
              file=sys.stderr)  # fmt: skip
        return 2
    opts = TuneOptions(
        init=args.init, corpus=corpus, out=out, valid=valid, minutes=args.minutes,
        lora_rank=16 if args.lora_rank is None else args.lora_rank, lr=args.lr,
        batch=args.batch or 8,
        seq_len=args.seq_len or 320, seed=args.seed,
        repo_rate=0.25 if args.repo_rate is None else args.repo_rate,
        warmup=20 if args.warmup is None else args.warmup, device=args.device,
        precision=args.precision, clock=args.clock, threads=args.threads,
        eval_minutes=args.eval_minutes, eval_examples=args.eval_examples,
    )  # fmt: skip
    try:
        tune(opts, log=main_log)
    except (FileNotFoundError, ValueError, RuntimeError, ImportError) as exc:
        print(f"reason-lsp train: {exc}", file=sys.stderr)
        return 1
    return 0


def _pack(args) -> int:
    from reason_lsp.training.pack import pack
    from reason_lsp.training.train import main_log

    valid = args.valid if args.valid is not None else [p for p in _DEFAULT_VALID if p.is_file()]
    try:
        pack(
            args.corpus or [Path("data/corpus/train.jsonl")],
            args.tokenizer,
            args.out,
            int(args.tokens),
            valid,
            seq_len=args.seq_len,
            seed=args.seed,
            fim_rate=args.fim_rate,
            repo_rate=args.repo_rate,
            log=main_log,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"reason-lsp pack-corpus: {exc}", file=sys.stderr)
        return 1
    return 0


def _eval(args) -> int:
    if args.full:
        from reason_lsp.training.quality import main_from_args

        return main_from_args(args)
    import torch
    from transformers import AutoModelForCausalLM

    from reason_lsp.training.data import load_texts
    from reason_lsp.training.evaluate import bits_per_byte
    from reason_lsp.training.tokenizer import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tok = load_tokenizer(args.model)
    valid = args.valid or [
        Path("data/corpus/valid_stdlib.jsonl"),
        Path("data/corpus/valid_thirdparty.jsonl"),
    ]
    for path in valid:
        bpb = bits_per_byte(model, tok, load_texts([path]), max_bytes=args.max_bytes)
        print(f"{path.stem}: {bpb:.3f} bits/byte")
    return 0


if __name__ == "__main__":
    sys.exit(main())
