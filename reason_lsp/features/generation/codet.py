"""Model-written assertions for a function with no examples, and CodeT's dual agreement.

Where a stub has no doctests and the workspace no tests for it, the candidates can
still be compared with each other. The model writes a few ``assert name(...) == ...``
lines from the signature and docstring (:func:`test_request`, :func:`assertions`);
every candidate runs them in the sandbox; candidates that pass the same set of
assertions agree. CodeT (Chen et al., 2022) scores each such consensus set by the
number of samples in it times the number of assertions they pass, and picks from the
best set (:func:`by_agreement`).

The assertions are the model's guesses, not a specification: a body chosen this way
is "ranked by agreement", never "verified", and the result says so.
"""

from __future__ import annotations

import ast
from typing import Protocol, TypeVar

from reason_lsp.engine import GenerateRequest, Priority, Sample
from reason_lsp.verify.examples import Example
from reason_lsp.verify.program import Report
from reason_lsp.verify.runner import Task


class Checked(Protocol):
    """What ranking reads of a candidate (``pipeline.Candidate``)."""

    report: Report | None
    count: int

    @property
    def mean_logprob(self) -> float: ...


Candidate = TypeVar("Candidate", bound=Checked)

#: Assertion lines sampled, and the most kept after removing duplicates.
SAMPLES = 12
MAX_ASSERTIONS = 10
LINE_TOKENS = 64


def _lead(name: str) -> str:
    return f"\n\n\ndef test_{name}():\n    assert {name}("


def test_request(task: Task, temperature: float, *, key: str = "", seed: int | None = None):
    """Ask for assertion lines: the file up to the stub's end, then a test function
    that starts ``assert name(``; each sample is the rest of that line."""
    name = task.target.name
    prefix = task.text[: task.target.body_end] + _lead(name)
    return GenerateRequest(
        prefix=prefix,
        max_new_tokens=LINE_TOKENS,
        temperature=temperature,
        samples=SAMPLES,
        stop=lambda t: t.index("\n") if "\n" in t else None,
        key=key,
        priority=Priority.GENERATION,
        seed=seed,
    )


def assertions(task: Task, samples: list[Sample]) -> list[Example]:
    """The distinct well-formed ``assert name(...) == expected`` lines among ``samples``,
    as examples marked model-written (at most :data:`MAX_ASSERTIONS`)."""
    name = task.target.name
    out: list[Example] = []
    seen: set[str] = set()
    for sample in samples:
        if sample.finish == "length":
            continue  # cut off mid-line
        source = f"assert {name}(" + sample.text.split("\n", 1)[0].rstrip()
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        stmt = tree.body[0] if len(tree.body) == 1 else None
        test = stmt.test if isinstance(stmt, ast.Assert) else None
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            continue
        if not isinstance(test.ops[0], ast.Eq | ast.Is):
            continue
        call = test.left
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            continue
        if call.func.id != name:
            continue
        key = ast.dump(tree)
        if key in seen:
            continue
        seen.add(key)
        out.append(Example("assert", source, generated=True))
        if len(out) >= MAX_ASSERTIONS:
            break
    return out


def by_agreement(candidates: list[Candidate]) -> tuple[list[Candidate], int, int]:
    """Candidates (checked against the same model-written assertions) best first:
    the consensus set with the most samples times assertions passed, then the
    likeliest within a set. Returns (ranked, samples in the best set, assertions it
    passes); with no assertion passed by anyone, the likeliest first and (0, 0)."""
    groups: dict[frozenset[int], list[Candidate]] = {}
    for c in candidates:
        results = c.report.results if c.report is not None else []
        passed = frozenset(i for i, r in enumerate(results) if r.ok)
        groups.setdefault(passed, []).append(c)

    def score(item: tuple[frozenset[int], list[Candidate]]) -> float:
        passed, members = item
        return len(passed) * sum(m.count for m in members)

    ordered = sorted(groups.items(), key=score, reverse=True)
    if not ordered or score(ordered[0]) == 0:
        return sorted(candidates, key=lambda c: -c.mean_logprob), 0, 0
    ranked = [c for _, members in ordered for c in sorted(members, key=lambda c: -c.mean_logprob)]
    best_passed, best_members = ordered[0]
    return ranked, sum(m.count for m in best_members), len(best_passed)
