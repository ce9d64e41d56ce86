"""The generation pipeline: sample bodies for a stub, keep those that parse, check them
in the sandbox, rank, and say how sure the answer is.

Backend-neutral: the caller samples (the server through its engine, the CLI and the
benchmark through a decoder) with the request :func:`sample_request` builds, and
hands the samples to :func:`choose`. Ranking is by examples passed, then by mean
log-probability per token; without examples (or with the sandbox off) the pick is
by log-probability alone and the outcome says "unverified". "Verified" means the
shown body passed every example, and the examples expect at least two different
results (a constant cannot pass them); model-written asserts (:mod:`.codet`) rank
candidates of a function without examples and never verify one.

The sandbox (``reason_lsp.sandbox``) is imported lazily; when it is missing or
refuses (``sandbox.require`` with no isolation available) nothing is run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter

from reason_lsp.engine import GenerateRequest, Priority, Sample
from reason_lsp.features.generation import codet
from reason_lsp.text.positions import encode
from reason_lsp.verify import examples as verification
from reason_lsp.verify import program as checking
from reason_lsp.verify.runner import Policy, Task, error_count, run_check, sandbox_missing

GENERATION_TOKENS = 256
MAX_BODY_LINES = 80
#: Repetitions of one block of lines that end a body as a loop (:func:`looping`).
LOOP_REPEATS = 4
_DIGITS = re.compile(r"\d+")


@dataclass
class Candidate:
    body: str
    logprob: float
    tokens: int
    count: int = 1  # how many samples gave this body
    report: checking.Report | None = None

    @property
    def mean_logprob(self) -> float:
        return self.logprob / max(1, self.tokens)

    @property
    def passed(self) -> int:
        return self.report.passed if self.report else 0


@dataclass
class Outcome:
    best: Candidate | None
    verified: bool
    passed: int
    total: int
    sampled: int
    summary: str
    candidates: list[Candidate] = field(default_factory=list)
    refused: str | None = None
    isolation: list[str] = field(default_factory=list)
    #: What the candidates were checked against ("" when nothing ran).
    against: str = ""


def body_stop(indent: str) -> Callable[[str], int | None]:
    """Stop at the first finished line indented less than the body, after many lines, or
    where the body has started to loop (:func:`looping`)."""

    def stop(text: str) -> int | None:
        lines = text.split("\n")
        shapes = [_DIGITS.sub("0", line.strip()) for line in lines[:-1]]
        starts = [0]
        for i, line in enumerate(lines[:-1]):  # the last line may be unfinished
            stripped = line.strip()
            if stripped and len(line) - len(line.lstrip(" \t")) < len(indent):
                return starts[i]
            if i >= MAX_BODY_LINES:
                return starts[i]
            period = looping(shapes[max(0, i + 1 - 3 * LOOP_REPEATS) : i + 1])
            if period:  # keep whole repetitions: the body still parses
                return starts[i + 1 - period]
            starts.append(starts[i] + len(line) + 1)
        return None

    return stop


def looping(shapes: list[str]) -> int:
    """The length of the block of 1-3 lines that the last lines repeat :data:`LOOP_REPEATS`
    times (0: none), ``shapes`` being the stripped lines with numbers made 0: a small
    model's loop (``if n == 1: return 1``, ``if n == 2: return 2``, ...) that would
    otherwise run to the token cap unparsed."""
    for period in (1, 2, 3):
        span = period * LOOP_REPEATS
        tail = shapes[-span:]
        if len(tail) == span and all(tail) and tail == tail[period:] + tail[-period:]:
            return period
    return 0


def sample_request(
    task: Task, temperature: float, *, key: str = "", seed: int | None = None, samples: int = 1
) -> GenerateRequest:
    """What to ask the model: the file up to the docstring as prefix, the rest as suffix;
    ``samples`` bodies in one request (decoded together where the engine can), the
    first of them greedy."""
    return GenerateRequest(
        prefix=task.target.prompt_prefix(task.text),
        suffix=task.target.suffix(task.text),
        max_new_tokens=GENERATION_TOKENS,
        temperature=temperature,
        samples=samples,
        stop=body_stop(task.target.indent),
        key=key,
        priority=Priority.GENERATION,
        seed=seed,
        greedy_first=True,
    )


def candidates_from(
    task: Task, samples: list[Sample], parser: tree_sitter.Parser
) -> list[Candidate]:
    """Distinct bodies that parse in place and are not stubs themselves, in sample order."""
    kept: dict[str, Candidate] = {}
    for sample in samples:
        body = sample.text.rstrip()
        if not body.strip():
            continue
        if body in kept:
            kept[body].count += 1
            continue
        source = task.target.insert(task.text, body)
        tree = parser.parse(encode(source))
        if error_count(tree.root_node) > task.base_errors:
            continue
        again = verification.find_function(source, tree, task.target.start)
        if again is None or again.stub is not None:
            continue
        kept[body] = Candidate(body, sample.logprob, sample.tokens)
    return list(kept.values())


def describe(examples: list[verification.Example]) -> str:
    """What a set of examples is, for the user: "2 doctests and 3 asserts from test_x.py",
    "1 test and 2 asserts from test_x.py",
    "4 docstring examples"."""
    doctests = sum(e.kind == "doctest" for e in examples)
    calls = sum(e.kind == "call" for e in examples)
    files = sorted({Path(e.path).name for e in examples if e.kind in ("assert", "test") and e.path})
    asserts = sum(e.kind == "assert" and not e.generated for e in examples)
    tests = sum(e.kind == "test" for e in examples)
    parts = []
    if doctests:
        parts.append(f"{doctests} doctest{'s' * (doctests != 1)}")
    if calls:
        parts.append(f"{calls} docstring example{'s' * (calls != 1)}")
    found = [f"{tests} test{'s' * (tests != 1)}"] if tests else []
    found += [f"{asserts} assert{'s' * (asserts != 1)}"] if asserts else []
    if found:
        parts.append(f"{' and '.join(found)} from {', '.join(files)}")
    return " and ".join(parts)


def choose(
    task: Task,
    candidates: list[Candidate],
    sampled: int,
    policy: Policy,
    on_checked: Callable[[int, int], None] | None = None,
    generated: list[verification.Example] | None = None,
) -> Outcome:
    """Check each candidate and pick the best (blocking).

    Against the function's examples (doctests, the workspace's tests) when it has
    any: the outcome is ``verified`` only when the shown body passes every one. With
    none, against ``generated`` (model-written asserts, :mod:`.codet`) for ranking by
    agreement, never verified. Else the likeliest, unverified."""
    name = task.target.name
    if not candidates:
        return Outcome(None, False, 0, 0, sampled,
                       f"none of the {sampled} candidates for {name} parsed")  # fmt: skip
    examples = list(task.examples) or list(generated or [])
    total = len(task.examples)
    why_not = None
    if not examples:
        why_not = f"no examples for {name}"
    elif not policy.enable:
        why_not = "the sandbox is off (sandbox.enable)"
    elif missing := sandbox_missing():
        why_not = missing
    if why_not is not None:
        if policy.require and task.examples:
            return Outcome(None, False, 0, total, sampled, f"not applied: {why_not} and "
                           "sandbox.require is set", candidates, refused=why_not)  # fmt: skip
        ranked = sorted(candidates, key=lambda c: -c.mean_logprob)
        return Outcome(ranked[0], False, 0, total, sampled,
                       f"unverified: {why_not}; picked the likeliest of {len(candidates)} "
                       f"distinct candidates ({sampled} sampled)", ranked)  # fmt: skip
    done = 0
    isolation: list[str] = []
    refused: str | None = None

    def check(candidate: Candidate) -> None:
        nonlocal done, refused, isolation
        source = task.target.insert(task.text, candidate.body)
        report, isolation, why = run_check(source, examples, policy)
        refused = refused or why
        candidate.report = report
        done += 1
        if on_checked is not None:
            on_checked(done, len(candidates))

    workers = max(1, min(4, os.cpu_count() or 1, len(candidates)))
    with ThreadPoolExecutor(workers, thread_name_prefix="reason-check") as pool:
        list(pool.map(check, candidates))
    if refused:
        return Outcome(None, False, 0, total, sampled, f"not applied: {refused}",
                       candidates, refused=refused, isolation=isolation)  # fmt: skip
    if not task.examples:
        return _by_agreement(task, candidates, sampled, len(examples), isolation)
    ranked = rank(candidates)
    best = ranked[0]
    perfect = sum(c.count for c in candidates if c.passed == total)
    against = describe(task.examples)
    passed_all = best.passed == total
    verified = passed_all and distinct_results(task.examples) >= 2
    if verified:
        summary = f"verified against {against}: {perfect}/{sampled} candidates passed all"
    elif passed_all:
        summary = (f"unverified: the shown one passed all of {against} ({perfect}/{sampled} "
                   "candidates did), but a body returning one constant could too")  # fmt: skip
    else:
        summary = (f"unverified: no candidate passed all of {against}; the shown one "
                   f"passed {best.passed}/{total} ({sampled} sampled)")  # fmt: skip
    return Outcome(best, verified, best.passed, total, sampled, summary, ranked,
                   isolation=isolation, against=against)  # fmt: skip


def distinct_results(examples: list[verification.Example]) -> int:
    """How many different results the examples expect (each test assert or test function
    counts as one):
    examples that all expect one value (``f(5) == 1`` alone) pass for ``return 1``, so
    they rank candidates but cannot verify one."""
    wants = {e.want.strip() for e in examples if e.kind in ("doctest", "call") and e.want.strip()}
    wants |= {e.exc_msg.strip() for e in examples if e.exc_msg}
    return len(wants) + sum(e.kind in ("assert", "test") for e in examples)


def _by_agreement(
    task: Task, candidates: list[Candidate], sampled: int, asserts: int, isolation: list[str]
) -> Outcome:
    ranked, members, passed = codet.by_agreement(candidates)
    name = task.target.name
    if passed:
        summary = (f"unverified: no examples for {name}; ranked {len(candidates)} distinct "
                   f"candidates ({sampled} sampled) by agreement with {asserts} model-written "
                   f"asserts (CodeT): the shown one is among {members} samples that pass the "
                   f"same {passed}")  # fmt: skip
    else:
        summary = (f"unverified: no examples for {name}, and no candidate passed any of "
                   f"{asserts} model-written asserts; picked the likeliest of "
                   f"{len(candidates)} ({sampled} sampled)")  # fmt: skip
    against = f"{asserts} model-written asserts (agreement, not verification)"
    return Outcome(ranked[0], False, 0, 0, sampled, summary, ranked, isolation=isolation,
                   against=against)  # fmt: skip


def rank(candidates: list[Candidate]) -> list[Candidate]:
    """Most examples passed first, then the likeliest per token."""
    return sorted(candidates, key=lambda c: (-c.passed, -c.mean_logprob))
