"""An engine backed by an OpenAI-compatible model server (llama.cpp, vLLM, TGI, Ollama).

Start: the probe (:mod:`reason_lsp.engine.probe`) finds out what the server is, which
FIM convention its model uses and whether it gives log-probabilities; the engine's
``capabilities`` say what follows (generation always; unlikely-code scoring and
member ranking only with log-probabilities, see :mod:`reason_lsp.engine.remote_scoring`).

Completions: the FIM prompt is built here as text in the model's own convention (the
local engine's order: SPM where the model was trained on it), because the API's
``suffix`` field is ignored or mishandled by real engines; it is streamed from
``/v1/completions`` with greedy settings (no repetition penalty), the stop rule is
applied between chunks, and a cancelled or superseded request closes its connection,
which stops decoding on the server. Each generated token's log-probability is kept
for the confidence gate where the server gives it.

Before anything leaves the machine, secrets are redacted (:mod:`reason_lsp.engine.redact`,
on by default); only their number is logged. Every request's latency, time to first
token and outcome go to the backend's statistics (:mod:`reason_lsp.engine.latency`).

When the server goes away (refused, reset, 5xx after retries), the engine's state
becomes ``retrying`` ("backend unreachable, retrying"): model requests fail fast,
syntax features are untouched, and a reconnect thread probes the server with backoff
until it answers; then the engine is ``ready`` again by itself.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from reason_lsp.engine import fim, latency
from reason_lsp.engine.api import (
    GENERATE,
    MEMBERS,
    SCORE,
    Cancelled,
    EngineConfig,
    EngineInfo,
    GenerateRequest,
    Generation,
    Priority,
    Sample,
    TokenScore,
)
from reason_lsp.engine.base import WorkerEngine
from reason_lsp.engine.client import BackendDown, BackendError, Client, api_key
from reason_lsp.engine.probe import Dialect, probe, token_logprobs_of
from reason_lsp.engine.redact import Redacted, redact
from reason_lsp.engine.remote_scoring import EchoScorer, NativeScorer

#: Characters per token assumed when fitting a prompt to the server's context.
CHARS_PER_TOKEN = 3
#: Seconds between reconnect attempts while the server is unreachable.
RECONNECT_S = (0.5, 1.0, 2.0, 4.0, 5.0)
_WHAT = {SCORE: "unlikely-code diagnostics", MEMBERS: "member completion after '.'"}


class RemoteEngine(WorkerEngine):
    WORKER_NAME = "reason-lsp-remote"

    def __init__(self, config: EngineConfig, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        self.base = config.url.rstrip("/").removesuffix("/v1")
        self.model = ""
        self.stats = latency.for_backend("openai", self.base)
        self.client: Client | None = None
        self.dialect: Dialect | None = None
        self._scorer: NativeScorer | EchoScorer | None = None
        self._closed = threading.Event()
        self._reconnecting = threading.Lock()

    # -- what it can do ------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[str]:
        d = self.dialect
        found = {GENERATE}
        if d is not None and d.scoring:
            found.add(SCORE)
            if d.scoring == "native":
                found.add(MEMBERS)
        return frozenset(found)

    def unsupported_reason(self, capability: str) -> str:
        what = _WHAT.get(capability, capability)
        d = self.dialect
        if d is not None and d.scoring and capability == MEMBERS:
            return f"{what} needs a server that can force tokens (llama.cpp); {d.kind} cannot"
        why = d.no_scoring_reason if d is not None else "the server was not reached yet"
        return f"{what} need the model's log-probabilities: {why}"

    # -- connecting ----------------------------------------------------------------------

    def _starting_message(self) -> str:
        return f"Connecting to {self.config.url or '(no url)'}…"

    def _setup(self) -> EngineInfo:
        if not self.base.startswith(("http://", "https://")):
            raise ValueError("reasonLsp.openai.url must be an http(s) URL for backend=openai")
        if self.client is None:
            key = api_key(self.config.api_key_env)
            on_retry = lambda: self.stats.count("retries")  # noqa: E731
            self.client = Client(self.base, key, self.config.timeout_s, on_retry)
        d = probe(self.client, self.config.remote_model, self.config.fim)
        window = d.n_ctx or self.config.context_tokens
        if d.scoring == "native":
            self._scorer = NativeScorer(self.client, window, d.start_id, d.special_ids, d.extra)
        elif d.scoring == "echo":
            special = frozenset(fim.stop_strings(d.fim))
            self._scorer = EchoScorer(self.client, d.model, special)
        self.dialect, self.model = d, d.model
        self.stats.model = d.model
        self._log(f"remote backend at {self.base}: {d.describe()}")
        if not d.scoring:
            self._log(f"no log-probabilities from {self.base} ({d.no_scoring_reason}): "
                      "unlikely-code diagnostics and member completion are off")  # fmt: skip
        fim_name = d.fim.name if d.fim else None
        return EngineInfo(d.model, "remote", "n/a", fim_name, "openai", window=d.n_ctx)

    def _ready_message(self, info: EngineInfo) -> str:
        d = self.dialect
        extra = "" if d is None or d.scoring else "; no log-probabilities, so no unlikely-code"
        return f"remote {info.model} at {self.base} ({d.kind if d else 'openai'}{extra})"

    def _guarded_setup(self) -> None:
        try:
            self._info = self._setup()
            self._set_state("ready", self._ready_message(self._info))
        except BackendDown as exc:
            self._go_retrying(str(exc))
        except Exception as exc:  # a bad URL or key must not take the server down
            self.error = f"cannot reach {self.config.url}: {exc}"
            self._log(self.error)
            self._set_state("error", self.error)
        finally:
            self.ready.set()

    def _set_state(self, state: str, detail: str) -> None:
        self.state = state
        self.stats.state = state
        self._on_state(state, detail)

    def _go_retrying(self, why: str) -> None:
        if self._closed.is_set() or self.state == "retrying":
            return
        self.error = f"backend unreachable at {self.base}, retrying"
        self._log(f"{self.error} ({why})")
        self.stats.count("outages")
        self._set_state("retrying", self.error)
        threading.Thread(target=self._reconnect, name="reason-lsp-reconnect", daemon=True).start()

    def _reconnect(self) -> None:
        if not self._reconnecting.acquire(blocking=False):
            return
        try:
            for attempt in range(1 << 30):
                if self._closed.wait(RECONNECT_S[min(attempt, len(RECONNECT_S) - 1)]):
                    return
                try:
                    self._info = self._setup()
                except BackendDown:
                    continue
                except Exception as exc:
                    self.error = f"{self.base}: {exc}"
                    self._set_state("error", self.error)
                    return
                self._log(f"backend at {self.base} is back")
                self._set_state("ready", self._ready_message(self._info))
                return
        finally:
            self._reconnecting.release()

    # -- requests ------------------------------------------------------------------------

    def _measured(self, operation: str, fn):
        """Run ``fn(mark_first_token)``, recording its latency and outcome; an unreachable
        server switches the engine to ``retrying``."""
        started = time.perf_counter()
        first: list[float] = []

        def mark() -> None:
            if not first:
                first.append((time.perf_counter() - started) * 1000)

        try:
            result = fn(mark)
        except Cancelled:
            self.stats.record(operation, 0.0, outcome="cancelled")
            raise
        except BackendDown as exc:
            self.stats.record(operation, 0.0, outcome="error", error=str(exc))
            self._go_retrying(str(exc))
            raise
        except Exception as exc:
            self.stats.record(operation, 0.0, outcome="error", error=str(exc)[:300])
            raise
        ms = (time.perf_counter() - started) * 1000
        self.stats.record(operation, ms, first_token_ms=first[0] if first else None)
        return result

    def _redacted(self, text: str) -> Redacted:
        if not self.config.redact or not text:
            return Redacted(text)
        found = redact(text)
        if found.count:
            self.stats.count("redactions", found.count)
            self._log(f"redacted {found.count} secret(s) before sending to {self.base}")
        return found

    def prompt(self, req: GenerateRequest, max_new: int) -> tuple[str, str, str]:
        """``(prompt, suffix for the API's field, healed text)`` for ``req``, redacted and
        fitted. A prefix that ends in spaces ends on a token the byte-level tokenizer
        never makes there (the last space belongs to the next word), so those spaces
        leave the prompt and the answer must spell them out first (token healing, as
        the local decoder does, checked on the text since the server cannot constrain)."""
        d = self.dialect
        fmt = d.fim if d is not None else None
        left = fim.repository_text(fmt, req.context, req.path) + req.header + req.prefix
        left, suffix = self._redacted(left).text, self._redacted(req.suffix).text
        tokens = self.config.context_tokens
        if d is not None and d.n_ctx:
            tokens = min(tokens, d.n_ctx - max_new - 8)
        budget = max(64, tokens * CHARS_PER_TOKEN)
        if len(left) + len(suffix) > budget:
            suffix = suffix[: max(0, min(len(suffix), budget // 4))]
            left = left[-max(1, budget - len(suffix)) :]
        heal = left[len(left.rstrip(" \t")) :] if left.strip() else ""
        left = left[: len(left) - len(heal)]
        if d is not None and d.use_suffix:
            return left, suffix, heal
        return fim.prompt_text(fmt, left, suffix), "", heal

    def submit(self, request: GenerateRequest) -> Future:
        return self.queue(
            lambda: self._measured("generate", lambda mark: self._complete(request, mark)),
            request.cancel_event,
            request.priority,
            request.key,
        )

    def _complete(self, req: GenerateRequest, mark) -> Generation:
        started = time.perf_counter()
        prompt, suffix, heal = self.prompt(req, req.max_new_tokens)
        n = max(1, req.samples)
        samples = [self._one(req, prompt, suffix, heal, i, mark) for i in range(n)]
        ms = (time.perf_counter() - started) * 1000
        return Generation(samples, 0, 0, 0.0, ms, sum(s.tokens for s in samples))

    def _one(self, req: GenerateRequest, prompt: str, suffix: str, heal: str, n: int,
             mark) -> Sample:  # fmt: skip
        assert self.client is not None and self.dialect is not None
        d = self.dialect
        body = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": req.max_new_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p if req.temperature > 0 else 1.0,
            "stream": True,
            "stop": fim.stop_strings(d.fim)[:4],
            **d.extra,
        }
        if suffix:
            body["suffix"] = suffix
        if d.token_logprobs:
            body["logprobs"] = 1
        if req.seed is not None:
            body["seed"] = req.seed + n
        raw, text, finish, chunks = "", "", "length", 0
        logprobs: list[float] = []
        starts: list[int] = []  # where each token's text starts
        for event in self.client.stream("/v1/completions", body, req.cancel_event):
            choices = event.get("choices") or []
            if not choices:
                continue
            choice = choices[0]
            mark()
            chunks += 1
            at = len(raw) - len(heal)
            for token, value in token_logprobs_of(choice):
                logprobs.append(value)
                starts.append(at)
                at += len(token)
            raw += choice.get("text") or ""
            if len(raw) < len(heal):
                continue
            if not raw.startswith(heal):
                return Sample("", 0.0, chunks, "stop")  # the answer left the healed spaces out
            text = raw[len(heal) :]
            if choice.get("finish_reason"):
                finish = "eos" if choice["finish_reason"] == "stop" else "length"
            cut = req.stop(text) if req.stop else None
            if cut is not None:
                kept = tuple(lp for lp, at in zip(logprobs, starts, strict=True)
                             if at < cut and at + 1 > -len(heal))  # fmt: skip
                return Sample(text[:cut], sum(kept), len(kept) or chunks, "stop", kept)
        if heal:  # the tokens that only spelled out the healed spaces are not the answer's
            logprobs = [lp for lp, at in zip(logprobs, starts, strict=True) if at >= 0]
        return Sample(text, sum(logprobs), len(logprobs) or chunks, finish, tuple(logprobs))

    def score(self, context: str, text: str, cancel: threading.Event, key: str = "") -> Future:
        return self.queue(
            lambda: self._measured("score", lambda mark: self._score(context, text, cancel)),
            cancel, Priority.SCORING, key, needs=SCORE,
        )  # fmt: skip

    def _score(self, context: str, text: str, cancel: threading.Event) -> list[TokenScore]:
        assert self._scorer is not None
        ctx, body = self._redacted(context), self._redacted(text)
        scores = self._scorer.score(ctx.text, body.text, cancel)
        if not body.spans:
            return scores
        # Placeholders are not the user's code: no scores there; the rest maps back.
        return [
            TokenScore(body.original_offset(s.start), body.original_offset(s.end - 1) + 1,
                       s.surprisal, s.top_text, s.top_logprob)
            for s in scores if not body.inside(s.start, s.end)
        ]  # fmt: skip

    def members(self, request: GenerateRequest, k: int = 5) -> Future:
        def job(mark) -> list[tuple[str, float]]:
            assert isinstance(self._scorer, NativeScorer)
            prompt, _, heal = self.prompt(request, 8)
            prompt += heal  # members follow "name.", which never ends in spaces
            return self._scorer.members(prompt, k, request.cancel_event)

        return self.queue(
            lambda: self._measured("members", job), request.cancel_event, request.priority,
            request.key + "#members", needs=MEMBERS,
        )  # fmt: skip

    def close(self) -> None:
        self._closed.set()
        super().close()
        if self.client is not None:
            self.client.close()
        latency.save_soon(force=True)


__all__ = ["BackendDown", "BackendError", "RemoteEngine"]
