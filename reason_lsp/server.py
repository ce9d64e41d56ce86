"""The language server: thin pygls handlers over the pure core.

Each handler reads the document, calls a plain function from ``documents``,
``diagnostics`` or ``settings``, and converts the answer to lsprotocol types.

* :class:`ReasonProtocol` replaces pygls's built-in ``didChange`` text update so
  that every content change is applied once, with this project's exact position
  conversion, to both pygls's text and the document's tree-sitter tree.
* :class:`ReasonLanguageServer` holds the domain state: ``settings``,
  ``documents`` (trees), ``publisher`` (push diagnostics) and ``engine`` (the
  model engine from ``reason_lsp.engine``; ``None`` until that issue plugs it in).

Nothing here imports torch or transformers: ``initialize`` must stay fast.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.workspace import TextDocument

from reason_lsp import __version__, completion_lsp, unlikely_lsp
from reason_lsp.diagnostics import collect
from reason_lsp.documents import DocumentStore, Snapshot
from reason_lsp.model_host import ModelHost
from reason_lsp.positions import normalize_encoding
from reason_lsp.publisher import DiagnosticsPublisher
from reason_lsp.settings import NAMESPACE, Settings, parse_settings, unwrap

log = logging.getLogger(__name__)


# A malformed message that was already answered (or logged): nothing left to do.
_HANDLED = object()


class ReasonProtocol(LanguageServerProtocol):
    """pygls protocol with two changes.

    * ``didChange`` applies edits through :mod:`reason_lsp.documents` (exact
      positions, incremental tree), not pygls's own text update.
    * A message whose params do not fit its method gets a JSON-RPC
      ``InvalidParams`` error response if it is a request (pygls would drop it
      and leave the client waiting) and an error in the log if it is a
      notification; the server carries on either way.
    """

    _server: ReasonLanguageServer

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
        self._server.apply_did_change(params)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None


class ReasonLanguageServer(LanguageServer):
    """pygls server holding reason-lsp's state."""

    def __init__(self) -> None:
        super().__init__("reason-lsp", __version__, protocol_cls=ReasonProtocol)
        self.settings = Settings()
        self.settings_epoch = 0
        self.documents = DocumentStore()
        self.publisher = DiagnosticsPublisher(self)
        # The model engine (reason_lsp.engine) plugs in here; None means "no model yet".
        self.engine: Any = None
        self.models = ModelHost(self)
        # Stateful diagnostic providers (snapshot, settings) -> diagnostics, added by features.
        self.diagnostic_sources: list[Any] = []
        self.results_epoch = 0
        self._pending_messages: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._initialized = False

    # -- state helpers ------------------------------------------------------------

    @property
    def encoding(self) -> str:
        """The negotiated position encoding ("utf-16" unless the client offered another)."""
        try:
            return normalize_encoding(self.workspace.position_encoding)
        except RuntimeError:  # not initialized yet
            return normalize_encoding(None)

    @property
    def pull_diagnostics(self) -> bool:
        """True when the client pulls diagnostics (then the server does not push them)."""
        caps = self.client_capabilities
        return caps.text_document is not None and caps.text_document.diagnostic is not None

    def workspace_document(self, uri: str) -> TextDocument | None:
        return self.workspace.text_documents.get(unquote(uri))

    def snapshot(self, uri: str) -> Snapshot | None:
        doc = self.workspace_document(uri)
        if doc is None:
            return None
        return self.documents.snapshot(uri, doc.source, self.encoding)

    def current_version(self, uri: str) -> int | None:
        state = self.documents.get(uri)
        return None if state is None else state.version

    def collect_diagnostics(self, snapshot: Snapshot) -> list[types.Diagnostic]:
        """The diagnostics pipeline plus the providers features registered on this server."""
        return collect(snapshot, self.settings, self.diagnostic_sources)

    def background_results_changed(self, uri: str) -> None:
        """A stateful provider has new results for ``uri``: get them to the client."""
        self.results_epoch += 1
        if not self.pull_diagnostics:
            self.publisher.schedule(uri)
            return
        ws = self.client_capabilities.workspace
        if ws is not None and ws.diagnostics is not None and ws.diagnostics.refresh_support:
            self.workspace_diagnostic_refresh(None)

    def run_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a background task that is kept, and whose failure is logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed", name, exc_info=t.exception())

        task.add_done_callback(done)
        return task

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors outside any handler. Unparseable input is logged, not shown: it
        has no id to answer (pygls would drop an ``"id": null`` error response's id,
        which confuses clients), and the user can do nothing about it."""
        if isinstance(error, ValueError):  # JSONDecodeError, UnicodeDecodeError
            log.error("unparseable message skipped: %s", error)
            return
        super().report_server_error(error, source)

    def tell(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        log.warning("%s", message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    # -- documents -----------------------------------------------------------------

    def apply_did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        """Apply one didChange to pygls's text and to the tree, resyncing on failure."""
        uri = params.text_document.uri
        doc = self.workspace_document(uri)
        if doc is None:
            log.warning("didChange for a document that is not open: %s", uri)
            return
        if uri not in self.documents:
            self.documents.open(uri, doc.source, doc.version, doc.language_id)
        version = params.text_document.version
        try:
            text = self.documents.apply_changes(
                uri, doc.source, params.content_changes, version, self.encoding
            )
            doc.apply_change(types.TextDocumentContentChangeWholeDocument(text=text))
        except Exception:
            log.exception("%s: could not apply an edit; falling back to pygls and resyncing", uri)
            try:
                for change in params.content_changes:
                    doc.apply_change(change)
            except Exception:
                log.exception("%s: pygls could not apply it either", uri)
            self.documents.resync(uri, doc.source)
        doc.version = version
        self.documents.verify(uri, doc.source)

    # -- settings --------------------------------------------------------------------

    def apply_settings(self, raw: Any) -> None:
        """Replace the settings from a client payload; tell the user about bad values."""
        if not unwrap(raw):
            return  # nothing sent: keep what we have
        settings, problems = parse_settings(raw)
        for problem in problems:
            self.tell(problem)
        if settings != self.settings:
            self.settings = settings
            self.settings_epoch += 1
            self.refresh_diagnostics()
            if self.models.config is not None or self._initialized:
                self.models.ensure()

    async def pull_settings(self) -> None:
        """Ask the client for the ``reasonLsp`` section (``workspace/configuration``)."""
        caps = self.client_capabilities.workspace
        if caps is None or not caps.configuration:
            return
        params = types.ConfigurationParams(items=[types.ConfigurationItem(section=NAMESPACE)])
        try:
            result = await asyncio.wait_for(self.workspace_configuration_async(params), 10)
        except Exception:
            log.warning("workspace/configuration failed", exc_info=True)
            return
        if result:
            self.apply_settings(result[0])

    def refresh_diagnostics(self) -> None:
        if not self.pull_diagnostics:
            for uri in self.documents.uris():
                self.publisher.schedule(uri)
            return
        ws = self.client_capabilities.workspace
        if ws is not None and ws.diagnostics is not None and ws.diagnostics.refresh_support:
            self.workspace_diagnostic_refresh(None)


