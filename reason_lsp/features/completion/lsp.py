"""The completion feature: ``textDocument/inlineCompletion``, ``textDocument/completion``
and ``reasonLsp/stats``.

Thin handlers: take a snapshot, run :func:`pipeline.complete` (plan, engine, cleaning)
and convert the answer to lsprotocol types; the typed-ahead cache answers keystrokes
that type what was suggested.
A cancelled LSP request sets the generation's own cancel flag (pygls only cancels
the awaiting future); a result for a version that is no longer current is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import attrs
from lsprotocol import types

from reason_lsp.engine import MEMBERS, Cancelled, Engine, EngineUnavailable
from reason_lsp.features.completion import pipeline
from reason_lsp.features.completion import plan as plan_mod
from reason_lsp.features.completion.gate import Gate
from reason_lsp.features.completion.typeahead import TypeAhead
from reason_lsp.server.core import ReasonLanguageServer
from reason_lsp.server.feature import Feature
from reason_lsp.text.documents import Snapshot
from reason_lsp.verify import runner

log = logging.getLogger(__name__)

STATS_METHOD = "reasonLsp/stats"


@attrs.define
class CompletionStats:
    """``reasonLsp/stats``: what the completion path did, for benchmarks and tests."""

    requests: int = 0
    model_calls: int = 0
    type_ahead_hits: int = 0
    cancelled: int = 0
    stale_dropped: int = 0
    filtered: int = 0
    last_ms: float = 0.0
    last_prompt_tokens: int = 0
    last_cached_tokens: int = 0
    last_decoded_tokens: int = 0
    last_ms_per_token: float = 0.0
    engine_cancelled: int = 0  # model jobs stopped by their cancel flag
    verified: int = 0  # completions run against their function's doctests (verifyCompletions)
    verify_rejected: int = 0  # ... and dropped because an example failed
    last_verify_ms: float = 0.0
    judged_dropped: int = 0  # candidates that broke the code, or openers without a body
    unsure: int = 0  # candidates below the confidence threshold
    last_confidence: float = -1.0  # the last candidate's acceptance probability (-1: none)
    #: The last candidate's (mean, min, first) token log-probabilities.
    last_features: list[float] = attrs.field(factory=list)

    def count_model_call(self) -> None:
        self.model_calls += 1


@dataclass
class Suggestion:
    text: str
    range_start: int  # offset where the inserted text starts replacing
    offset: int
    from_cache: bool = False


class CompletionFeature(Feature):
    """Inline and classic completion; keeps the typed-ahead cache per document."""

    name = "completion"

    def __init__(self, server: ReasonLanguageServer) -> None:
        self.server = server
        self.type_ahead: dict[str, TypeAhead] = {}
        self.stats_ = CompletionStats()
        self._gate: tuple[str | None, Gate] | None = None
        self._register(server)

    def on_close(self, uri: str) -> None:
        self.type_ahead.pop(uri, None)

    def gate(self) -> Gate:
        """The confidence gate calibrated for the engine's model (none: show all)."""
        engine = self.server.engine
        folder = engine.model_folder if engine is not None else None
        if self._gate is None or self._gate[0] != folder:
            self._gate = (folder, Gate.load(folder))
        return self._gate[1]

    def held(self) -> set[str]:
        return set(self.type_ahead)

    def on_model_ready(self, engine: Engine) -> None:
        settings = self.server.settings
        if settings.completion_enable and MEMBERS not in engine.capabilities:
            reason = engine.unsupported_reason(MEMBERS)
            self.server.tell_once(f"reason-lsp: {reason}; line completions still work.")

    async def suggest(
        self, uri: str, position: types.Position, explicit: bool
    ) -> Suggestion | None:
        """The one best completion at ``position``, or None."""
        started = time.perf_counter()
        stats = self.stats_
        stats.requests += 1
        snapshot = self.server.snapshot(uri)
        if snapshot is None or not self.server.model_features_allowed(snapshot):
            return None
        offset = snapshot.index.offset_at(position, snapshot.encoding)
        cached = self.type_ahead.get(uri)
        if cached is not None:
            rest = cached.rest(snapshot.text, offset)
            if rest is not None:
                stats.type_ahead_hits += 1
                stats.last_ms = (time.perf_counter() - started) * 1000
                return Suggestion(rest, offset, offset, from_cache=True)
        engine = self.server.engine_ready()
        if engine is None:
            return None
        settings = self.server.settings
        total = pipeline.prompt_tokens(
            settings.context_tokens, settings.max_new_tokens, engine.info
        )
        # completion.contextShare of the prompt goes to other files; without any, all to this one.
        share = settings.completion_context_share
        budget = int(total * share * plan_mod.CHARS_PER_TOKEN)
        found = self.server.prompt_context(snapshot, offset, budget) if share > 0 else []
        # Without context the whole contextTokens goes to the document: the engine cuts it
        # to the window exactly, token by token, which the plan's estimate cannot.
        in_file = int(total * (1 - share)) if found else settings.context_tokens
        try:
            done = await pipeline.complete(
                engine, snapshot, offset, explicit=explicit,
                context_tokens=max(16, in_file), max_new_tokens=settings.max_new_tokens,
                on_submit=stats.count_model_call,
                context=tuple((c.path, c.text) for c in found),
                path=self.server.relative_path(uri),
                candidates=settings.completion_candidates,
            )  # fmt: skip
        except asyncio.CancelledError:
            stats.cancelled += 1
            raise
        except Cancelled:  # superseded by a newer request for the same document
            stats.cancelled += 1
            return None
        except EngineUnavailable as exc:
            log.debug("completion not served: %s", exc)
            return None
        except Exception:  # a model bug must cost one completion, not the editor's request
            log.exception("completion failed at %s:%s", uri, position)
            return None
        if done is None:
            return None
        if self.server.current_version(uri) != snapshot.version:
            stats.stale_dropped += 1
            return None  # computed for an old version
        stats.judged_dropped += done.dropped
        text = None
        if done.candidates:
            best = done.candidates[0]
            stats.last_confidence = (
                self.gate().probability(best.confidence) if best.confidence else -1.0
            )
            if best.confidence is not None:  # the raw features, for calibration
                stats.last_features = list(best.confidence.features())
            if self.gate().allows(best.confidence, explicit, settings.completion_min_confidence):
                text = best.text
            else:
                stats.unsure += 1
        if text is not None and settings.verify_completions:
            text = await self._verified(snapshot, offset, text)
        generation = done.generation
        stats.last_ms = (time.perf_counter() - started) * 1000
        stats.last_prompt_tokens = generation.prompt_tokens
        stats.last_cached_tokens = generation.cached_tokens
        stats.last_decoded_tokens = generation.decoded_tokens
        stats.last_ms_per_token = generation.ms_per_token
        if text is None:
            stats.filtered += 1
            return None
        self.type_ahead[uri] = TypeAhead.remember(snapshot.text, offset, text)
        return Suggestion(text, offset, offset)

    async def _verified(self, snapshot: Snapshot, offset: int, text: str) -> str | None:
        """``text``, or None when it finishes a function whose doctests it fails."""
        started = time.perf_counter()
        task = runner.completion_task(snapshot.text, offset, text)
        if task is None:
            return text
        policy = runner.policy_from_settings(self.server.settings)
        report, refused = await self.server.run_blocking(runner.verify, task, policy)
        self.stats_.verified += 1
        self.stats_.last_verify_ms = (time.perf_counter() - started) * 1000
        if refused is None and report.passed < report.total:
            self.stats_.verify_rejected += 1
            return None
        return text

    async def members(self, snapshot: Snapshot, offset: int) -> list[tuple[str, float]]:
        """Top identifiers after ``name.`` from the model (empty when it cannot say)."""
        engine = self.server.engine_ready()
        if engine is None or not self.server.model_features_allowed(snapshot):
            return []
        try:
            return await pipeline.members(
                engine, snapshot, offset, context_tokens=self.server.settings.context_tokens
            )
        except (Cancelled, EngineUnavailable):  # Unsupported too: said once at ready
            return []
        except Exception:
            log.exception("member completion failed in %s", snapshot.uri)
            return []

    def _register(self, server: ReasonLanguageServer) -> None:
        service = self

        @server.feature(STATS_METHOD)
        def stats(ls: ReasonLanguageServer, params: object) -> CompletionStats:
            service.stats_.engine_cancelled = ls.engine.cancelled_jobs if ls.engine else 0
            return service.stats_

        @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
        async def inline_completion(
            ls: ReasonLanguageServer, params: types.InlineCompletionParams
        ) -> types.InlineCompletionList | None:
            if not ls.settings.completion_inline:
                return None
            explicit = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
            found = await service.suggest(params.text_document.uri, params.position, explicit)
            if found is None:
                return types.InlineCompletionList(items=[])
            return types.InlineCompletionList(
                items=[
                    types.InlineCompletionItem(
                        insert_text=found.text,
                        range=types.Range(start=params.position, end=params.position),
                    )
                ]
            )

        @server.feature(
            types.TEXT_DOCUMENT_COMPLETION,
            types.CompletionOptions(trigger_characters=["."], resolve_provider=False),
        )
        async def complete(
            ls: ReasonLanguageServer, params: types.CompletionParams
        ) -> types.CompletionList | None:
            if not ls.settings.completion_enable:
                return None
            uri = params.text_document.uri
            snapshot = ls.snapshot(uri)
            if snapshot is None:
                return None
            offset = snapshot.index.offset_at(params.position, snapshot.encoding)
            line_start = snapshot.text.rfind("\n", 0, offset) + 1
            word = plan_mod.word_before(snapshot.text[line_start:offset])
            replace = types.Range(
                start=snapshot.index.position_at(offset - len(word), snapshot.encoding),
                end=params.position,
            )
            items: list[types.CompletionItem] = []
            for rank, (name, logprob) in enumerate(await service.members(snapshot, offset)):
                items.append(
                    types.CompletionItem(
                        label=name,
                        kind=types.CompletionItemKind.Field,
                        detail=f"reason-lsp · p={2.718281828**logprob:.2f}",
                        sort_text=f"0{rank:02d}",
                        filter_text=name,
                        text_edit=types.TextEdit(range=replace, new_text=name),
                    )
                )
            found = await service.suggest(uri, params.position, explicit=True)
            if found is not None and ls.current_version(uri) == snapshot.version:
                full = word + found.text
                label = full.split("\n", 1)[0]
                items.append(
                    types.CompletionItem(
                        label=label if len(label) <= 60 else label[:59] + "…",
                        kind=types.CompletionItemKind.Snippet,
                        detail="reason-lsp completion",
                        documentation=types.MarkupContent(
                            kind=types.MarkupKind.Markdown, value=f"```\n{full}\n```"
                        ),
                        sort_text="1",
                        filter_text=full,
                        insert_text_format=types.InsertTextFormat.PlainText,
                        text_edit=types.TextEdit(range=replace, new_text=full),
                    )
                )
            return types.CompletionList(is_incomplete=True, items=items)
