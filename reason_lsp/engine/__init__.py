"""The model engine's public face: request and result types, and the factory.

Nothing here imports torch or transformers: the server imports this module on
its start-up path, and the heavy backends (``local``, ``remote``) are imported
only when an engine is created, in the background after ``initialize``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

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

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


@dataclass
class Sample:
    text: str
    logprob: float
    tokens: int
    finish: str  # "stop" | "length" | "eos"


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


class Engine(Protocol):
    """What the server needs of any backend (in-process model or a remote server)."""

    def start(self) -> None: ...
    def submit(self, request: GenerateRequest): ...  # -> concurrent.futures.Future[Generation]
    def close(self) -> None: ...
    @property
    def info(self) -> EngineInfo | None: ...


@dataclass(frozen=True)
class EngineConfig:
    model: str = "embedded"
    device: str = "auto"
    dtype: str = "auto"
    quantize: bool = False
    backend: str = "local"
    url: str = ""
    remote_model: str = ""
    context_tokens: int = 1024


def create_engine(
    config: EngineConfig, on_state: Callable[[str, str], None] | None = None, log=None
) -> Engine:
    """Create (not start) the engine the config names; heavy imports happen here."""
    if config.backend == "openai":
        from reason_lsp.engine.remote import RemoteEngine

        return RemoteEngine(config, on_state=on_state, log=log)
    from reason_lsp.engine.local import LocalEngine

    return LocalEngine(config, on_state=on_state, log=log)
