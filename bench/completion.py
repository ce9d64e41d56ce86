"""Benchmark: inline completions while typing, through the real server. Prints numbers.

Not a timed test. Run with ``make bench`` or
``.venv/bin/python bench/completion.py [--model M] [--sessions N] [--chars N] [--json]``.

1. Typing sessions on held-out code (``data/corpus/valid_*.jsonl``; build it with
   ``reason-lsp build-corpus``): a file is opened cut at the start of a random line
   inside a function body (after its indentation, as an editor's auto-indent leaves
   it), and the next characters of the file are typed one by one. Each keystroke is a
   ``didChange`` followed by ``textDocument/inlineCompletion`` (trigger Automatic),
   like an editor without debouncing; a newline and the next line's indentation are
   one keystroke. The client (pygls ``LanguageClient`` over stdio, the server a
   subprocess) times each request from the ``didChange`` to the answer, and asks
   ``reasonLsp/stats`` after it to learn what the server did: a model call, a
   typed-ahead hit (the rest of the previous suggestion, no model), or nothing.
2. Naive baseline, in this process after the server has exited: the same model
   loaded with ``AutoModelForCausalLM`` (the engine's loader), the same prompt ids
   (``completion.plan`` + ``Decoder.build_prompt``, as the server built them) and
   ``model.generate(do_sample=False)`` of the same number of new tokens, without any
   cache kept between requests, for a sample of the model calls.

Goals (2 CPU cores, default model): single-line inline completions p50 <= 50 ms and
p95 <= 150 ms; >= 5x faster than naive; a typed-ahead hit <= 2 ms of server time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter
from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reason_lsp.features.completion import plan as completion  # noqa: E402
from reason_lsp.features.completion.plan import LINE_TOKENS  # noqa: E402
from reason_lsp.text import languages  # noqa: E402

CORPUS = ROOT / "data" / "corpus"
CORPUS_FILES = ("valid_thirdparty.jsonl", "valid_stdlib.jsonl")
STATUS_METHOD = "reasonLsp/status"
STATS_METHOD = "reasonLsp/stats"
GOALS = {"p50_ms": 50.0, "p95_ms": 150.0, "speedup": 5.0, "hit_server_ms": 2.0}


# ---- sessions ----------------------------------------------------------------------------


@dataclass
class Session:
    path: str
    text: str  # the whole original file
    start: int  # offset where typing starts (after the indentation of a body line)
    keystrokes: list[str]  # what is typed, one change each


def python_parser() -> tree_sitter.Parser:
    language = languages.load("python")
    if language is None:
        sys.exit("the tree-sitter Python grammar is not installed")
    return tree_sitter.Parser(language)


def body_lines(text: str, parser: tree_sitter.Parser) -> list[int]:
    """Rows that start a statement inside a function body (docstrings left out)."""
    data = text.encode("utf-8")
    tree = parser.parse(data)
    rows: set[int] = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            body = node.child_by_field_name("body")
            if body is not None:
                for stmt in _statements(body):
                    if (
                        stmt.type == "expression_statement"
                        and stmt.named_children
                        and (stmt.named_children[0].type == "string")
                    ):
                        continue
                    rows.add(stmt.start_point.row)
        stack.extend(node.children)
    lines = text.split("\n")
    return sorted(
        r for r in rows if r > 0 and len(lines[r].strip()) >= 4 and lines[r].strip()[0] != "#"
    )


def _statements(block: tree_sitter.Node):
    for child in block.named_children:
        if child.type == "comment":
            continue
        yield child
        if child.type.endswith(("statement", "clause")) or child.type == "block":
            for sub in child.named_children:
                if sub.type in ("block", "else_clause", "elif_clause", "except_clause"):
                    yield from _statements(sub)


def keystrokes(text: str, start: int, chars: int) -> list[str]:
    """The next ``chars`` characters from ``start``; a newline carries the next indentation."""
    out: list[str] = []
    i, typed = start, 0
    while i < len(text) and typed < chars:
        ch = text[i]
        if ch == "\n":
            j = i + 1
            while j < len(text) and text[j] in " \t":
                j += 1
            out.append(text[i:j])
            i = j
        else:
            out.append(ch)
            i += 1
        typed += 1
    return out


def load_sessions(count: int, chars: int, seed: int) -> list[Session]:
    files = [CORPUS / name for name in CORPUS_FILES if (CORPUS / name).is_file()]
    if not files:
        sys.exit(
            f"no held-out code: {CORPUS}/valid_*.jsonl is missing. Build the corpus with "
            "`reason-lsp build-corpus` (see README), then run this again."
        )
    records = []
    for path in files:
        with path.open(encoding="utf-8") as f:
            records.extend(json.loads(line) for line in f if line.strip())
    records = [r for r in records if r["path"].endswith(".py") and 200 < len(r["text"]) < 200_000]
    rng = random.Random(seed)
    parser = python_parser()
    sessions: list[Session] = []
    for record in rng.sample(records, len(records)):
        if len(sessions) >= count:
            break
        text = record["text"]
        rows = body_lines(text, parser)
        if not rows:
            continue
        row = rng.choice(rows)
        line_start = sum(len(line) + 1 for line in text.split("\n")[:row])
        line = text.split("\n")[row]
        start = line_start + len(line) - len(line.lstrip(" \t"))
        sessions.append(
            Session(
                f"{record['package']}:{record['path']}", text, start, keystrokes(text, start, chars)
            )
        )
    return sessions


# ---- the LSP side -----------------------------------------------------------------------


@dataclass
class Request:
    kind: str  # "model" | "hit" | "none"
    mode: str  # "line" | "block" | "-" (no completion planned)
    client_ms: float
    server_ms: float = 0.0
    ms_per_token: float = 0.0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    decoded_tokens: int = 0
    shown: str = ""
    matches: bool = False
    # for the naive baseline
    session: int = 0
    offset: int = 0


@dataclass
class Run:
    requests: list[Request] = field(default_factory=list)
    rss_ready_kb: int = 0
    rss_end_kb: int = 0
    hwm_kb: int = 0
    load_s: float = 0.0
    model: str = ""
    device: str = ""
    stderr_tail: list[str] = field(default_factory=list)


def utf16_position(text: str, offset: int) -> types.Position:
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return types.Position(line, len(text[start:offset].encode("utf-16-le")) // 2)


def proc_status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


async def get_stats(client: LanguageClient) -> collections.defaultdict:
    """The server's completion counters; zero values are not sent."""
    result = await client.protocol.send_request_async(STATS_METHOD, None)
    return collections.defaultdict(int, result._asdict() if result is not None else {})


