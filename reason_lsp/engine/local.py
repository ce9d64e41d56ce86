"""The in-process engine: loads the model in the background and serves it from one worker."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from reason_lsp.engine import (
    EngineConfig,
    EngineInfo,
    EngineUnavailable,
    GenerateRequest,
    Priority,
)
from reason_lsp.engine.worker import Worker


class LocalEngine:
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
        self.decoder: Any = None
        self._info: EngineInfo | None = None
        self._on_state = on_state or (lambda state, detail: None)
        self._log = log or (lambda msg: None)
        self._worker = Worker()

    @property
    def info(self) -> EngineInfo | None:
        return self._info

    def start(self) -> None:
        self._on_state("loading", f"Loading model {self.config.model}…")
        self._worker.start(self._load)

    def _load(self) -> None:
        try:
            import torch

            from reason_lsp.engine import loader
            from reason_lsp.engine.decoder import Decoder

            torch.set_grad_enabled(False)
            loaded = loader.load(self.config, log=self._log)
            self.decoder = Decoder(loaded, self.config.context_tokens)
            # Build the healing index and run the kernels once now, not on the first keystroke.
            self.decoder._piece_index()
            self.decoder.generate(
                GenerateRequest(prefix="def main():\n", max_new_tokens=2, key="warm-up")
            )
            self.decoder.slots.pop("warm-up", None)
            self._info = EngineInfo(
                model=self.config.model,
                device=loaded.device.type,
                dtype=str(loaded.dtype).removeprefix("torch."),
                fim=loaded.fim.name if loaded.fim else None,
                backend="local",
            )
            self.state = "ready"
            self._on_state("ready", f"{self._info.device} ({self._info.dtype})")
        except Exception as exc:  # a broken model must not take the server down
            self.state, self.error = "error", str(exc)
            self._log(f"model failed to load: {exc}\n{traceback.format_exc()}")
            self._on_state("error", str(exc))
        finally:
            self.ready.set()

    def run(
        self,
        fn: Callable[[Any], Any],
        cancel_event: threading.Event,
        priority: Priority = Priority.COMPLETION,
        key: str = "",
    ) -> Future:
        """Run ``fn(decoder)`` on the worker; fails fast while no model is ready."""
        if self.state != "ready":
            future: Future = Future()
            reason = "the model is still loading" if self.state == "loading" else self.error
            future.set_exception(EngineUnavailable(reason))
            return future
        return self._worker.submit(lambda: fn(self.decoder), cancel_event, priority, key)

    def submit(self, request: GenerateRequest) -> Future:
        return self.run(
            lambda d: d.generate(request), request.cancel_event, request.priority, request.key
        )

    @property
    def cancelled_jobs(self) -> int:
        return self._worker.cancelled

    def close(self) -> None:
        self._worker.close()
