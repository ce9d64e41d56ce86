"""Calibrate the "unlikely code" thresholds on clean held-out code.

Data recipe: the validation splits of the corpus (``reason-lsp build-corpus``):
whole stdlib packages and whole third-party distributions the model never saw in
training, taken as clean code. Each file is cut into the same regions the server
scores, each region scored after the file's imports, exactly as in the editor.
For every line the strongest candidate flag (margin met, not in a string or
comment, one per line) gives that line's surprisal; the warning threshold is the
smallest surprisal that flags at most one line in ``--per-lines`` (300) of clean
code, the information threshold one line in a third of that.

    python -m reason_lsp.training.calibrate --model models/reason-code-small

writes ``calibration.json`` into the model folder (read by the server).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import tree_sitter

from reason_lsp.features.unlikely import flags as unlikely
from reason_lsp.text import languages

SPLITS = (Path("data/corpus/valid_stdlib.jsonl"), Path("data/corpus/valid_thirdparty.jsonl"))


def line_maxima(decoder, texts: list[str], margin: float, log=print) -> tuple[list[float], int]:
    """Each code line's strongest candidate surprisal (0 when none), and the count of lines."""
    from reason_lsp.engine.scoring import score

    parser = tree_sitter.Parser(languages.load("python"))
    loose = unlikely.Thresholds(warning=0.0, information=0.0, margin=margin)
    maxima: list[float] = []
    for n, text in enumerate(texts):
        tree = parser.parse(text.encode("utf-8", "replace"))
        header = unlikely.header_of(text, tree)
        for region in unlikely.regions(text, tree, header):
            chunk = text[region.start : region.end]
            flagged = unlikely.flags(chunk, score(decoder, header, chunk), loose, parser)
            per_line = {chunk.count("\n", 0, f.start): f.surprisal for f in flagged}
            code_lines = [i for i, line in enumerate(chunk.split("\n")) if line.strip()]
            maxima.extend(per_line.get(i, 0.0) for i in code_lines)
        if (n + 1) % 10 == 0:
            log(f"  {n + 1}/{len(texts)} files, {len(maxima)} lines")
    return maxima, len(maxima)


def threshold_for(maxima: list[float], per_lines: float) -> float:
    """The smallest surprisal flagging at most len/per_lines of the lines."""
    allowed = int(len(maxima) / per_lines)
    ranked = sorted(maxima, reverse=True)
    if allowed >= len(ranked):
        return 0.0
    return ranked[allowed] + 1e-3  # strictly above the first line that must not be flagged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/reason-code-small"))
    parser.add_argument("--valid", type=Path, action="append")
    parser.add_argument("--max-files", type=int, default=80, help="files per split (shuffled)")
    parser.add_argument("--per-lines", type=float, default=300.0, help="clean lines per warning")
    parser.add_argument(
        "--margin", type=float, default=2.5, help="nats the alternative must lead by"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dry-run", action="store_true", help="print, do not write calibration.json"
    )
    args = parser.parse_args(argv)

    from reason_lsp.engine import open_decoder

    decoder = open_decoder(str(args.model))
    texts: list[str] = []
    for path in args.valid or [p for p in SPLITS if p.is_file()]:
        records = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
        random.Random(args.seed).shuffle(records)
        texts.extend(records[: args.max_files])
    if not texts:
        print("no validation files: run `reason-lsp build-corpus` first", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    maxima, lines = line_maxima(decoder, texts, args.margin)
    result = {
        "warning": round(threshold_for(maxima, args.per_lines), 3),
        "information": round(threshold_for(maxima, args.per_lines / 3), 3),
        "margin": args.margin,
        "per_lines": args.per_lines,
        "lines": lines,
        "files": len(texts),
        "seconds": round(time.perf_counter() - t0, 1),
        "command": "python -m reason_lsp.training.calibrate " + " ".join(argv or sys.argv[1:]),
    }
    print(json.dumps(result, indent=2))
    if not args.dry_run:
        (args.model / unlikely.CALIBRATION).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