async def drain(stream: asyncio.StreamReader, tail: collections.deque) -> None:
    """Read the server's stderr (an unread pipe would block its logging once full)."""
    while line := await stream.readline():
        tail.append(line.decode("utf-8", "replace").rstrip())


async def run_sessions(args: argparse.Namespace, sessions: list[Session]) -> Run:
    run = Run()
    client = LanguageClient("reason-lsp-bench", "0")
    ready: asyncio.Future = asyncio.get_running_loop().create_future()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(ls: LanguageClient, params: object) -> None:
        pass  # the server's syntax diagnostics while typing; not measured here

    @client.feature(STATUS_METHOD)
    def on_status(ls: LanguageClient, params: object) -> None:
        if getattr(params, "state", None) in ("ready", "error") and not ready.done():
            ready.set_result(params)

    t_start = time.perf_counter()
    await client.start_io(sys.executable, "-m", "reason_lsp", "--stdio", cwd=str(ROOT))
    server = client._server
    tail: collections.deque = collections.deque(maxlen=40)
    drainer = asyncio.ensure_future(drain(server.stderr, tail))
    settings: dict[str, object] = {} if args.model == "embedded" else {"model": args.model}
    caps = types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf16]
        )
    )
    await client.initialize_async(
        types.InitializeParams(
            capabilities=caps, process_id=None, initialization_options={"reasonLsp": settings}
        )
    )
    client.initialized(types.InitializedParams())
    try:
        status = await asyncio.wait_for(ready, 600)
    except TimeoutError:
        sys.exit("the model did not load in 10 minutes:\n" + "\n".join(tail))
    if status.state != "ready":
        sys.exit(f"the model failed to load: {status.message}\n" + "\n".join(tail))
    run.load_s = time.perf_counter() - t_start
    run.model, run.device = status.model or args.model, status.message or status.device
    run.rss_ready_kb = proc_status(server.pid).get("VmRSS", 0)

    before = await get_stats(client)
    for n, session in enumerate(sessions):
        uri = f"file:///bench/s{n}/{Path(session.path.split(':', 1)[1]).name}"
        text = session.text[: session.start]
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )
        for version, key in enumerate(session.keystrokes, start=2):
            end = utf16_position(text, len(text))
            t0 = time.perf_counter()
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(version=version, uri=uri),
                    [types.TextDocumentContentChangePartial(range=types.Range(end, end), text=key)],
                )
            )
            text += key
            result = await client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri),
                    position=utf16_position(text, len(text)),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic
                    ),
                )
            )
            client_ms = (time.perf_counter() - t0) * 1000
            after = await get_stats(client)
            run.requests.append(describe(before, after, client_ms, result, session, n, text))
            before = after
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
        )
        if not args.json:
            print(f"  session {n + 1}/{len(sessions)} {session.path}", file=sys.stderr)
    status_now = proc_status(server.pid)
    run.rss_end_kb, run.hwm_kb = status_now.get("VmRSS", 0), status_now.get("VmHWM", 0)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    drainer.cancel()
    run.stderr_tail = list(tail)
    return run


