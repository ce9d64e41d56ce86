"""What every engine shares: its state, the worker thread it runs on, and failing fast.

:class:`WorkerEngine` holds ``state``/``error``/``info``, reports state changes,
starts its one worker thread with the backend's ``_setup`` (loading a model,
connecting to a server) and queues jobs on it. A job submitted while the engine is
not ready, or for a capability it lacks, gets a future that has already failed, so
callers never wait on something that cannot come.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from reason_lsp.engine.api import (
    GENERATE,
    EngineConfig,
    EngineInfo,
    EngineUnavailable,
    GenerateRequest,
    Priority,
    Unsupported,
)
from reason_lsp.engine.worker import Worker


def failed(exc: Exception) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future


class WorkerEngine:
    """The shared half of the local and remote engines."""

    #: Subclasses name what they can do (``reason_lsp.engine.api`` capability names).
    CAPABILITIES: frozenset[str] = frozenset({GENERATE})
    WORKER_NAME = "reason-lsp-model"

    def __init__(
        self,
        config: EngineConfig,
        on_state: Callable[[str, str], None] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.state = "loading"
        self.error = ""
        self.ready = threading.Event()
        self._info: EngineInfo | None = None
        self._on_state = on_state or (lambda state, detail: None)
        self._log = log or (lambda msg: None)
        self._worker = Worker(self.WORKER_NAME, on_idle=self._on_idle)

    @property
    def info(self) -> EngineInfo | None:
        return self._info

    @property
    def capabilities(self) -> frozenset[str]:
        return self.CAPABILITIES

    @property
    def cancelled_jobs(self) -> int:
        return self._worker.cancelled

    @property
    def model_folder(self) -> str | None:
        return None

    def start(self) -> None:
        self._on_state("loading", self._starting_message())
        self._worker.start(self._guarded_setup)

    def _starting_message(self) -> str:
        return f"Loading model {self.config.model}…"

    def _setup(self) -> EngineInfo:
        """Runs on the worker before any job; returns the engine's info or raises."""
        raise NotImplementedError

    def _on_idle(self) -> None:
        """Runs on the worker after a quiet second (housekeeping; nothing by default)."""

    def _guarded_setup(self) -> None:
        try:
            self._info = self._setup()
            self.state = "ready"
            self._on_state("ready", self._ready_message(self._info))
        except Exception as exc:  # a broken model or server must not take the server down
            self.state, self.error = "error", self._error_message(exc)
            self._log(self.error)
            self._on_state("error", self.error)
        finally:
            self.ready.set()

    def _ready_message(self, info: EngineInfo) -> str:
        return f"{info.device} ({info.dtype})"

    def _error_message(self, exc: Exception) -> str:
        return str(exc)

    def queue(
        self,
        fn: Callable[[], Any],
        cancel_event: threading.Event,
        priority: Priority = Priority.COMPLETION,
        key: str = "",
        needs: str = GENERATE,
    ) -> Future:
        """Run ``fn()`` on the worker; fails fast while not ready or without ``needs``."""
        if needs not in self.capabilities:
            return failed(Unsupported(self.unsupported_reason(needs)))
        if self.state != "ready":
            reason = "the model is still loading" if self.state == "loading" else self.error
            return failed(EngineUnavailable(reason))
        return self._worker.submit(fn, cancel_event, priority, key)

    def unsupported_reason(self, capability: str) -> str:
        return f"the {self.config.backend} backend cannot {capability}"

    def score(self, context: str, text: str, cancel: threading.Event, key: str = "") -> Future:
        return failed(Unsupported(self.unsupported_reason("score")))

    def members(self, request: GenerateRequest, k: int = 5) -> Future:
        return failed(Unsupported(self.unsupported_reason("members")))

    def close(self) -> None:
        self._worker.close()
