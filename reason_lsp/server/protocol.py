"""The JSON-RPC/LSP protocol layer: pygls's protocol with this server's two changes.

* ``didChange`` applies edits through :mod:`reason_lsp.text.documents` (exact
  positions, incremental tree), not pygls's own text update.
* A message whose params do not fit its method gets a JSON-RPC ``InvalidParams``
  error response if it is a request (pygls would drop it and leave the client
  waiting) and an error in the log if it is a notification; the server carries on
  either way.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol, lsp_method

log = logging.getLogger(__name__)

# A malformed message that was already answered (or logged): nothing left to do.
_HANDLED = object()


class EditTarget(Protocol):
    def apply_did_change(self, params: types.DidChangeTextDocumentParams) -> None: ...


class ReasonProtocol(LanguageServerProtocol):
    _server: Any  # the ReasonLanguageServer (an EditTarget)

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            method = data.get("method")
            if not isinstance(method, str):
                raise
            log.error("malformed %r message: %s", method, exc.__cause__ or exc)
            if "id" in data:
                error = JsonRpcInvalidParams(f"invalid params for {method}: {exc.__cause__}")
                self._send_response(data["id"], error=error.to_response_error())
            return _HANDLED

    def handle_message(self, message: Any) -> None:
        if message is not _HANDLED:
            super().handle_message(message)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        target: EditTarget = self._server
        target.apply_did_change(params)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None
