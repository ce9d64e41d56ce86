"""Benchmark: inline completions a user can accept, through the real server. Prints numbers.

Not a timed test. ``.venv/bin/python bench/completion.py [--model M] [--sessions N]
[--chars N] [--blanks N] [--naive N] [--json]``; held-out third-party code comes from
``data/corpus/valid_thirdparty.jsonl`` (``reason-lsp build-corpus``); the confidence
gate is calibrated on the other held-out split (``bench/calibrate_completion.py``).

Two conditions in the same run, each a fresh server on the same positions:
``ungated`` (``completion.minConfidence`` 0: the judge and block bodies on, every
suggestion shown) and ``gated`` (the model's calibrated confidence threshold).

1. Typing sessions (:mod:`typing_sessions`): each keystroke is a ``didChange`` and an
   automatic ``textDocument/inlineCompletion``, timed by the client; ``reasonLsp/stats``
   says what the server did (a model call, a typed-ahead hit, nothing).
   * acceptance precision: of the distinct suggestions the model made (typed-ahead
     continuations of one are not counted again), the share whose first line the user
     then typed (all of it, or its first 10 characters or more);
   * coverage: the share of keystrokes that showed a suggestion;
   * characters saved per 100 typed, counting only accepted suggestions and each typed
     character once.
2. Blanked lines: the rest of one line removed after its indentation, an invoked
   completion there; answered, first line exact, and compile-safety: of the shown
   completions, the share that leave a file CPython still compiles.
3. Naive baseline (``--naive``, ungated condition): ``model.generate()`` on the same
   prompts without a kept cache (:mod:`naive`).

Goals: compile-safety >= 99%; gated precision >= 35% with coverage >= 25%; single-line
latency p50 <= 50 ms, p95 <= 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lsp_bench import BenchServer, proc_status
from typing_sessions import (
    Blank,
    Session,
    compiles,
    first_line_accepted,
    load_blanks,
    load_sessions,
    python_parser,
)

from reason_lsp.features.completion import plan as completion

GOALS = {"p50_ms": 50.0, "p95_ms": 150.0, "precision": 0.35, "coverage": 0.25, "safe": 0.99}


@dataclass
class Request:
    kind: str  # "model" | "hit" | "none"
    mode: str  # "line" | "block" | "-"
    client_ms: float
    server_ms: float = 0.0
    ms_per_token: float = 0.0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    decoded_tokens: int = 0
    shown: str = ""
    accepted: bool = False
    matched: int = 0  # characters of the suggestion the user then typed
    features: list[float] = field(default_factory=list)
    session: int = 0
    offset: int = 0


@dataclass
class BlankResult:
    shown: str
    exact: bool
    safe: bool
    client_ms: float


@dataclass
class Run:
    condition: str
    requests: list[Request] = field(default_factory=list)
    blanks: list[BlankResult] = field(default_factory=list)
    rss_ready_mb: float = 0.0
    rss_peak_mb: float = 0.0
    load_s: float = 0.0
    model: str = ""


def describe(before, after, client_ms: float, shown: str, session: Session, n: int, text: str):
    following = session.text[len(text) :]
    matched = 0
    while matched < min(len(shown), len(following)) and shown[matched] == following[matched]:
        matched += 1
    kind = (
        "model"
        if after["modelCalls"] > before["modelCalls"]
        else "hit"
        if after["typeAheadHits"] > before["typeAheadHits"]
        else "none"
    )
    req = Request(kind, "-", client_ms, shown=shown, session=n, offset=len(text), matched=matched)
    req.accepted = bool(shown) and first_line_accepted(shown, following)
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
        req.features = list(after["lastFeatures"] or [])
    return req


async def run_condition(
    name: str, settings: dict, sessions: list[Session], blanks: list[Blank], quiet: bool
) -> Run:
    run = Run(name)
    async with BenchServer(settings) as srv:
        run.load_s, run.model = srv.load_s, srv.status.model
        run.rss_ready_mb = proc_status(srv.pid).get("VmRSS", 0) / 1024
        before = await srv.stats()
        for n, session in enumerate(sessions):
            uri = f"file:///bench/{name}/s{n}/{Path(session.path.split(':', 1)[1]).name}"
            text = session.text[: session.start]
            srv.open(uri, text)
            for version, key in enumerate(session.keystrokes, start=2):
                t0 = time.perf_counter()
                srv.insert(uri, version, text, key)
                text += key
                shown = await srv.inline(uri, text, len(text))
                client_ms = (time.perf_counter() - t0) * 1000
                after = await srv.stats()
                run.requests.append(describe(before, after, client_ms, shown, session, n, text))
                before = after
            srv.close(uri)
            if not quiet:
                print(f"  {name}: session {n + 1}/{len(sessions)}", file=sys.stderr)
        for n, blank in enumerate(blanks):
            uri = f"file:///bench/{name}/blank{n}/{Path(blank.path).name}"
            srv.open(uri, blank.text)
            t0 = time.perf_counter()
            shown = await srv.inline(uri, blank.text, blank.offset, invoked=True)
            ms = (time.perf_counter() - t0) * 1000
            filled = blank.text[: blank.offset] + shown + blank.text[blank.offset :]
            exact = bool(shown) and shown.split("\n", 1)[0].rstrip() == blank.truth.rstrip()
            run.blanks.append(BlankResult(shown, exact, not shown or compiles(filled), ms))
            srv.close(uri)
        run.rss_peak_mb = proc_status(srv.pid).get("VmHWM", 0) / 1024
    return run


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def latency(reqs: list[Request]) -> dict[str, float]:
    ms = [r.client_ms for r in reqs]
    return {"n": len(reqs), "p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95)}


def chars_saved(run: Run, sessions: list[Session]) -> float:
    """Characters an accepting user would not have typed, per 100 typed."""
    saved, typed = 0, sum(len("".join(s.keystrokes)) for s in sessions)
    reach: dict[int, int] = {}
    for r in run.requests:
        if not r.accepted:
            continue
        end = r.offset + r.matched
        start = max(reach.get(r.session, 0), r.offset)
        saved += max(0, end - start)
        reach[r.session] = max(reach.get(r.session, 0), end)
    return 100.0 * saved / typed if typed else 0.0


def summarize(run: Run, sessions: list[Session]) -> dict:
    reqs = run.requests
    suggestions = [r for r in reqs if r.kind == "model" and r.shown]
    accepted = [r for r in suggestions if r.accepted]
    shown_blanks = [b for b in run.blanks if b.shown]
    line = [r for r in reqs if r.mode == "line"]
    return {
        "condition": run.condition,
        "model": run.model,
        "keystrokes": len(reqs),
        "precision": len(accepted) / len(suggestions) if suggestions else 0.0,
        "suggestions": len(suggestions),
        "accepted": len(accepted),
        "coverage": sum(1 for r in reqs if r.shown) / len(reqs) if reqs else 0.0,
        "chars_saved_per_100": chars_saved(run, sessions),
        "latency": {
            "single_line": latency(line),
            "single_line_model": latency([r for r in line if r.kind == "model"]),
            "block_model": latency([r for r in reqs if r.kind == "model" and r.mode == "block"]),
            "hits": latency([r for r in reqs if r.kind == "hit"]),
        },
        "blanks": {
            "n": len(run.blanks),
            "answered": len(shown_blanks),
            "exact": sum(b.exact for b in run.blanks),
            "compile_safe": (
                sum(b.safe for b in shown_blanks) / len(shown_blanks) if shown_blanks else 1.0
            ),
            "p50_ms": pct([b.client_ms for b in run.blanks], 0.5),
        },
        "decode_ms_per_token_p50": pct(
            [r.ms_per_token for r in reqs if r.kind == "model" and r.decoded_tokens], 0.5
        ),
        "mean_decoded_tokens": statistics.fmean(
            [r.decoded_tokens for r in reqs if r.kind == "model"] or [0]
        ),
        "rss_mb": {"ready": run.rss_ready_mb, "peak": run.rss_peak_mb},
    }


def mark(ok: bool) -> str:
    return "ok  " if ok else "MISS"


def print_report(summaries: list[dict], naive: dict | None) -> None:
    g = GOALS
    print(f"\nmodel {summaries[0]['model']}; {summaries[0]['keystrokes']} keystrokes a condition")
    head = f"{'':34}" + "".join(f"{s['condition']:>14}" for s in summaries)
    print(head)

    def row(name: str, fmt, key) -> None:
        print(f"{name:34}" + "".join(f"{fmt(key(s)):>14}" for s in summaries))

    row("acceptance precision", lambda v: f"{v:.1%}", lambda s: s["precision"])
    row("  accepted / suggestions", str, lambda s: f"{s['accepted']}/{s['suggestions']}")
    row("coverage (keystrokes shown)", lambda v: f"{v:.1%}", lambda s: s["coverage"])
    row("chars saved per 100 typed", lambda v: f"{v:.1f}", lambda s: s["chars_saved_per_100"])
    row("blanked: answered/n, exact", str,
        lambda s: "{answered}/{n}, {exact}".format(**s["blanks"]))  # fmt: skip
    row("blanked: compile-safe (shown)", lambda v: f"{v:.1%}",
        lambda s: s["blanks"]["compile_safe"])  # fmt: skip
    for key, name in (("single_line", "single-line p50 / p95 ms"),
                      ("single_line_model", "  model calls p50 / p95 ms"),
                      ("block_model", "block model calls p50 / p95 ms"),
                      ("hits", "typed-ahead hits p50 / p95 ms")):  # fmt: skip
        row(name, str, lambda s, k=key: f"{s['latency'][k]['p50_ms']:.1f}/"
            f"{s['latency'][k]['p95_ms']:.1f}")  # fmt: skip
    row("decode ms/token p50", lambda v: f"{v:.2f}", lambda s: s["decode_ms_per_token_p50"])
    row("server RSS peak MB", lambda v: f"{v:.0f}", lambda s: s["rss_mb"]["peak"])
    gated = summaries[-1]
    lat = gated["latency"]["single_line"]
    print()
    print(f"[{mark(gated['blanks']['compile_safe'] >= g['safe'])}] compile-safety "
          f"{gated['blanks']['compile_safe']:.1%} (goal >= {g['safe']:.0%})")  # fmt: skip
    print(f"[{mark(gated['precision'] >= g['precision'] and gated['coverage'] >= g['coverage'])}]"
          f" precision {gated['precision']:.1%} with coverage {gated['coverage']:.1%} "
          f"(goal >= {g['precision']:.0%} with >= {g['coverage']:.0%})")  # fmt: skip
    print(f"[{mark(lat['p50_ms'] <= g['p50_ms'] and lat['p95_ms'] <= g['p95_ms'])}] single-line "
          f"p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms "
          f"(goals <= {g['p50_ms']:.0f} / {g['p95_ms']:.0f})")  # fmt: skip
    if naive:
        print(f"naive generate() on {naive['n']} model calls: {naive['speedup_p50']:.1f}x slower "
              f"than the server (median; naive p50 {naive['naive_p50_ms']:.1f} ms)")  # fmt: skip


def naive_summary(args, sessions: list[Session], run: Run) -> dict | None:
    calls = [r for r in run.requests if r.kind == "model" and r.decoded_tokens > 0]
    sample = random.Random(args.seed).sample(calls, min(args.naive, len(calls)))
    if not sample:
        return None
    from naive import naive_baseline

    timed = naive_baseline(args, sessions, sample)
    ratios = [naive / r.server_ms for r, naive in timed if r.server_ms > 0]
    return {"n": len(timed), "naive_p50_ms": pct([n for _, n in timed], 0.5),
            "speedup_p50": pct(ratios, 0.5)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="embedded", help="embedded, a model folder or a hub id")
    ap.add_argument("--sessions", type=int, default=20, help="typing sessions (files)")
    ap.add_argument("--chars", type=int, default=60, help="characters typed per session")
    ap.add_argument("--blanks", type=int, default=60, help="blanked lines (invoked completions)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--naive", type=int, default=0, help="model calls timed with generate()")
    ap.add_argument("--only", choices=("ungated", "gated"), help="run one condition")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = ap.parse_args()
    args.context_tokens, args.max_new_tokens = 1024, 64  # the server's defaults
    if args.model != "embedded" and Path(args.model).exists():
        args.model = str(Path(args.model).resolve())
    # Third-party code only: the confidence gate is calibrated on the stdlib split.
    sessions = load_sessions(args.sessions, args.chars, args.seed, ("valid_thirdparty.jsonl",))
    blanks = load_blanks(args.blanks, args.seed)
    base = {} if args.model == "embedded" else {"model": args.model}
    conditions = {"ungated": 0.0, "gated": -1.0}
    runs = []
    for name, threshold in conditions.items():
        if args.only and name != args.only:
            continue
        settings = {**base, "completion": {"minConfidence": threshold}}
        runs.append(asyncio.run(run_condition(name, settings, sessions, blanks, args.json)))
    summaries = [summarize(r, sessions) for r in runs]
    naive = naive_summary(args, sessions, runs[0]) if args.naive else None
    if args.json:
        print(json.dumps({"conditions": summaries, "naive": naive}, indent=2))
    else:
        print_report(summaries, naive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
