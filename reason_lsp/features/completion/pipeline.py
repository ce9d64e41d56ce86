"""One completion, start to finish: plan, ask the engine, clean, finish blocks, judge.

Used by the server, the ``complete`` CLI and the benchmarks alike, so they all run the
same code. A single-line suggestion that opens a block (``:`` in Python, ``{``
elsewhere) is continued with its body in a second request (the block stop rule ends
it at the dedent), and shown whole or not at all. Every candidate then goes to the
language's judge (:mod:`.judge`) and is dropped if it breaks the code. Inside a
string (only on an explicit invoke) a suggestion is cut before the closing quote, so
it stays in the string. Each candidate carries the model's confidence; whether that
is enough to show it is the caller's policy (:mod:`.gate`).

The caller owns the snapshot (an immutable document version) and the engine; this
module is async because the engine answers with futures from its worker thread. A
cancelled caller cancels the engine's job too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import tree_sitter

from reason_lsp.engine import (
    RANK,
    Engine,
    EngineInfo,
    Generation,
    Sample,
    await_job,
    prompt_budget,
)  # fmt: skip
from reason_lsp.features.completion import judge
from reason_lsp.features.completion import plan as planning
from reason_lsp.features.completion.gate import Confidence
from reason_lsp.text import languages
from reason_lsp.text.documents import Snapshot
from reason_lsp.text.positions import encode

#: Ranking by the suffix: the extra candidates' temperature, and the suffix's lines
#: (with code) each candidate is scored with (bench/humaneval_infill.py measured both).
RANK_TEMPERATURE = 0.8
RANK_LINES = 2


def ranks_by_suffix(engine: Engine, plan: planning.Plan, candidates: int) -> bool:
    """Whether to decode ``candidates`` and let the engine rank them by the suffix: a model
    that reads the suffix in its prompt (FIM) needs no second opinion from it."""
    info = engine.info
    return (
        candidates > 1
        and RANK in engine.capabilities
        and info is not None
        and info.fim is None
        and bool(plan.suffix.strip())
    )


def prompt_tokens(context_tokens: int, max_new_tokens: int, info: EngineInfo | None) -> int:
    """The prompt budget: ``contextTokens``, within the model's window less the answer.

    Sharing the window between other files and this one must start from what the model
    can hold; a budget larger than the window would give the cross-file context tokens
    that the engine's left-truncation then drops first.
    """
    if info is None or not info.window:
        return context_tokens
    return prompt_budget(context_tokens, max_new_tokens, info.window)


@dataclass
class Candidate:
    text: str
    confidence: Confidence | None


@dataclass
class Completed:
    """What one completion request produced."""

    plan: planning.Plan
    candidates: list[Candidate]  # judged, distinct, in sample order (empty: all dropped)
    generation: Generation
    dropped: int = 0  # candidates the judge or an empty block body removed

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.candidates]


def string_delimiter(text: str, offset: int, tree: tree_sitter.Tree | None) -> str | None:
    """The quote that would close the string the cursor is in (None outside strings)."""
    before = text[:offset]
    for triple in ('"""', "'''"):
        if before.count(triple) % 2:
            return triple
    if tree is not None:
        byte = len(encode(before))
        node = tree.root_node.descendant_for_byte_range(max(0, byte - 1), byte)
        while node is not None and node.type != "string":
            node = node.parent
        if node is not None and node.start_byte < byte < node.end_byte:
            opening = node.children[0].text.decode() if node.children else '"'
            return opening.lstrip("rbfuRBFU") or '"'
    line = re.sub(r"\\.", "", before[before.rfind("\n") + 1 :])
    quotes = [ch for ch in line if ch in "\"'"]
    return quotes[0] if quotes and quotes.count(quotes[0]) % 2 else None


def inside_string(completion: str, delimiter: str) -> str:
    """``completion`` cut before it would leave the string."""
    cut = completion.find(delimiter)
    if cut >= 0:
        completion = completion[:cut]
    if len(delimiter) == 1:
        completion = completion.split("\n", 1)[0]
    return completion.rstrip()


