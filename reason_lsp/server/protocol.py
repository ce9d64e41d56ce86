"""The JSON-RPC/LSP protocol layer: pygls's protocol, made to answer every message.

* :meth:`ReasonProtocol.receive` takes one frame's body: unparseable JSON gets a
  ``ParseError`` (-32700) with ``"id": null``; a batch array gets ``InvalidRequest``
  (-32600) for each request in it (LSP has no batches).
* :meth:`ReasonProtocol.structure_message` checks the envelope and the lifecycle
  first (:mod:`reason_lsp.server.jsonrpc`: -32600, -32002), then structures with
  the strict converter. A message whose params do not fit its method gets
  ``InvalidParams`` (-32602) if it is a request (pygls would drop it and leave the
  client waiting) and an error in the log if it is a notification (a ``didChange``
  with a number for its text is rejected whole; the document stays as it was).
* A response is accepted only for a request this server sent and is waiting on; a
  spoofed one (say, reusing the id of one of the client's own requests) is logged.
* ``workspace/executeCommand`` without ``arguments`` is ``InvalidParams``, not an
  internal error; ``exit`` asks the transport to stop instead of raising SystemExit.
* Document URIs are given the spelling the document was opened with
  (:meth:`reason_lsp.text.documents.DocumentStore.spelling`), so pygls's workspace,
  the document store and every feature key one document by one string.
* ``didChange`` applies edits through :mod:`reason_lsp.text.documents` (exact
  positions, incremental tree), not pygls's own text update.

Nothing here shows the user anything: hostile input is logged, answered where it
has an id, and the server carries on.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol, lsp_method

from reason_lsp.server import jsonrpc

log = logging.getLogger(__name__)

# A message that was already answered (or logged): nothing left to do.
_HANDLED = object()


class Target(Protocol):
    """What the protocol needs of the server."""

    documents: Any  # reason_lsp.text.documents.DocumentStore

    def apply_did_change(self, params: types.DidChangeTextDocumentParams) -> None: ...
    def request_exit(self, code: int) -> None: ...


class ReasonProtocol(LanguageServerProtocol):
    _server: Any  # the ReasonLanguageServer (a Target)

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self.lifecycle: jsonrpc.Lifecycle = "new"
        self._outgoing: set[Any] = set()  # ids of our requests still awaiting the client
        #: Messages turned away (answered or logged), by code: for tests and logs.
        self.rejected: dict[int, int] = {}

    # -- input ---------------------------------------------------------------------------

    def receive(self, body: bytes) -> None:
        """Handle one frame's body; never raises."""
        data, problem = jsonrpc.parse(body)
        try:
            if problem is not None:
                self.reject(problem)
            elif isinstance(data, list) and data:
                self._batch(data)
            else:
                self.handle_message(self.structure_message(data))
        except Exception:
            log.exception("a message could not be handled")

    def _batch(self, items: list[Any]) -> None:
        message = "Invalid Request: LSP has no batches; send each message on its own"
        answered = False
        for item in items:
            if isinstance(item, dict) and "method" in item and jsonrpc.valid_id(item.get("id")):
                self.reject(jsonrpc.Rejection(jsonrpc.INVALID_REQUEST, message, item["id"]))
                answered = True
        if not answered:
            self.reject(jsonrpc.Rejection(jsonrpc.INVALID_REQUEST, message))

    def reject(self, rejection: jsonrpc.Rejection) -> None:
        """Log ``rejection`` and, when it is to be answered, send it as an error response."""
        self.rejected[rejection.code] = self.rejected.get(rejection.code, 0) + 1
        log.warning("rejected a message (%d): %s", rejection.code, rejection.message)
        if not rejection.answer:
            return
        error = types.ResponseError(code=rejection.code, message=rejection.message)
        if rejection.id is not None:
            self._send_response(rejection.id, error=error)
            return
        # lsprotocol leaves out a None id, but JSON-RPC wants "id": null here.
        response = self._converter.unstructure(types.ResponseErrorMessage(id=None, error=error))
        self._send_data({**response, "id": None})

    def structure_message(self, data: Any) -> Any:
        rejection = jsonrpc.check(data, self.lifecycle)
        if rejection is not None:
            self.reject(rejection)
            return _HANDLED
        if "method" not in data:
            return self._structure_response(data)
        method = data["method"]
        try:
            message = super().structure_message(data)
        except JsonRpcException as exc:
            cause = exc.__cause__ or exc
            log.error("malformed %r message: %s", method, _describe(cause))
            if "id" in data:
                error = JsonRpcInvalidParams(f"invalid params for {method}: {_describe(cause)}")
                self._send_response(data["id"], error=error.to_response_error())
            return _HANDLED
        if "id" in data and method == types.INITIALIZE:
            self.lifecycle = "running"
        elif "id" in data and method == types.SHUTDOWN:
            self.lifecycle = "shut down"
        self._canonical_uri(getattr(message, "params", None))
        return message

    def _structure_response(self, data: dict[str, Any]) -> Any:
        msg_id = data["id"]
        if msg_id not in self._outgoing:
            log.warning("a response to %r, which is no request of ours, was dropped", msg_id)
            return _HANDLED
        self._outgoing.discard(msg_id)
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            log.error("malformed response to %r: %s", msg_id, _describe(exc.__cause__ or exc))
            future = self._request_futures.pop(msg_id, None)
            if future is not None and not future.done():
                future.set_exception(exc)
            return _HANDLED

    def _canonical_uri(self, params: Any) -> None:
        document = getattr(params, "text_document", None)
        uri = getattr(document, "uri", None)
        if isinstance(uri, str):
            document.uri = self._server.documents.spelling(uri)

    def handle_message(self, message: Any) -> None:
        if message is not _HANDLED:
            super().handle_message(message)

    # -- output --------------------------------------------------------------------------

    def send_request(self, method: str, params: Any | None = None, callback: Any = None,
                     msg_id: Any = None) -> Any:  # fmt: skip
        msg_id = str(uuid.uuid4()) if msg_id is None else msg_id
        self._outgoing.add(msg_id)
        future = super().send_request(method, params, callback, msg_id)
        future.add_done_callback(lambda _: self._outgoing.discard(msg_id))
        return future

    # -- built-in methods ------------------------------------------------------------------

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Any:
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None
        # LSP: exit code 0 after shutdown, 1 without it.
        target: Target = self._server
        target.request_exit(0 if self._shutdown else 1)

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Any:
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current = self.msg_id
        # pygls iterates the live dict, but cancelling a command's future pops it from
        # there at once ("dictionary changed size"), failing the shutdown: use a copy.
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()
        self._shutdown = True

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Any:
        if params.arguments is None:
            # pygls would call the command with no arguments (an InternalError when it
            # needs some); as an empty list, a missing argument is InvalidParams.
            params.arguments = []
        return (yield from super().lsp_workspace__execute_command(params))

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        target: Target = self._server
        target.apply_did_change(params)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None


def _describe(exc: BaseException) -> str:
    """A cattrs validation error as one line: the innermost reasons."""
    inner = getattr(exc, "exceptions", None)
    if inner:
        return "; ".join(_describe(e) for e in inner)
    return str(exc) or type(exc).__name__
