"""``reason-lsp complete FILE --line L --col C``: the completion pipeline once, from a shell.

It runs exactly what the server runs for an inline completion (tree-sitter plan,
the engine's decoder with cache, healing and stop rules, then cleaning), plus the
member candidates after ``name.``. Line and column are 1-based; the column counts
characters (code points). JSON output: ``{"items": [{"text", "range", "kind"}]}``
with LSP-style 0-based ranges in UTF-16, like the server's.
"""

from __future__ import annotations

import argparse
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
    import tree_sitter

    from reason_lsp import completion, languages
    from reason_lsp.cli import read_position
    from reason_lsp.positions import TextIndex

    found = read_position("complete", args.file, args.line, args.col)
    if found is None:
        return 2
    text, offset = found
    grammar = languages.resolve(path=str(args.file))
    parser = tree_sitter.Parser(grammar[1]) if grammar else None
    tree = parser.parse(text.encode("utf-8")) if parser else None
    plan = completion.plan(text, offset, tree, context_tokens=args.context_tokens, explicit=True)
    items: list[dict[str, object]] = []
    if plan is not None:
        items = _ask_model(args, plan, text, offset, tree, parser)
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


def _ask_model(args, plan, text, offset, tree, parser) -> list[dict[str, object]]:
    from reason_lsp import completion
    from reason_lsp.engine import EngineConfig, loader
    from reason_lsp.engine.decoder import Decoder

    config = EngineConfig(model=args.model, device=args.device, context_tokens=args.context_tokens)
    try:
        decoder = Decoder(loader.load(config), args.context_tokens)
    except (OSError, RuntimeError) as exc:
        print(f"reason-lsp complete: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    items: list[dict[str, object]] = []
    if plan.after_dot:
        request = completion.members_request(plan)
        for name, _ in decoder.identifiers(request, "", k=5):
            if name.startswith(plan.word):
                items.append({"text": name, "kind": "member", "replace": len(plan.word)})
    request = completion.generate_request(
        plan,
        args.max_new_tokens,
        samples=max(1, args.samples),
        temperature=0.8 if args.samples > 1 else 0.0,
        seed=0,
    )
    seen: set[str] = set()
    for sample in decoder.generate(request).samples:
        cleaned = completion.clean(plan, sample.text, text, offset, tree, parser)
        if cleaned is not None and cleaned not in seen:
            seen.add(cleaned)
            items.append({"text": cleaned, "kind": plan.mode, "replace": 0})
    return items
