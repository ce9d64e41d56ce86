"""The in-process engine: loads the model in the background and serves it from one worker."""

from __future__ import annotations

import threading
import traceback
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from reason_lsp.engine import native_memory
from reason_lsp.engine.api import (
    GENERATE,
    MEMBERS,
    RANK,
    SCORE,
    EngineInfo,
    GenerateRequest,
    Priority,
)
from reason_lsp.engine.base import WorkerEngine

#: What installs every package the model needs (they are also ``reason-lsp``'s defaults).
INSTALL_MODEL = "pip install 'reason-lsp[model]'"
#: Import names whose distribution is called something else.
_DISTRIBUTIONS = {"yaml": "PyYAML", "huggingface_hub": "huggingface-hub"}


def missing_package(exc: ImportError) -> str:
    """One sentence for a model package that cannot be imported: which one, and the fix."""
    name = (exc.name or "").partition(".")[0]
    if isinstance(exc, ModuleNotFoundError) and name:
        package = _DISTRIBUTIONS.get(name, name)
        return (
            f"the model needs the Python package {package}, which is not installed; "
            f"install it with: {INSTALL_MODEL}"
        )
    # Installed but broken (a missing shared library, a version that lacks a name).
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"the model packages cannot be imported ({reason}); reinstall them with: {INSTALL_MODEL}"


class LocalEngine(WorkerEngine):
    CAPABILITIES = frozenset({GENERATE, SCORE, MEMBERS, RANK})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decoder: Any = None

    @property
    def model_folder(self) -> str | None:
        return self.decoder.m.folder if self.decoder is not None else None

    def _setup(self) -> EngineInfo:
        import torch

        from reason_lsp.engine import loader
        from reason_lsp.engine.decoder import Decoder

        torch.set_grad_enabled(False)
        try:
            loaded = loader.load(self.config, log=self._log, lean_only=True)
        except Exception as exc:
            self._log(f"model failed to load: {exc}\n{traceback.format_exc()}")
            raise
        self.decoder = Decoder(loaded, self.config.context_tokens)
        self.decoder.release_eager()  # resident memory: one copy of the weights
        native_memory.return_freed_memory()
        # Build the healing index and run the kernels once now, not on the first keystroke.
        self.decoder.warm_up()
        named = self.config.model
        if loaded.folder and Path(loaded.folder).name not in named:  # which model "embedded" is
            named = f"{named} ({Path(loaded.folder).name})"
        return EngineInfo(
            model=named,
            device=loaded.device.type,
            dtype=str(loaded.dtype).removeprefix("torch."),
            fim=loaded.fim.name if loaded.fim else None,
            backend="local",
            window=self.decoder.max_positions,
        )

    def _on_idle(self) -> None:
        # A prefill's temporaries and a replaced slot's cache leave free pages glibc
        # keeps; handing them back after each quiet second keeps RSS at what is in use.
        native_memory.return_freed_memory()

    def _error_message(self, exc: Exception) -> str:
        if isinstance(exc, ImportError):  # torch, transformers, ... not installed
            return missing_package(exc)
        return super()._error_message(exc)

    def run(
        self,
        fn,
        cancel_event: threading.Event,
        priority: Priority = Priority.COMPLETION,
        key: str = "",
    ) -> Future:
        """Run ``fn(decoder)`` on the worker (for callers that need the decoder itself)."""
        return self.queue(lambda: fn(self.decoder), cancel_event, priority, key)

    def submit(self, request: GenerateRequest) -> Future:
        return self.queue(
            lambda: self.decoder.generate(request),
            request.cancel_event,
            request.priority,
            request.key,
        )

    def score(self, context: str, text: str, cancel: threading.Event, key: str = "") -> Future:
        def job() -> list:
            from reason_lsp.engine.scoring import score  # torch: worker thread only

            return score(self.decoder, context, text, cancel=cancel)

        return self.queue(job, cancel, Priority.SCORING, key, needs=SCORE)

    def members(self, request: GenerateRequest, k: int = 5) -> Future:
        return self.queue(
            lambda: self.decoder.identifiers(request, "", k=k),
            request.cancel_event,
            request.priority,
            request.key + "#members",
            needs=MEMBERS,
        )
