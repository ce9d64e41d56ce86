"""One completion, start to finish: plan, ask the engine, clean. Used by the server, the
``complete`` CLI and the benchmarks alike, so they all run the same code.

The caller owns the snapshot (an immutable document version) and the engine; this
module is async because the engine answers with futures from its worker thread. A
cancelled caller cancels the engine's job too (pygls only cancels the awaiting
coroutine, so the decode loop's own flag must be set).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from reason_lsp.engine import Engine, GenerateRequest, Generation
from reason_lsp.features.completion import plan as planning
from reason_lsp.text import languages
from reason_lsp.text.documents import Snapshot


@dataclass
class Completed:
    """What one completion request produced."""

    plan: planning.Plan
    texts: list[str]  # cleaned and distinct, best first (empty: everything was filtered)
    generation: Generation


async def await_job(future: Future, request: GenerateRequest) -> Any:
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        request.cancel()  # stop the decode loop, not only this coroutine
        raise


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
) -> Completed | None:
    """Completions at ``offset``; None when the position gets none (strings, mid-word).

    ``context`` are ``(path, text)`` pieces from the rest of the workspace, shown to the
    model before the document (whose own workspace-relative path is ``path``).

    Raises what the engine raises (``Cancelled``, ``EngineUnavailable``, ...).
    """
    plan = planning.plan(
        snapshot.text, offset, snapshot.tree, context_tokens=context_tokens, explicit=explicit
    )
    if plan is None:
        return None
    request = planning.generate_request(
        plan, max_new_tokens, key=snapshot.uri, samples=samples, temperature=temperature,
        seed=seed, context=context, path=path,
    )  # fmt: skip
    if on_submit is not None:
        on_submit()  # the model is asked from here on (stats count model calls)
    generation = await await_job(engine.submit(request), request)
    parser = languages.parser_for(snapshot.language)
    texts: list[str] = []
    for sample in generation.samples:
        text = planning.clean(plan, sample.text, snapshot.text, offset, snapshot.tree, parser)
        if text is not None and text not in texts:
            texts.append(text)
    return Completed(plan, texts, generation)


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
