"""``reason-lsp complete FILE --line L --col C``: the completion pipeline once, from a shell.

It runs exactly what the server runs for an inline completion, the same
``pipeline.complete`` on the same in-process engine (tree-sitter plan, the decoder
with cache, healing and stop rules, then cleaning), plus the member candidates
after ``name.``. Line and column are 1-based; the column counts
characters (code points). JSON output: ``{"items": [{"text", "range", "kind"}]}``
with LSP-style 0-based ranges in UTF-16, like the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path)
    parser.add_argument("--line", type=int, required=True, help="1-based line")
    parser.add_argument("--col", type=int, required=True, help="1-based column, in characters")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--model", default="embedded", help='"embedded", a folder or a hub id')
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--context-tokens", type=int, default=1024)
    parser.add_argument("--samples", type=int, default=1, help="more than 1 samples at T=0.8")


def run(args: argparse.Namespace) -> int:
    from reason_lsp.cli.common import read_position
    from reason_lsp.text.diagnostics import snapshot_for_text
    from reason_lsp.text.positions import TextIndex

    found = read_position("complete", args.file, args.line, args.col)
    if found is None:
        return 2
    text, offset = found
    snapshot = snapshot_for_text(args.file.resolve().as_uri(), text)
    items = _ask_model(args, snapshot, offset)
    index = TextIndex(text)
    for item in items:
        start = index.position_at(offset - int(item.pop("replace")))
        end = index.position_at(offset)
        item["range"] = {
            "start": {"line": start.line, "character": start.character},
            "end": {"line": end.line, "character": end.character},
        }
    if args.format == "json":
        print(json.dumps({"items": items}, indent=2, ensure_ascii=False))
    elif not items:
        print("(no completion)")
    else:
        for item in items:
            print(f"[{item['kind']}] {item['text']}")
    return 0


def _ask_model(args, snapshot, offset: int) -> list[dict[str, object]]:
    """The server's own pipeline (:mod:`reason_lsp.features.completion.pipeline`) on an
    in-process engine."""
    from reason_lsp.engine import EngineConfig, Unsupported, create_engine
    from reason_lsp.features.completion import pipeline, plan

    config = EngineConfig(model=args.model, device=args.device, context_tokens=args.context_tokens)
    engine = create_engine(config)
    engine.start()
    engine.ready.wait()
    try:
        if engine.state != "ready":
            print(f"reason-lsp complete: {engine.error}", file=sys.stderr)
            raise SystemExit(2)

        async def ask() -> list[dict[str, object]]:
            items: list[dict[str, object]] = []
            try:
                names = await pipeline.members(
                    engine, snapshot, offset, context_tokens=args.context_tokens
                )
            except Unsupported:
                names = []
            line_start = snapshot.text.rfind("\n", 0, offset) + 1
            word = plan.word_before(snapshot.text[line_start:offset])
            items += [{"text": n, "kind": "member", "replace": len(word)} for n, _ in names]
            done = await pipeline.complete(
                engine, snapshot, offset, explicit=True, context_tokens=args.context_tokens,
                max_new_tokens=args.max_new_tokens, samples=max(1, args.samples),
                temperature=0.8 if args.samples > 1 else 0.0, seed=0,
            )  # fmt: skip
            if done is not None:
                items += [{"text": t, "kind": done.plan.mode, "replace": 0} for t in done.texts]
            return items

        return asyncio.run(ask())
    finally:
        engine.close()
