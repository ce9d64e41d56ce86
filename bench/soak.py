"""Memory under load: the server's resident memory over many inline-completion requests.

    .venv/bin/python bench/soak.py [--model embedded|tiny|FOLDER] [--requests 1000]
        [--rate 20] [--cancel 0.8] [--warmup 50] [--json]

The load is what an editor sends while someone types: ``--requests`` inline-completion
requests at ``--rate`` per second, at random line ends and mid-line points of held-out
third-party files (``data/corpus/valid_thirdparty.jsonl``), with ``--cancel`` of them
cancelled (``$/cancelRequest``) after 0–150 ms, as a client does when the next keystroke
comes. Every 100 requests one document is closed and another opened, so per-document
state comes and goes. The last request is an invoked one that is never cancelled.

Prints the server's RSS when ready, after ``--warmup`` requests deep in each document
(the baseline: the key/value cache slots have their full size, one 1,024-token prompt
each, and the allocator's pools their working size), every 10% of the run, at the
end (both after ``--settle`` quiet seconds, as between bursts of typing), and its
peak (``VmHWM``); the growth over the baseline; requests answered (a result
or an error response) and lost (no answer in 60 s after the run); and whether the last
request was answered with a suggestion.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import time

from lsp_bench import ROOT, BenchServer, proc_status, utf16_position
from lsprotocol import types

INLINE = types.TEXT_DOCUMENT_INLINE_COMPLETION


def held_out(n: int, seed: int) -> list[str]:
    path = ROOT / "data" / "corpus" / "valid_thirdparty.jsonl"
    with path.open(encoding="utf-8") as f:
        texts = [t for t in (json.loads(line)["text"] for line in f) if 6_000 < len(t) < 60_000]
    random.Random(seed).shuffle(texts)
    return texts[:n]


def points(text: str, rng: random.Random, deep: bool = False) -> int:
    """A cursor offset: a line end (half the time) or a point inside a line's code;
    ``deep``: in the last tenth of the file, where the prompt fills the whole budget."""
    lines = [i for i, c in enumerate(text) if c == "\n"]
    if deep:
        lines = lines[len(lines) * 9 // 10 :]
    end = rng.choice(lines[5:]) if len(lines) > 6 else len(text)
    if rng.random() < 0.5:
        return end
    start = text.rfind("\n", 0, end) + 1
    code = start + len(text[start:end]) - len(text[start:end].lstrip())
    return rng.randint(code, end) if code < end else end


def rss_mb(pid: int) -> tuple[float, float]:
    status = proc_status(pid)
    return status.get("VmRSS", 0) / 1024, status.get("VmHWM", 0) / 1024


async def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    pool = held_out(args.documents + args.requests // 100 + 1, args.seed)
    settings = {"model": args.model, "diagnostics": {"model": False}}
    async with BenchServer(settings) as server:
        protocol = server.client.protocol
        pid = server.pid
        ready_rss, _ = rss_mb(pid)
        open_docs: dict[str, str] = {}
        # Fewer held-out files than swaps: a file comes back under a new URI, as new state.
        spare = itertools.cycle(pool)

        def open_next() -> None:
            uri = f"file:///soak/doc{len(open_docs) + rng.randrange(10**9)}.py"
            text = next(spare)
            server.open(uri, text)
            open_docs[uri] = text

        for _ in range(args.documents):
            open_next()
        pending: list[asyncio.Future] = []
        cancels: list[asyncio.Future] = []
        answered = errors = 0
        samples: list[dict] = []
        baseline = ready_rss

        def on_done(fut: asyncio.Future) -> None:
            nonlocal answered, errors
            answered += 1
            if not fut.cancelled() and fut.exception() is not None:
                errors += 1

        async def cancel_later(msg_id: str, delay: float) -> None:
            await asyncio.sleep(delay)
            protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

        def request(
            uri: str, text: str, invoked: bool, deep: bool = False
        ) -> tuple[str, asyncio.Future]:
            kind = types.InlineCompletionTriggerKind
            params = types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri),
                position=utf16_position(text, points(text, rng, deep)),
                context=types.InlineCompletionContext(
                    trigger_kind=kind.Invoked if invoked else kind.Automatic
                ),
            )
            msg_id = f"soak-{len(pending)}"
            fut = protocol.send_request_async(INLINE, params, msg_id=msg_id)
            fut.add_done_callback(on_done)
            pending.append(fut)
            return msg_id, fut

        total = args.warmup + args.requests
        t0 = time.perf_counter()
        for i in range(total):
            if i == args.warmup:
                await asyncio.gather(*pending, return_exceptions=True)
                await asyncio.sleep(args.settle)
                baseline, _ = rss_mb(pid)
                t0 = time.perf_counter()
            n = i - args.warmup
            if n > 0 and n % 100 == 0:
                victim = rng.choice(list(open_docs))
                server.close(victim)
                del open_docs[victim]
                open_next()
            if n > 0 and n % max(1, args.requests // 10) == 0:
                rss, hwm = rss_mb(pid)
                samples.append({"requests": n, "rss_mb": round(rss, 1), "hwm_mb": round(hwm, 1)})
                if not args.json:
                    print(f"  {n:>6} requests  RSS {rss:7.1f} MB  (+{rss - baseline:.1f})")
            if n < 0:  # warm-up: deep in each document in turn, never cancelled
                uri = list(open_docs)[i % len(open_docs)]
                request(uri, open_docs[uri], invoked=False, deep=True)
                await asyncio.sleep(1 / args.rate)
                continue
            uri = rng.choice(list(open_docs))
            msg_id, _ = request(uri, open_docs[uri], invoked=False)
            if rng.random() < args.cancel:
                cancels.append(asyncio.ensure_future(cancel_later(msg_id, rng.uniform(0, 0.15))))
            await asyncio.sleep(max(0.0, t0 + (max(n, 0) + 1) / args.rate - time.perf_counter()))
        run_s = time.perf_counter() - t0
        uri = next(iter(open_docs))
        _, last = request(uri, open_docs[uri], invoked=True)
        done, not_done = await asyncio.wait(pending, timeout=60)
        last_ok = last in done and not last.cancelled() and last.exception() is None
        last_result = last.result() if last_ok else None
        await asyncio.sleep(args.settle)
        end_rss, hwm = rss_mb(pid)
        stats = await server.stats()
    return {
        "model": args.model,
        "requests": args.requests,
        "warmup": args.warmup,
        "rate": args.rate,
        "cancel": args.cancel,
        "run_s": round(run_s, 1),
        "sent": len(pending),
        "answered": answered,
        "error_responses": errors,
        "lost": len(not_done),
        "last_answered": last_ok,
        "last_has_suggestion": bool(last_result is not None and last_result.items),
        "rss_ready_mb": round(ready_rss, 1),
        "rss_baseline_mb": round(baseline, 1),
        "rss_end_mb": round(end_rss, 1),
        "rss_peak_mb": round(hwm, 1),
        "growth_mb": round(end_rss - baseline, 1),
        "growth_from_ready_mb": round(end_rss - ready_rss, 1),
        "samples": samples,
        "server_stats": dict(stats),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="embedded")
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--cancel", type=float, default=0.8)
    p.add_argument("--documents", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="quiet seconds before the baseline and the end are read (the server trims "
        "its heap after one)",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    out = asyncio.run(run(args))
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(
        f"model {out['model']}: {out['sent']} requests in {out['run_s']} s, "
        f"{out['answered']} answered ({out['error_responses']} as errors), {out['lost']} lost; "
        f"last request answered: {out['last_answered']} "
        f"(suggestion: {out['last_has_suggestion']})"
    )
    print(
        f"RSS ready {out['rss_ready_mb']} MB, baseline after {out['warmup']} requests "
        f"{out['rss_baseline_mb']} MB, end {out['rss_end_mb']} MB, peak {out['rss_peak_mb']} MB"
    )
    print(
        f"growth over {out['requests']} requests: {out['growth_mb']:+.1f} MB "
        f"({out['growth_from_ready_mb']:+.1f} MB from ready)"
    )


if __name__ == "__main__":
    main()
