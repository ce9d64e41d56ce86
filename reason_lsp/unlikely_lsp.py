"""The "unlikely code" diagnostics in the server: background scoring and the quick fix.

After a document changes and stays quiet for a moment, the regions whose key is
not cached are scored on the engine's worker at ``Priority.SCORING`` (below
completions, one region per job, so typing never waits long), and the flags are
cached per region key. The diagnostics provider maps cached flags of the
*current* regions onto the snapshot it is asked about, so a flag is only shown
where the text it was computed from still stands, and never for an old version.

The quick fix replaces the span with the model's alternative. When the enclosing
function has examples (doctests, asserts in the workspace's tests), the fix is run
against them in the sandbox first: only a passing fix is preferred, a failing one
is not offered, and without examples the action says "unverified".
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tree_sitter
from lsprotocol import types

from reason_lsp import code_actions, unlikely
from reason_lsp.diagnostics import SOURCE
from reason_lsp.engine import Cancelled, EngineUnavailable, Priority

if TYPE_CHECKING:
    from reason_lsp.documents import Snapshot
    from reason_lsp.server import ReasonLanguageServer
    from reason_lsp.settings import Settings

log = logging.getLogger(__name__)

CODE = "unlikely-code"
QUIET_SECONDS = 0.4


def verify_replacement(
    text: str, start: int, end: int, replacement: str, parser, settings, root: str | None = None
) -> bool | None:
    """Whether the enclosing function's examples (doctests, asserts in the workspace's
    tests) all pass in the sandbox with the fix applied; None when there is nothing to
    run or no sandbox to run it in."""
    from reason_lsp import generation  # the examples and the sandbox live there

    fixed = text[:start] + replacement + text[end:]
    tree = parser.parse(fixed.encode("utf-8", "surrogatepass"))
    try:
        task = generation.prepare(
            fixed, tree, start, parser, Path(root) if root else None, need_stub=False
        )
    except generation.GenerationError:
        return None
    if not task.examples:
        return None
    report, refused = generation.verify(task, generation.policy_from_settings(settings))
    if refused or not report.total:
        return None
    return report.passed == report.total


class UnlikelyService:
    def __init__(self, server: ReasonLanguageServer) -> None:
        self.server = server
        self.flags: dict[str, dict[str, list[unlikely.Flag]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Sandbox verdicts of quick fixes: (uri, version, start, end, replacement) -> bool | None.
        self.verified: dict[tuple, bool | None] = {}
        self.scored_regions = 0

    def enabled(self) -> bool:
        s = self.server.settings
        engine = self.server.engine
        return s.diagnostics_model and engine is not None and hasattr(engine, "run")

    def thresholds(self) -> unlikely.Thresholds:
        engine = self.server.engine
        decoder = getattr(engine, "decoder", None)
        folder = decoder.m.folder if decoder is not None else None
        return unlikely.Thresholds.load(folder, self.server.settings.diagnostics_threshold)

    def schedule(self, uri: str) -> None:
        """(Re)start the quiet-period timer for ``uri``; the newest change wins."""
        if not self.enabled():
            return
        old = self._tasks.pop(uri, None)
        if old is not None:
            old.cancel()
        self._tasks[uri] = self.server.run_task(self._run(uri), f"unlikely {uri}")

    def forget(self, uri: str) -> None:
        self.verified = {k: v for k, v in self.verified.items() if k[0] != uri}
        task = self._tasks.pop(uri, None)
        if task is not None:
            task.cancel()
        self.flags.pop(uri, None)

    async def _run(self, uri: str) -> None:
        await asyncio.sleep(QUIET_SECONDS)
        snapshot = self.server.snapshot(uri)
        if snapshot is None or snapshot.tree is None or snapshot.language != "python":
            return
        engine = self.server.engine
        if getattr(engine, "state", "") != "ready":
            return
        header = unlikely.header_of(snapshot.text, snapshot.tree)
        regions = unlikely.regions(snapshot.text, snapshot.tree, header)
        cache = self.flags.setdefault(uri, {})
        for key in set(cache) - {r.key for r in regions}:
            del cache[key]  # regions that no longer exist
        parser = self._parser(uri)
        thresholds = self.thresholds()
        fresh = 0
        for region in regions:
            if region.key in cache:
                continue
            if self.server.current_version(uri) != snapshot.version:
                return  # a newer version has its own run
            text = snapshot.text[region.start : region.end]
            flag = threading.Event()

            def job(decoder: Any, text: str = text, flag: threading.Event = flag) -> list:
                from reason_lsp.engine.scoring import score  # torch: worker thread only

                return score(decoder, header, text, cancel=flag)

            future = engine.run(job, flag, Priority.SCORING, key=f"{uri}#score")
            try:
                scores = await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                flag.set()
                raise
            except (Cancelled, EngineUnavailable):
                return
            except Exception:
                log.exception("scoring failed for %s", uri)
                return
            cache[region.key] = unlikely.flags(text, scores, thresholds, parser)
            self.scored_regions += 1
            fresh += 1
        if fresh and self.server.current_version(uri) == snapshot.version:
            self.server.background_results_changed(uri)

    def _parser(self, uri: str):
        state = self.server.documents.get(uri)
        return state.parser if state is not None else None

    def provider(self, snapshot: Snapshot, settings: Settings) -> list[types.Diagnostic]:
        """Cached flags of the snapshot's current regions, as diagnostics."""
        cache = self.flags.get(snapshot.uri)
        if not cache or not settings.diagnostics_model or snapshot.tree is None:
            return []
        header = unlikely.header_of(snapshot.text, snapshot.tree)
        return [
            to_diagnostic(snapshot, region, flag)
            for region in unlikely.regions(snapshot.text, snapshot.tree, header)
            for flag in cache.get(region.key, ())
        ]