async def complete(
    engine: Engine,
    snapshot: Snapshot,
    offset: int,
    *,
    explicit: bool,
    context_tokens: int,
    max_new_tokens: int,
    samples: int = 1,
    temperature: float = 0.0,
    seed: int | None = None,
    on_submit: Callable[[], None] | None = None,
    context: tuple[tuple[str, str], ...] = (),
    path: str = "",
    candidates: int = 1,
) -> Completed | None:
    """Completions at ``offset``; None when the position gets none (strings, mid-word).

    ``context`` are ``(path, text)`` pieces from the rest of the workspace, shown to the
    model before the document (whose own workspace-relative path is ``path``).
    ``candidates`` > 1 (``completion.candidates``): that many are decoded, the likeliest
    and samples, and the engine orders them by the suffix (:func:`ranks_by_suffix`).
    Raises what the engine raises (``Cancelled``, ``EngineUnavailable``, ...).
    """
    text, tree, language = snapshot.text, snapshot.tree, snapshot.language
    plan = planning.plan(text, offset, tree, context_tokens=context_tokens, explicit=explicit)
    if plan is None:
        return None
    extra = {"key": snapshot.uri, "context": context, "path": path}
    shape = {"samples": samples, "temperature": temperature, "seed": seed}
    if samples == 1 and ranks_by_suffix(engine, plan, candidates):
        shape = {"samples": candidates, "temperature": RANK_TEMPERATURE, "seed": seed}
        shape |= {"rank_lines": RANK_LINES}
    request = planning.generate_request(plan, max_new_tokens, **shape, **extra)
    if on_submit is not None:
        on_submit()  # the model is asked from here on (stats count model calls)
    generation = await await_job(engine.submit(request), request)
    parser = languages.parser_for(language)
    # Python's judge is CPython's parser; tree-sitter still judges the other languages.
    ts_parser = None if language == "python" else parser
    delimiter = string_delimiter(text, offset, tree) if explicit else None
    done = Completed(plan, [], generation)
    for sample in generation.samples:
        cleaned = planning.clean(plan, sample.text, text, offset, tree, ts_parser)
        if cleaned is not None and delimiter is not None:
            cleaned = inside_string(cleaned, delimiter) or None
        if cleaned is None or cleaned in done.texts:
            continue
        logprobs = sample.token_logprobs
        if plan.mode == "line" and delimiter is None and not plan.line_suffix.strip():
            last = (plan.line_prefix + cleaned).rsplit("\n", 1)[-1]
            # An opener above code indented deeper than it: that code is its body.
            if judge.opens_block(language, last) and not planning.body_follows(plan, last):
                body = await _body(engine, snapshot, offset, cleaned, plan, max_new_tokens, extra)
                if body is None:
                    done.dropped += 1  # an opener without its body: nothing rather than half
                    continue
                cleaned, more = cleaned + body.text, body.token_logprobs
                logprobs = logprobs + more
        if judge.breaks(language, text, offset, cleaned, tree, parser):
            done.dropped += 1
            continue
        done.candidates.append(Candidate(cleaned, Confidence.of(logprobs)))
    return done


async def _body(
    engine: Engine,
    snapshot: Snapshot,
    offset: int,
    opener: str,
    plan: planning.Plan,
    max_new_tokens: int,
    extra: dict[str, Any],
) -> Sample | None:
    """The body of the block ``opener`` opens, as text to append ("\\n" + indent + body)."""
    text = snapshot.text
    opened = (plan.line_prefix + opener).rsplit("\n", 1)[-1]
    indent = planning._indent_of(opened) + planning.indent_unit(text)
    lead = opener + "\n" + indent
    text2 = text[:offset] + lead + text[offset:]
    offset2 = offset + len(lead)
    parser = languages.parser_for(snapshot.language)
    tree2 = parser.parse(encode(text2)) if parser is not None else None
    # Only the body's shape is wanted from this plan: the prompt is the first one's.
    plan2 = planning.plan(text2, offset2, tree2, context_tokens=64, explicit=True)
    if plan2 is None or plan2.mode != "block":
        return None
    plan2 = replace(plan2, prefix=plan.prefix + lead, header=plan.header)  # the same window
    request = planning.generate_request(plan2, max_new_tokens, **extra)
    generation = await await_job(engine.submit(request), request)
    sample = generation.samples[0]
    body = planning.clean(plan2, sample.text)
    if body is None or not body.strip():
        return None
    return replace(sample, text="\n" + indent + body)


async def members(
    engine: Engine, snapshot: Snapshot, offset: int, *, context_tokens: int, k: int = 5
) -> list[tuple[str, float]]:
    """The model's top identifiers after ``name.`` at ``offset`` (empty elsewhere).

    Raises ``Unsupported`` when the engine cannot rank identifiers.
    """
    plan = planning.plan(snapshot.text, offset, snapshot.tree, context_tokens=context_tokens)
    if plan is None or not plan.after_dot:
        return []
    request = planning.members_request(plan, key=snapshot.uri)
    names = await await_job(engine.members(request, k), request)
    return [(n, s) for n, s in names if n.startswith(plan.word)]
