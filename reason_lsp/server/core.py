"""The server's declared state and the lifecycle it fans out to its features.

:class:`ReasonLanguageServer` holds ``settings``, ``documents`` (text and trees),
``publisher`` (push diagnostics), ``engine`` (the model, or ``None``), ``models``
(which starts and replaces it), ``client_features`` (the client's capabilities,
resolved once at ``initialize``) and ``features``. :func:`register_core` adds the
handlers of the core protocol (lifecycle, documents, settings, diagnostics, code
actions); each one does its part and then calls the same hook on every feature, so
nothing here knows a feature by name. Nothing here imports torch: ``initialize``
must stay fast.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from reason_lsp import __version__, project_config, sandbox
from reason_lsp.engine import Engine
from reason_lsp.server import code_actions, jsonrpc, limits
from reason_lsp.server.capabilities import ClientFeatures
from reason_lsp.server.feature import Context, Feature
from reason_lsp.server.models import ModelHost
from reason_lsp.server.protocol import ReasonProtocol
from reason_lsp.server.publisher import DiagnosticsPublisher
from reason_lsp.settings import NAMESPACE, Settings, parse_settings, unwrap
from reason_lsp.text.diagnostics import collect
from reason_lsp.text.documents import DocumentStore, Snapshot, document_key
from reason_lsp.text.positions import normalize_encoding

log = logging.getLogger(__name__)


class ReasonLanguageServer(LanguageServer):
    """pygls server holding reason-lsp's state."""

    def __init__(self) -> None:
        super().__init__("reason-lsp", __version__, protocol_cls=ReasonProtocol,
                         converter_factory=jsonrpc.strict_converter)  # fmt: skip
        self.settings = Settings()
        self.settings_epoch = 0
        self.documents = DocumentStore()
        self.publisher = DiagnosticsPublisher(self)
        self.engine: Engine | None = None
        self.models = ModelHost(self)
        self.features: list[Feature] = []
        self.client_features = ClientFeatures()
        self.results_epoch = 0
        self._pending_messages: list[str] = []
        self._told: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Blocking work (sandbox runs) goes here, not to asyncio's default pool, so
        # shutdown can drop what has not started.
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="reason-lsp-blocking")
        self._initialized = False
        self._stopped = False
        self._too_big: set[str] = set()  # documents told about being too big for the model
        #: ``exit`` (or the end of input) calls this with the exit code; the transport sets it.
        self.on_exit: Callable[[int], None] | None = None
        self.exit_code: int | None = None

    def add_feature(self, feature: Feature) -> None:
        self.features.append(feature)

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
        return self.client_features.pull_diagnostics

    def engine_ready(self) -> Engine | None:
        """The engine when it is ready to serve, else None."""
        engine = self.engine
        return engine if engine is not None and engine.state == "ready" else None

    def workspace_document(self, uri: str) -> TextDocument | None:
        return self.workspace.text_documents.get(document_key(uri))

    def snapshot(self, uri: str) -> Snapshot | None:
        doc = self.workspace_document(uri)
        if doc is None:
            return None
        return self.documents.snapshot(uri, doc.source, self.encoding)

    def relative_path(self, uri: str) -> str:
        """The document's path relative to the workspace root (its file name outside it)."""
        path = unquote(urlparse(uri).path)
        root = self.workspace.root_path if self._workspace_ready() else None
        if root:
            try:
                return PurePosixPath(path).relative_to(root).as_posix()
            except ValueError:
                pass
        return PurePosixPath(path).name

    def _workspace_ready(self) -> bool:
        try:
            self.workspace  # noqa: B018 - raises before initialize
        except RuntimeError:
            return False
        return True

    def current_version(self, uri: str) -> int | None:
        state = self.documents.get(uri)
        return None if state is None else state.version

    def collect_diagnostics(self, snapshot: Snapshot) -> list[types.Diagnostic]:
        """Syntax diagnostics plus what every feature holds for this snapshot."""
        return collect(snapshot, self.settings, [f.diagnostics for f in self.features])

    def background_results_changed(self, uri: str) -> None:
        """A feature has new results for ``uri``: get them to the client."""
        self.results_epoch += 1
        if not self.pull_diagnostics:
            self.publisher.schedule(uri)
        elif self.client_features.diagnostic_refresh:
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

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking ``fn(*args)`` off the event loop, on the server's own pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors pygls meets outside a response: logged, never shown. Requests already
        got their error response, and the user can do nothing about a hostile message
        or a bug of ours; ``tell`` is for what the user can act on."""
        log.error("%s: %s", getattr(source, "__name__", source), error, exc_info=error)

    def model_features_allowed(self, snapshot: Snapshot) -> bool:
        """Whether model features may look at this document (not too big for them);
        the first time one is not, the user is told, once per document."""
        reason = limits.too_big(snapshot.text, self.settings.max_model_chars)
        if reason is None:
            self._too_big.discard(snapshot.uri)
            return True
        if snapshot.uri not in self._too_big:
            self._too_big.add(snapshot.uri)
            name = PurePosixPath(urlparse(snapshot.uri).path).name or snapshot.uri
            self.tell(f"reason-lsp: {name} {reason}; model features are off for it, "
                      "syntax diagnostics keep working.")  # fmt: skip
        return False

    def request_exit(self, code: int) -> None:
        """``exit`` (or the end of input): stop with ``code``, through the transport."""
        if self.exit_code is None:
            self.exit_code = code
        if self.on_exit is not None:
            self.on_exit(self.exit_code)

    def tell(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        log.warning("%s", message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def tell_once(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """:meth:`tell`, but each distinct message only once per server."""
        if message not in self._told:
            self._told.add(message)
            self.tell(message, kind)

    def fan_out(self, hook: str, *args: Any) -> None:
        """Call ``hook(*args)`` on every feature; one feature's bug is logged, not spread."""
        for feature in self.features:
            try:
                getattr(feature, hook)(*args)
            except Exception:
                log.exception("%s.%s failed", feature.name, hook)

    def prompt_context(self, snapshot: Snapshot, offset: int, budget_chars: int) -> list[Context]:
        """Context for a completion prompt from every feature that has some, in order,
        within ``budget_chars`` in all."""
        found: list[Context] = []
        for feature in self.features:
            left = budget_chars - sum(len(c.text) for c in found)
            if left <= 0:
                break
            try:
                found.extend(feature.prompt_context(snapshot, offset, left))
            except Exception:
                log.exception("%s.prompt_context failed", feature.name)
        return found

    def on_engine_ready(self, engine: Engine) -> None:
        self.fan_out("on_model_ready", engine)

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
        if self._workspace_ready():  # the project's table stays on top (its problems were told)
            settings, _ = project_config.overlay(settings, self.workspace.root_uri)
        if settings != self.settings:
            self.settings = settings
            self.settings_epoch += 1
            self.fan_out("on_settings", settings)
            self.refresh_diagnostics()
            if self.models.config is not None or self._initialized:
                self.models.ensure()

    async def pull_settings(self) -> None:
        """Ask the client for the ``reasonLsp`` section (``workspace/configuration``)."""
        if not self.client_features.configuration:
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
        elif self.client_features.diagnostic_refresh:
            self.workspace_diagnostic_refresh(None)

    def stop(self) -> None:
        """``shutdown`` (and every other way out): stop background work, the features,
        sandbox runs in flight and the engine (whose worker thread is joined)."""
        if self._stopped:
            return
        self._stopped = True
        self.publisher.cancel_all()
        self.fan_out("shutdown")
        for task in list(self._tasks):
            task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        sandbox.kill_running()  # user code never outlives the server
        self.models.stop()


def register_core(server: ReasonLanguageServer) -> None:
    """The core protocol's handlers; each ends by telling every feature."""

    @server.feature(types.INITIALIZE)
    def initialize(ls: ReasonLanguageServer, params: types.InitializeParams) -> None:
        ls.client_features = ClientFeatures.from_capabilities(params.capabilities)
        # The workspace's [tool.reason-lsp] on top: the editor and `check` in CI agree.
        settings, problems = project_config.initial_settings(params)
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
        ls.fan_out("on_open", item.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ReasonLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        # The text and tree were already updated by ReasonProtocol.
        if not ls.pull_diagnostics:
            ls.publisher.schedule(params.text_document.uri)
        ls.fan_out("on_change", params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ReasonLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.close(uri)
        ls._too_big.discard(uri)
        ls.fan_out("on_close", uri)
        if not ls.pull_diagnostics:
            ls.publisher.clear(uri)
        else:
            ls.publisher.forget(uri)

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

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=code_actions.kinds(server.features)),
    )
    async def code_action(
        ls: ReasonLanguageServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        return await code_actions.collect(ls.features, params)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: ReasonLanguageServer, params: None) -> None:
        ls.stop()