def describe(before, after, client_ms, result, session: Session, n: int, text: str) -> Request:
    shown = result.items[0].insert_text if result is not None and result.items else ""
    if isinstance(shown, types.StringValue):
        shown = shown.value
    matches = bool(shown) and session.text.startswith(shown, len(text))
    kind = (
        "model"
        if after["modelCalls"] > before["modelCalls"]
        else "hit"
        if after["typeAheadHits"] > before["typeAheadHits"]
        else "none"
    )
    req = Request(kind, "-", client_ms, shown=shown, matches=matches, session=n, offset=len(text))
    if kind == "none":
        return req
    p = completion.plan(text, len(text), python_parser().parse(text.encode("utf-8")))
    req.mode = p.mode if p is not None else "line"
    req.server_ms = after["lastMs"]
    if kind == "model":
        req.ms_per_token = after["lastMsPerToken"]
        req.prompt_tokens = after["lastPromptTokens"]
        req.cached_tokens = after["lastCachedTokens"]
        req.decoded_tokens = after["lastDecodedTokens"]
    return req


# ---- naive baseline ---------------------------------------------------------------------


def naive_baseline(
    args: argparse.Namespace, sessions: list[Session], calls: list[Request]
) -> list[tuple[Request, float]]:
    """``model.generate()`` on the same prompts, no cache kept between requests."""
    import torch
    from transformers.utils import logging as hf_logging

    from reason_lsp.engine import GenerateRequest, open_decoder

    hf_logging.disable_progress_bar()
    torch.set_grad_enabled(False)
    decoder = open_decoder(args.model, context_tokens=args.context_tokens)
    loaded, model = decoder.m, decoder.model
    parser = python_parser()
    pad = loaded.tokenizer.pad_token_id
    pad = pad if pad is not None else loaded.tokenizer.eos_token_id

    def generate(ids: list[int], n: int) -> float:
        x = torch.tensor([ids], device=loaded.device)
        t0 = time.perf_counter()
        model.generate(
            input_ids=x,
            attention_mask=torch.ones_like(x),
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            pad_token_id=pad,
        )
        return (time.perf_counter() - t0) * 1000

    timed: list[tuple[Request, float]] = []
    for i, req in enumerate(calls):
        text = sessions[req.session].text[: req.offset]
        p = completion.plan(
            text, req.offset, parser.parse(text.encode("utf-8")), context_tokens=args.context_tokens
        )
        if p is None:
            continue
        budget = args.max_new_tokens if p.mode == "block" else min(LINE_TOKENS, args.max_new_tokens)
        prompt = decoder.build_prompt(
            GenerateRequest(prefix=p.prefix, suffix=p.suffix, header=p.header), budget
        )
        if i == 0:
            generate(prompt.ids, req.decoded_tokens)  # warm-up, not counted
        timed.append((req, generate(prompt.ids, req.decoded_tokens)))
    return timed


# ---- report -----------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def latency(reqs: list[Request], server: bool = False) -> dict[str, float]:
    client = [r.client_ms for r in reqs]
    out = {"n": len(reqs), "p50_ms": pct(client, 0.5), "p95_ms": pct(client, 0.95)}
    if server:
        ms = [r.server_ms for r in reqs]
        out |= {"server_p50_ms": pct(ms, 0.5), "server_p95_ms": pct(ms, 0.95)}
    return out


