"""``reason-lsp train | build-corpus | eval``: the command line of the training tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_MODEL = Path("models/reason-code-small")


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
    train.add_argument("--lr", type=float, default=None)
    train.add_argument("--batch", type=int, default=8)
    train.add_argument("--seq-len", type=int, default=512)
    train.add_argument("--hidden", type=int, default=256)
    train.add_argument("--layers", type=int, default=6)
    train.add_argument("--heads", type=int, default=4)
    train.add_argument("--intermediate", type=int, default=704)
    train.add_argument("--vocab", type=int, default=12288)
    train.add_argument("--eval-minutes", type=float, default=10.0)
    train.add_argument("--compile", action="store_true", help="torch.compile the model")
    train.add_argument("--threads", type=int, default=0)

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
    if args.command == "train":
        return _train(args)
    if args.command == "eval":
        return _eval(args)
    return 2


def _train(args) -> int:
    from reason_lsp.training.train import ModelShape, TrainOptions, main_log, train

    if not args.minutes and not args.tokens:
        print("reason-lsp train: give a budget with --minutes or --tokens", file=sys.stderr)
        return 2
    corpus = args.corpus or [Path("data/corpus/train.jsonl")]
    valid = args.valid
    if valid is None and not args.corpus:
        valid = [
            p
            for p in (
                Path("data/corpus/valid_stdlib.jsonl"),
                Path("data/corpus/valid_thirdparty.jsonl"),
            )
            if p.is_file()
        ]
    out = args.out or (Path("runs/finetuned") if args.init else DEFAULT_MODEL)
    shape = ModelShape(
        hidden=args.hidden,
        layers=args.layers,
        heads=args.heads,
        kv_heads=args.heads,
        intermediate=args.intermediate,
        vocab=args.vocab,
    )
    lr = args.lr if args.lr is not None else (3e-4 if args.init else 2e-3)
    opts = TrainOptions(
        corpus=corpus,
        out=out,
        run_dir=args.run_dir or Path("runs") / out.name,
        valid=valid or [],
        init=args.init,
        minutes=args.minutes,
        tokens=int(args.tokens) if args.tokens else None,
        resume=args.resume,
        device=args.device,
        seed=args.seed,
        seq_len=args.seq_len,
        batch=args.batch,
        lr=lr,
        eval_minutes=args.eval_minutes,
        compile=args.compile,
        threads=args.threads,
        shape=shape,
    )
    train(opts, log=main_log)
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
