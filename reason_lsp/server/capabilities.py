"""What the client can do, worked out once at ``initialize``.

Handlers and features read these flags instead of walking
``ClientCapabilities`` each time, so every part of the server agrees on, for
example, whether diagnostics are pulled or pushed.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types


@dataclass(frozen=True)
class ClientFeatures:
    pull_diagnostics: bool = False
    diagnostic_refresh: bool = False
    work_done_progress: bool = False
    configuration: bool = False
    watched_files_dynamic: bool = False

    @classmethod
    def from_capabilities(cls, caps: types.ClientCapabilities | None) -> ClientFeatures:
        if caps is None:
            return cls()
        text, ws, window = caps.text_document, caps.workspace, caps.window
        watched = ws.did_change_watched_files if ws is not None else None
        return cls(
            pull_diagnostics=text is not None and text.diagnostic is not None,
            diagnostic_refresh=bool(
                ws is not None and ws.diagnostics is not None and ws.diagnostics.refresh_support
            ),
            work_done_progress=bool(window and window.work_done_progress),
            configuration=bool(ws is not None and ws.configuration),
            watched_files_dynamic=bool(watched and watched.dynamic_registration),
        )
