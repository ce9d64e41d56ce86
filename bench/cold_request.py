"""The first completion after opening a file: how long a cold request takes through the
real server, with the prompt's size and the server's own prefill and decode figures.

    .venv/bin/python bench/cold_request.py [--model embedded|tiny|FOLDER] [--files 5]
        [--tokens 1000]

Each of ``--files`` held-out third-party files (``data/corpus/valid_thirdparty.jsonl``)
is cut to about ``--tokens`` tokens at a line end, opened, and an invoked inline
completion is asked at its end: nothing of it is in the KV cache yet. Prints the
client-side latency of each (median and worst), the prompt tokens and the server's
``reasonLsp/stats`` (model call ms, decode ms/token), and the server's RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from lsp_bench import ROOT, BenchServer, proc_status

#: Characters per token of Python for these tokenizers (a cut, not a count).
CHARS_PER_TOKEN = 3.6


def files(n: int, tokens: int) -> list[str]:
    path = ROOT / "data" / "corpus" / "valid_thirdparty.jsonl"
    want = int(tokens * CHARS_PER_TOKEN)
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            if len(text) < want * 1.2:
                continue
            cut = text.rfind("\n", 0, want)
            body = text[:cut]
            if body.rstrip().endswith(":"):  # a block opener: a block, not one line
                continue
            out.append(body + "\n")
            if len(out) == n:
                break
    return out


async def run(args: argparse.Namespace) -> dict:
    rows = []
    async with BenchServer({"model": args.model, "diagnostics": {"model": False}}) as server:
        for k, text in enumerate(files(args.files, args.tokens)):
            uri = f"file:///tmp/cold_request/file_{k}.py"
            server.open(uri, text)
            t0 = time.perf_counter()
            shown = await server.inline(uri, text, len(text), invoked=True)
            ms = (time.perf_counter() - t0) * 1000
            stats = await server.stats()
            rows.append({
                "ms": ms, "shown": shown, "prompt_tokens": stats["lastPromptTokens"],
                "cached_tokens": stats["lastCachedTokens"], "server_ms": stats["lastMs"],
                "ms_per_token": stats["lastMsPerToken"],
                "decoded": stats["lastDecodedTokens"],
            })  # fmt: skip
            server.close(uri)
        rss = proc_status(server.pid)
    return {
        "model": args.model,
        "requests": rows,
        "median_ms": statistics.median(r["ms"] for r in rows),
        "max_ms": max(r["ms"] for r in rows),
        "rss_mb": rss.get("VmRSS", 0) / 1024,
        "peak_rss_mb": rss.get("VmHWM", 0) / 1024,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--files", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report = asyncio.run(run(args))
    for r in report["requests"]:
        print(
            f"  {r['ms']:6.0f} ms  prompt {r['prompt_tokens']} tokens ({r['cached_tokens']} "
            f"cached), {r['decoded']} decoded at {r['ms_per_token']:.1f} ms/token: "
            f"{r['shown'][:50]!r}"
        )
    print(
        f"{args.model}: cold request median {report['median_ms']:.0f} ms, worst "
        f"{report['max_ms']:.0f} ms; RSS {report['rss_mb']:.0f} MB (peak "
        f"{report['peak_rss_mb']:.0f} MB)"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
