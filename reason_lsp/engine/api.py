"""The engine's contract: request and result types, the :class:`Engine` protocol, its config.

Nothing here imports torch or transformers: the server imports this module on
its start-up path, and the heavy backends (``local``, ``remote``) are imported
only when an engine is created, in the background after ``initialize``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from reason_lsp.settings import Settings

if TYPE_CHECKING:
    from concurrent.futures import Future

#: A stop rule: given the text generated so far, the length to keep when it must
#: stop now, or None to go on.
StopRule = Callable[[str], "int | None"]


class Priority(int, Enum):
    """Lower runs first: completions never wait behind background scoring."""

    COMPLETION = 0
    GENERATION = 1
    SCORING = 2


class Cancelled(Exception):
    """The request was cancelled or superseded before it finished."""


class EngineUnavailable(Exception):
    """No model is loaded (still loading, failed, or disabled)."""


@dataclass
class GenerateRequest:
    """Continue the code at a cursor: ``header`` + ``prefix`` | cursor | ``suffix``."""

    prefix: str
    suffix: str = ""
    header: str = ""
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 0.95
    samples: int = 1
    stop: StopRule | None = None
    #: Requests with the same key supersede each other (the document URI).
    key: str = ""
    priority: Priority = Priority.COMPLETION
    seed: int | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    #: Files from elsewhere in the workspace, ``(path, text)``, shown to the model before
    #: the document (in its repository format where it has one); ``path`` is the
    #: document's own path relative to the workspace.
    context: tuple[tuple[str, str], ...] = ()
    path: str = ""
    #: With ``samples`` > 1 on a prompt without the suffix: rank the samples, and each
    #: multi-line one cut at its line ends, by the model's log-probability of each
    #: followed by the suffix's first ``rank_lines`` lines with code (0: no ranking).
    rank_lines: int = 0
    #: With ``samples`` > 1: the first sample is the greedy one, the rest are sampled
    #: (always so when ranking by the suffix).
    greedy_first: bool = False

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


async def await_job(future: Future, request: GenerateRequest):
    """The engine's answer to ``request`` from asyncio code; a cancelled caller cancels
    the request too, so the decode loop stops, not only the awaiting coroutine."""
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        request.cancel()
        raise


@dataclass
class Sample:
    text: str
    logprob: float
    tokens: int
    finish: str  # "stop" | "length" | "eos"
    #: Log-probability of each token generated after the healed text was spelled out
    #: (empty when the engine cannot say, as with a remote server).
    token_logprobs: tuple[float, ...] = ()
    #: Its joint log-probability with the suffix's first lines, when ranked by them.
    rank: float | None = None


@dataclass
class Generation:
    samples: list[Sample]
    prompt_tokens: int
    cached_tokens: int
    prefill_ms: float
    decode_ms: float
    decoded_tokens: int

    @property
    def ms_per_token(self) -> float:
        return self.decode_ms / self.decoded_tokens if self.decoded_tokens else 0.0


@dataclass
class TokenScore:
    """One token of a scored text: where it is, how surprising, and what was likelier."""

    start: int  # character offsets into the scored text
    end: int
    surprisal: float  # -log p, nats
    top_text: str
    top_logprob: float


@dataclass(frozen=True)
class EngineInfo:
    model: str
    device: str
    dtype: str
    fim: str | None
    backend: str
    #: The model's context in tokens (trained window, or the server's n_ctx), when known.
    window: int | None = None


#: What an engine can do. Every engine generates; scoring (per-token log-probabilities,
#: for the "unlikely code" diagnostics) and member ranking (top identifiers after
#: ``name.``) need the model's logits, which a remote server may not give; so does
#: ranking candidates by the suffix.
GENERATE, SCORE, MEMBERS = "generate", "score", "members"
#: Ranking sampled candidates by the code after the cursor (``GenerateRequest.rank_lines``).
RANK = "rank"


class Unsupported(EngineUnavailable):
    """The engine cannot do this at all (not "not yet"): the message says why."""


class Engine(Protocol):
    """What the server and the CLIs use of any backend (in-process model or a remote server).

    ``state`` is "loading", "ready" or "error" (then ``error`` says why). Each call
    returns a ``concurrent.futures.Future``; it fails with :class:`EngineUnavailable`
    while no model is ready, and with :class:`Unsupported` for a capability the
    engine lacks (see ``capabilities``).
    """

    state: str
    error: str

    @property
    def info(self) -> EngineInfo | None: ...
    @property
    def capabilities(self) -> frozenset[str]: ...
    @property
    def cancelled_jobs(self) -> int: ...
    @property
    def model_folder(self) -> str | None: ...
    def start(self) -> None: ...
    def submit(self, request: GenerateRequest) -> Future[Generation]: ...
    def score(
        self, context: str, text: str, cancel: threading.Event, key: str = ""
    ) -> Future[list[TokenScore]]: ...
    def members(self, request: GenerateRequest, k: int = 5) -> Future[list[tuple[str, float]]]: ...
    def unsupported_reason(self, capability: str) -> str: ...
    def close(self) -> None: ...


_DEFAULTS = Settings()


def prompt_budget(context_tokens: int, max_new_tokens: int, window: int) -> int:
    """Prompt tokens for ``contextTokens`` within a ``window``-token model, leaving room for
    the answer and the FIM markers (at least 16, never more than asked)."""
    return min(context_tokens, max(16, window - max_new_tokens - 4))


def _setting_default(name: str):
    return field(default=getattr(_DEFAULTS, name))


@dataclass(frozen=True)
class EngineConfig:
    """The model settings an engine is built from; defaults are the settings' own."""

    model: str = _setting_default("model")
    device: str = _setting_default("device")
    dtype: str = _setting_default("dtype")
    quantize: bool = _setting_default("quantize")
    backend: str = _setting_default("backend")
    url: str = _setting_default("openai_url")
    remote_model: str = _setting_default("openai_model")
    context_tokens: int = _setting_default("context_tokens")
    api_key_env: str = _setting_default("openai_api_key_env")
    fim: str = _setting_default("openai_fim")
    redact: bool = _setting_default("openai_redact")
    timeout_s: float = _setting_default("openai_timeout")

    @classmethod
    def from_settings(cls, settings) -> EngineConfig:
        return cls(
            model=settings.model,
            device=settings.device,
            dtype=settings.dtype,
            quantize=settings.quantize,
            backend=settings.backend,
            url=settings.openai_url,
            remote_model=settings.openai_model,
            context_tokens=settings.context_tokens,
            api_key_env=settings.openai_api_key_env,
            fim=settings.openai_fim,
            redact=settings.openai_redact,
            timeout_s=settings.openai_timeout,
        )
