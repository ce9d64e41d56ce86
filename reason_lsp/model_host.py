"""The model engine's life inside the server: start after ``initialized``, report, restart.

The engine loads on its own worker thread, so ``initialize`` never waits on torch.
Progress goes to the client as ``$/progress`` ("Loading model…") when it supports
work-done progress, and always as a ``reasonLsp/status`` notification that the
VS Code extension shows in its status bar. A model that fails to load leaves the
server running with syntax features only (state ``error``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

import attrs
from lsprotocol import types

from reason_lsp.engine import EngineConfig, create_engine
from reason_lsp.settings import Settings

if TYPE_CHECKING:
    from reason_lsp.server import ReasonLanguageServer

log = logging.getLogger(__name__)

STATUS_METHOD = "reasonLsp/status"


@attrs.define
class StatusParams:
    """``reasonLsp/status``: the model's state for the editor's status bar."""

    state: str  # "loading" | "ready" | "error" | "syntax-only"
    model: str = ""
    device: str = ""
    message: str = ""


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        model=settings.model,
        device=settings.device,
        dtype=settings.dtype,
        quantize=settings.quantize,
        backend=settings.backend,
        url=settings.openai_url,
        remote_model=settings.openai_model,
        context_tokens=settings.context_tokens,
    )


class ModelHost:
    """Owns ``server.engine``: creates it from the settings and recreates it when they change."""

    def __init__(self, server: ReasonLanguageServer) -> None:
        self.server = server
        self.config: EngineConfig | None = None
        self.status = StatusParams("syntax-only")
        self._progress_token: str | None = None
        self._begun: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def wanted(self) -> bool:
        s = self.server.settings
        if s.model.strip().lower() in ("none", "off"):
            return False
        return s.completion_enable or s.completion_inline or s.diagnostics_model

    def ensure(self) -> None:
        """Start the engine the settings ask for (or stop it); call on the event loop."""
        self._loop = asyncio.get_running_loop()
        config = engine_config(self.server.settings) if self.wanted else None
        if config == self.config:
            return
        self.stop()
        self.config = config
        if config is None:
            self._publish(StatusParams("syntax-only", message="model features are off"))
            return
        engine = create_engine(config, on_state=self._on_state_threadsafe, log=log.info)
        self.server.engine = engine
        engine.start()

    def stop(self) -> None:
        if self.server.engine is not None:
            self.server.engine.close()
            self.server.engine = None

    # -- state reports (the engine calls these from its worker thread) ----------------

    def _on_state_threadsafe(self, state: str, detail: str) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_state, state, detail)

    def _on_state(self, state: str, detail: str) -> None:
        engine = self.server.engine
        info = engine.info if engine is not None else None
        model = self.config.model if self.config else ""
        if state == "loading":
            self._begin_progress(detail)
            self._publish(StatusParams("loading", model=model, message=detail))
        elif state == "ready":
            device = info.device if info else ""
            self._end_progress(f"Model ready on {device}")
            self._publish(StatusParams("ready", model=model, device=device, message=detail))
            unlikely = getattr(self.server, "unlikely", None)
            for uri in self.server.documents.uris() if unlikely is not None else ():
                unlikely.schedule(uri)  # documents opened while the model loaded
        else:
            self._end_progress("Model failed to load; syntax features stay on")
            self._publish(StatusParams("error", model=model, message=detail))
            self.server.tell(f"reason-lsp: the model could not be loaded ({detail}); "
                             "syntax diagnostics keep working.")  # fmt: skip

    def _publish(self, status: StatusParams) -> None:
        self.status = status
        try:
            self.server.protocol.notify(STATUS_METHOD, status)
        except Exception:  # the client may be gone; status is best effort
            log.debug("could not send %s", STATUS_METHOD, exc_info=True)

    def _supports_progress(self) -> bool:
        window = self.server.client_capabilities.window
        return bool(window and window.work_done_progress)

    def _begin_progress(self, title: str) -> None:
        if not self._supports_progress():
            return
        token = f"reason-lsp-model-{uuid.uuid4().hex[:8]}"
        self._progress_token = token

        async def begin() -> None:
            try:
                await self.server.work_done_progress.create_async(token)
            except Exception:
                log.debug("client refused a progress token", exc_info=True)
                return
            if self._progress_token == token:  # not already over
                self.server.work_done_progress.begin(
                    token, types.WorkDoneProgressBegin(title="Loading model…", message=title)
                )
                self._begun.add(token)

        self.server.run_task(begin(), "progress-begin")

    def _end_progress(self, message: str) -> None:
        token, self._progress_token = self._progress_token, None
        if token is not None and token in self._begun:
            self._begun.discard(token)
            self.server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