def to_diagnostic(
    snapshot: Snapshot, region: unlikely.Region, flag: unlikely.Flag
) -> types.Diagnostic:
    start, end = region.start + flag.start, region.start + flag.end
    severity = (
        types.DiagnosticSeverity.Warning
        if flag.severity == "warning"
        else types.DiagnosticSeverity.Information
    )
    return types.Diagnostic(
        range=snapshot.index.range_at(start, end, snapshot.encoding),
        message=flag.message,
        severity=severity,
        source=SOURCE,
        code=CODE,
        data={"replacement": flag.expected, "surprisal": round(flag.surprisal, 2)},
    )


class ModelChecker:
    """The same warnings for ``reason-lsp check``: the model loads on first use, once."""

    def __init__(self, model: str, warn) -> None:
        self.model = model
        self.warn = warn
        self.decoder: Any = None
        self.failed = False

    def provider(self, snapshot: Snapshot, settings: Settings) -> list[types.Diagnostic]:
        if snapshot.tree is None or snapshot.language != "python" or self.failed:
            return []
        if self.decoder is None:
            from reason_lsp.engine import EngineConfig, loader
            from reason_lsp.engine.decoder import Decoder

            try:
                self.decoder = Decoder(loader.load(EngineConfig(model=self.model)))
            except (OSError, RuntimeError, ValueError) as exc:
                self.failed = True
                self.warn(f"reason-lsp check: no model diagnostics ({exc})")
                return []
        from reason_lsp.engine.scoring import score

        thresholds = unlikely.Thresholds.load(self.decoder.m.folder, settings.diagnostics_threshold)
        parser = tree_sitter.Parser(snapshot.tree.language)
        header = unlikely.header_of(snapshot.text, snapshot.tree)
        out = []
        for region in unlikely.regions(snapshot.text, snapshot.tree, header):
            text = snapshot.text[region.start : region.end]
            for flag in unlikely.flags(text, score(self.decoder, header, text), thresholds, parser):
                out.append(to_diagnostic(snapshot, region, flag))
        return out


def register(server: ReasonLanguageServer) -> None:
    service = UnlikelyService(server)
    server.unlikely = service
    server.diagnostic_sources.append(service.provider)

    code_actions.add(
        server, lambda params: quick_fixes(server, params), [types.CodeActionKind.QuickFix]
    )


async def quick_fixes(
    ls: ReasonLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    """Replace an unlikely span with the model's alternative (one action per diagnostic).

    A fix whose function has examples is run against them first (off the event loop,
    cached per document version): only a fix that passes is preferred, and one that
    fails is not offered.
    """
    snapshot = ls.snapshot(params.text_document.uri)
    if snapshot is None:
        return []
    state = ls.documents.get(snapshot.uri)
    parser = state.parser if state is not None else None
    actions = []
    for diagnostic in params.context.diagnostics:
        if diagnostic.code != CODE or not isinstance(diagnostic.data, dict):
            continue
        replacement = diagnostic.data.get("replacement")
        if not isinstance(replacement, str):
            continue
        start = snapshot.index.offset_at(diagnostic.range.start, snapshot.encoding)
        end = snapshot.index.offset_at(diagnostic.range.end, snapshot.encoding)
        verified = None
        if parser is not None and ls.settings.sandbox_enable:
            key = (snapshot.uri, snapshot.version, start, end, replacement)
            if key not in ls.unlikely.verified:
                if len(ls.unlikely.verified) > 256:
                    ls.unlikely.verified.clear()
                root = ls.workspace.root_path
                ls.unlikely.verified[key] = await asyncio.to_thread(
                    verify_replacement,
                    snapshot.text, start, end, replacement, parser, ls.settings, root,
                )  # fmt: skip
            verified = ls.unlikely.verified[key]
        if verified is False:
            continue
        note = "examples pass" if verified else "unverified"
        edit = types.TextEdit(range=diagnostic.range, new_text=replacement)
        actions.append(
            types.CodeAction(
                title=f'Replace with "{replacement}" ({note})',
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                is_preferred=verified is True,
                edit=types.WorkspaceEdit(changes={snapshot.uri: [edit]}),
            )
        )
    return actions