def create_server() -> ReasonLanguageServer:
    """A server with every handler registered."""
    server = ReasonLanguageServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: ReasonLanguageServer, params: types.InitializeParams) -> None:
        settings, problems = parse_settings(params.initialization_options)
        ls.settings = settings
        ls._pending_messages.extend(problems)  # shown once the client is ready
        log.info("reason-lsp %s: position encoding %s", __version__, ls.encoding)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: ReasonLanguageServer, params: types.InitializedParams) -> None:
        for message in ls._pending_messages:
            ls.tell(message)
        ls._pending_messages.clear()
        await ls.pull_settings()
        ls._initialized = True
        ls.models.ensure()  # the model loads on its own thread from here

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: ReasonLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        if unwrap(params.settings):
            ls.apply_settings(params.settings)
        else:
            await ls.pull_settings()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ReasonLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        doc = ls.workspace_document(item.uri)
        text = doc.source if doc is not None else item.text
        ls.documents.open(item.uri, text, item.version, item.language_id)
        if not ls.pull_diagnostics:
            ls.publisher.schedule(item.uri)
        ls.unlikely.schedule(item.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ReasonLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        # The text and tree were already updated by ReasonProtocol.
        if not ls.pull_diagnostics:
            ls.publisher.schedule(params.text_document.uri)
        ls.unlikely.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ReasonLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.close(uri)
        ls.unlikely.forget(uri)
        if not ls.pull_diagnostics:
            ls.publisher.clear(uri)

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(
            identifier="reason-lsp", inter_file_dependencies=False, workspace_diagnostics=False
        ),
    )
    def diagnostic(
        ls: ReasonLanguageServer, params: types.DocumentDiagnosticParams
    ) -> types.DocumentDiagnosticReport:
        snapshot = ls.snapshot(params.text_document.uri)
        if snapshot is None:
            return types.RelatedFullDocumentDiagnosticReport(items=[])
        # Background results (model warnings) for the same version change the id too.
        result_id = f"{snapshot.version}.{ls.settings_epoch}.{ls.results_epoch}"
        if params.previous_result_id == result_id:
            return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
        return types.RelatedFullDocumentDiagnosticReport(
            items=ls.collect_diagnostics(snapshot), result_id=result_id
        )

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: ReasonLanguageServer, params: None) -> None:
        ls.publisher.cancel_all()
        ls.models.stop()

    completion_lsp.register(server)
    unlikely_lsp.register(server)
    from reason_lsp import generation_lsp  # commands, code action, example diagnostics

    generation_lsp.register(server)
    return server
