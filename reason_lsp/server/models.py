"""The model engine's life inside the server: start after ``initialized``, report, restart.

The engine loads on its own worker thread, so ``initialize`` never waits on torch.
Progress goes to the client as ``$/progress`` ("Loading model…") when it supports
work-done progress, and always as a ``reasonLsp/status`` notification that the
VS Code extension shows in its status bar. A model that fails to load leaves the
server running with syntax features only (state ``error``). When an engine is
ready the server's features hear of it through ``on_engine_ready``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import attrs

from reason_lsp.engine import Engine, EngineConfig, catalog, create_engine, latency
from reason_lsp.server.capabilities import ClientFeatures
from reason_lsp.server.progress import Progress
from reason_lsp.settings import Settings

log = logging.getLogger(__name__)

STATUS_METHOD = "reasonLsp/status"
BACKEND_STATS_METHOD = "reasonLsp/backendStats"


@attrs.define
class StatusParams:
    """``reasonLsp/status``: the model's state for the editor's status bar."""

    state: str  # "loading" | "ready" | "retrying" | "error" | "syntax-only"
    model: str = ""
    device: str = ""
    message: str = ""


@attrs.define
class BackendStatsResult:
    """``reasonLsp/backendStats``: each remote backend's latency and errors in this process
    (:mod:`reason_lsp.engine.latency`; ``reason-lsp stats`` prints it)."""

    version: int
    pid: int
    updated: float
    backends: list[Any]


def backend_stats() -> BackendStatsResult:
    snap = latency.snapshot()
    return BackendStatsResult(snap.version, snap.pid, snap.updated, snap.backends)


class Host(Protocol):
    """What the model host needs of the server."""

    settings: Settings
    engine: Engine | None
    client_features: ClientFeatures
    protocol: Any
    work_done_progress: Any

    def run_task(self, coro: Any, name: str) -> Any: ...
    def tell(self, message: str) -> None: ...
    def on_engine_ready(self, engine: Engine) -> None: ...


def wanted(settings: Settings) -> bool:
    if settings.model.strip().lower() in ("none", "off"):
        return False
    return settings.completion_enable or settings.completion_inline or settings.diagnostics_model


class ModelHost:
    """Owns ``server.engine``: creates it from the settings and recreates it when they change."""

    def __init__(self, server: Host) -> None:
        self.server = server
        #: Builds an engine from a config (tests put a fake engine behind the protocol here).
        self.factory = create_engine
        #: Why the model the settings name is not the one that will run (None: it is);
        #: a fake engine's tests replace it with the factory.
        self.fallback_note = catalog.fallback_note
        self.config: EngineConfig | None = None
        self.status = StatusParams("syntax-only")
        self._progress: Progress | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._told_unreachable = False
        self._told_fallback = False
        register = getattr(server, "feature", None)
        if register is not None:
            register(BACKEND_STATS_METHOD)(lambda ls, params: backend_stats())

    def ensure(self) -> None:
        """Start the engine the settings ask for (or stop it); call on the event loop."""
        self._loop = asyncio.get_running_loop()
        settings = self.server.settings
        config = EngineConfig.from_settings(settings) if wanted(settings) else None
        if config == self.config:
            return
        self.stop()
        self.config = config
        if config is None:
            self._publish(StatusParams("syntax-only", message="model features are off"))
            return
        self._tell_fallback(config)
        engine = self.factory(config, on_state=self._on_state_threadsafe, log=log.info)
        self.server.engine = engine
        engine.start()

    def _tell_fallback(self, config: EngineConfig) -> None:
        """Once per server: the default model is the tiny one because none was fetched."""
        note = self.fallback_note(config.model) if config.backend == "local" else None
        if note is not None and not self._told_fallback:
            self._told_fallback = True
            self.server.tell(f"reason-lsp: {note}.")

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
            self._progress = Progress(self.server, "Loading model…")
            self.server.run_task(self._progress.begin(detail, None), "progress-begin")
            self._publish(StatusParams("loading", model=model, message=detail))
        elif state == "retrying":
            # The server went away (or was never there): completions pause, syntax goes
            # on, and the engine reconnects by itself; said in the status bar every time,
            # in a message once.
            self._end_progress("Model server unreachable; retrying")
            self._publish(StatusParams("retrying", model=model, message=detail))
            if not self._told_unreachable:
                self._told_unreachable = True
                self.server.tell(f"reason-lsp: {detail}; completions resume when it is "
                                 "back, syntax diagnostics keep working.")  # fmt: skip
        elif state == "ready":
            device = info.device if info else ""
            self._end_progress(f"Model ready on {device}")
            self._publish(StatusParams("ready", model=model, device=device, message=detail))
            if engine is not None:
                self.server.on_engine_ready(engine)
        else:
            self._end_progress("Model failed to load; syntax features stay on")
            self._publish(StatusParams("error", model=model, message=detail))
            self.server.tell(f"reason-lsp: the model could not be loaded ({detail}); "
                             "syntax diagnostics keep working.")  # fmt: skip

    def _end_progress(self, message: str) -> None:
        if self._progress is not None:
            self._progress.end(message)
            self._progress = None

    def _publish(self, status: StatusParams) -> None:
        self.status = status
        try:
            self.server.protocol.notify(STATUS_METHOD, status)
        except Exception:  # the client may be gone; status is best effort
            log.debug("could not send %s", STATUS_METHOD, exc_info=True)