def summarize(run: Run, timed: list[tuple[Request, float]], args, sessions) -> dict:
    reqs = run.requests
    model = [r for r in reqs if r.kind == "model"]
    hits = [r for r in reqs if r.kind == "hit"]
    line = [r for r in reqs if r.mode == "line"]
    shown_model = [r for r in model if r.shown]
    served = [r for r in reqs if r.kind != "none"]
    served_ms = sum(r.server_ms for r in served)
    prompt = sum(r.prompt_tokens for r in model)
    cached = sum(r.cached_tokens for r in model)
    ratios = [naive / r.server_ms for r, naive in timed if r.server_ms > 0]
    wall_ratios = [naive / r.client_ms for r, naive in timed if r.client_ms > 0]
    return {
        "model": run.model,
        "device": run.device,
        "sessions": len(sessions),
        "keystrokes": len(reqs),
        "seed": args.seed,
        "load_s": run.load_s,
        "latency": {
            "all": latency(reqs),
            "line_all": latency(line, server=True),
            "line_model": latency([r for r in model if r.mode == "line"], server=True),
            "block_model": latency([r for r in model if r.mode == "block"], server=True),
            "hit": latency(hits, server=True),
            "none": latency([r for r in reqs if r.kind == "none"]),
        },
        "type_ahead_hit_rate": len(hits) / len(reqs) if reqs else 0.0,
        "model_call_rate": len(model) / len(reqs) if reqs else 0.0,
        "shown_rate": sum(1 for r in reqs if r.shown) / len(reqs) if reqs else 0.0,
        "acceptance": {
            "model_suggestions": len(shown_model),
            "matching": sum(1 for r in shown_model if r.matches),
            "rate": (
                sum(1 for r in shown_model if r.matches) / len(shown_model) if shown_model else 0.0
            ),
            "keystrokes_showing_a_match": sum(1 for r in reqs if r.matches),
        },
        "kv_cache": {
            "prompt_tokens": prompt,
            "cached_tokens": cached,
            "reuse": cached / prompt if prompt else 0.0,
            "median_reuse": pct(
                [r.cached_tokens / r.prompt_tokens for r in model if r.prompt_tokens], 0.5
            ),
        },
        "decode_ms_per_token": {
            "p50": pct([r.ms_per_token for r in model if r.decoded_tokens], 0.5),
            "p95": pct([r.ms_per_token for r in model if r.decoded_tokens], 0.95),
            "mean_decoded_tokens": statistics.fmean([r.decoded_tokens for r in model])
            if model
            else 0,
        },
        "rss_mb": {
            "ready": run.rss_ready_kb / 1024,
            "end": run.rss_end_kb / 1024,
            "peak": run.hwm_kb / 1024,
        },
        "naive": {
            "n": len(timed),
            "naive_p50_ms": pct([n for _, n in timed], 0.5),
            "server_p50_ms": pct([r.server_ms for r, _ in timed], 0.5),
            "speedup_p50": pct(ratios, 0.5),
            "speedup_total": (
                sum(n for _, n in timed) / sum(r.server_ms for r, _ in timed) if timed else 0.0
            ),
            "speedup_vs_client_p50": pct(wall_ratios, 0.5),
            # Naive has no typed-ahead cache: every keystroke with a completion would
            # cost a generate(). Estimated from the sample's mean naive time.
            "session_speedup_estimate": (
                statistics.fmean(n for _, n in timed) * len(served) / served_ms
                if timed and served_ms > 0
                else 0.0
            ),
        },
    }


def no_nan(value):
    """NaN (an empty group) as null, so the JSON stays standard."""
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    return None if isinstance(value, float) and value != value else value


def mark(ok: bool) -> str:
    return "ok  " if ok else "MISS"


