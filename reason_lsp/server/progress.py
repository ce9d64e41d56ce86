"""``$/progress`` for one piece of work, when the client supports it (else nothing).

Used for model loading and for the generation commands alike. ``begin`` asks the
client for a token first (``window/workDoneProgress/create``); a refused token, or
work that ends before the token arrives, sends nothing more.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from lsprotocol import types

log = logging.getLogger(__name__)


class Progress:
    def __init__(self, server: Any, title: str) -> None:
        self.server, self.title = server, title
        self.token: str | None = None
        self._ended = False

    @property
    def supported(self) -> bool:
        return self.server.client_features.work_done_progress

    async def begin(self, message: str | None = None, percentage: int | None = 0) -> None:
        if not self.supported:
            return
        token = f"reason-lsp-{uuid.uuid4().hex[:8]}"
        try:
            await self.server.work_done_progress.create_async(token)
        except Exception:
            log.debug("client refused a progress token", exc_info=True)
            return
        if self._ended:  # the work was over before the client answered
            return
        self.token = token
        self.server.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(title=self.title, message=message, percentage=percentage),
        )

    def report(self, message: str, percentage: int | None = None) -> None:
        if self.token is not None:
            self.server.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )

    def end(self, message: str) -> None:
        self._ended = True
        if self.token is not None:
            self.server.work_done_progress.end(
                self.token, types.WorkDoneProgressEnd(message=message)
            )
            self.token = None