def print_report(s: dict) -> None:
    lat = s["latency"]
    print(f"\nmodel {s['model']} on {s['device']}; loaded in {s['load_s']:.1f} s")
    print(f"{s['sessions']} sessions, {s['keystrokes']} keystrokes (seed {s['seed']})\n")
    print(
        f"{'latency per request (client wall)':40} {'n':>5} {'p50 ms':>8} {'p95 ms':>8}"
        f" {'server p50':>11} {'server p95':>11}"
    )
    names = {
        "all": "all requests",
        "line_all": "single-line (model + typed-ahead)",
        "line_model": "single-line, model calls",
        "block_model": "block, model calls",
        "hit": "typed-ahead hits",
        "none": "no completion planned",
    }
    for key, name in names.items():
        row = lat[key]
        server = (
            f" {row['server_p50_ms']:11.2f} {row['server_p95_ms']:11.2f}"
            if "server_p50_ms" in row
            else ""
        )
        if not row["n"]:
            print(f"{name:40} {0:5d} {'-':>8} {'-':>8}")
            continue
        print(f"{name:40} {row['n']:5d} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f}{server}")
    g = GOALS
    print()
    for key in ("line_all", "line_model"):
        row = lat[key]
        print(
            f"[{mark(row['p50_ms'] <= g['p50_ms'])}] {names[key]}: p50 {row['p50_ms']:.1f} ms "
            f"(goal <= {g['p50_ms']:.0f})"
        )
        print(
            f"[{mark(row['p95_ms'] <= g['p95_ms'])}] {names[key]}: p95 {row['p95_ms']:.1f} ms "
            f"(goal <= {g['p95_ms']:.0f})"
        )
    hit = lat["hit"]
    print(
        f"[{mark(hit['n'] > 0 and hit['server_p95_ms'] <= g['hit_server_ms'])}] typed-ahead hit "
        f"server time p95 {hit.get('server_p95_ms', float('nan')):.2f} ms "
        f"(goal <= {g['hit_server_ms']:.0f})"
    )
    nv = s["naive"]
    print(
        f"[{mark(nv['speedup_p50'] >= g['speedup'])}] vs naive generate() on {nv['n']} of the "
        f"model calls: {nv['speedup_p50']:.1f}x median, {nv['speedup_total']:.1f}x total "
        f"(naive p50 {nv['naive_p50_ms']:.1f} ms, server p50 {nv['server_p50_ms']:.1f} ms; "
        f"vs client wall {nv['speedup_vs_client_p50']:.1f}x) (goal >= {g['speedup']:.0f}x)"
    )
    print(
        "       whole typing sessions, typed-ahead hits included (estimate: mean naive time "
        f"x keystrokes served / server time): {nv['session_speedup_estimate']:.1f}x"
    )
    print()
    acc = s["acceptance"]
    kv = s["kv_cache"]
    dec = s["decode_ms_per_token"]
    print(
        f"typed-ahead hit rate   {s['type_ahead_hit_rate']:.1%} of keystrokes "
        f"(model calls {s['model_call_rate']:.1%}, ghost text shown {s['shown_rate']:.1%})"
    )
    print(
        f"acceptance             {acc['matching']}/{acc['model_suggestions']} model suggestions "
        f"({acc['rate']:.1%}) were what the user typed next; "
        f"{acc['keystrokes_showing_a_match']} keystrokes showed a matching ghost text"
    )
    print(
        f"KV cache reuse         {kv['reuse']:.1%} of prompt tokens cached "
        f"({kv['cached_tokens']}/{kv['prompt_tokens']}; median {kv['median_reuse']:.1%})"
    )
    print(
        f"decode ms per token    p50 {dec['p50']:.2f}, p95 {dec['p95']:.2f} "
        f"({dec['mean_decoded_tokens']:.1f} tokens per call on average)"
    )
    rss = s["rss_mb"]
    print(
        f"server RSS             {rss['ready']:.0f} MB ready, {rss['end']:.0f} MB at the end, "
        f"{rss['peak']:.0f} MB peak"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--model",
        default="embedded",
        help="embedded (the server's default), a model folder or a hub id",
    )
    ap.add_argument("--sessions", type=int, default=20, help="typing sessions (files)")
    ap.add_argument("--chars", type=int, default=60, help="characters typed per session")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--naive", type=int, default=24, help="model calls timed again with naive generate()"
    )
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = ap.parse_args()
    args.context_tokens, args.max_new_tokens = 1024, 64  # the server's defaults
    if args.model != "embedded" and Path(args.model).exists():
        args.model = str(Path(args.model).resolve())

    sessions = load_sessions(args.sessions, args.chars, args.seed)
    run = asyncio.run(run_sessions(args, sessions))
    calls = [r for r in run.requests if r.kind == "model" and r.decoded_tokens > 0]
    sample = random.Random(args.seed).sample(calls, min(args.naive, len(calls)))
    timed = naive_baseline(args, sessions, sample) if sample else []
    summary = summarize(run, timed, args, sessions)
    if args.json:
        print(json.dumps(no_nan(summary), indent=2))
    else:
        print_report(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
