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

from lsprotocol import types

from reason_lsp.engine import SCORE, Cancelled, Engine, EngineUnavailable
from reason_lsp.features.unlikely import flags as unlikely
from reason_lsp.server import limits
from reason_lsp.server.core import ReasonLanguageServer
from reason_lsp.server.feature import Feature
from reason_lsp.settings import Settings
from reason_lsp.text import languages
from reason_lsp.text.documents import Snapshot
from reason_lsp.verify import runner

log = logging.getLogger(__name__)

CODE = unlikely.CODE
QUIET_SECONDS = 0.4


def verify_replacement(
    text: str, start: int, end: int, replacement: str, settings, root: str | None = None
) -> bool | None:
    """Whether the enclosing function's examples (doctests, asserts in the workspace's
    tests) all pass in the sandbox with the fix applied; None when there is nothing to
    run or no sandbox to run it in."""
    fixed = text[:start] + replacement + text[end:]
    parser = languages.parser_for("python")  # this runs on a worker thread: its own parser
    tree = parser.parse(fixed.encode("utf-8", "surrogatepass"))
    try:
        task = runner.prepare(
            fixed, tree, start, parser, Path(root) if root else None, need_stub=False
        )
    except runner.TargetError:
        return None
    if not task.examples:
        return None
    report, refused = runner.verify(task, runner.policy_from_settings(settings))
    if refused or not report.total:
        return None
    return report.passed == report.total


class UnlikelyFeature(Feature):
    """Background scoring per region, the diagnostics from it, and the quick fix."""

    name = "unlikely"
    code_action_kinds = (types.CodeActionKind.QuickFix,)

    def __init__(self, server: ReasonLanguageServer) -> None:
        self.server = server
        self.flags: dict[str, dict[str, list[unlikely.Flag]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Sandbox verdicts of quick fixes: (uri, version, start, end, replacement) -> bool | None.
        self.verified: dict[tuple, bool | None] = {}
        self.scored_regions = 0

    def enabled(self) -> bool:
        engine = self.server.engine
        return (
            self.server.settings.diagnostics_model
            and engine is not None
            and SCORE in engine.capabilities
        )

    def thresholds(self) -> unlikely.Thresholds:
        engine = self.server.engine
        folder = engine.model_folder if engine is not None else None
        return unlikely.Thresholds.load(folder, self.server.settings.diagnostics_threshold)

    # -- lifecycle ----------------------------------------------------------------------

    def on_open(self, uri: str) -> None:
        self.schedule(uri)

    def on_change(self, uri: str) -> None:
        self.schedule(uri)

    def on_close(self, uri: str) -> None:
        self.verified = {k: v for k, v in self.verified.items() if k[0] != uri}
        task = self._tasks.pop(uri, None)
        if task is not None:
            task.cancel()
        self.flags.pop(uri, None)

    def on_model_ready(self, engine: Engine) -> None:
        if SCORE not in engine.capabilities:
            if self.server.settings.diagnostics_model:
                reason = engine.unsupported_reason(SCORE)
                self.server.tell_once(f"reason-lsp: {reason}; syntax diagnostics keep working.")
            return
        for uri in self.server.documents.uris():
            self.schedule(uri)  # documents opened while the model loaded

    def held(self) -> set[str]:
        return set(self.flags) | set(self._tasks) | {k[0] for k in self.verified}

    def shutdown(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    def schedule(self, uri: str) -> None:
        """(Re)start the quiet-period timer for ``uri``; the newest change wins."""
        if not self.enabled():
            return
        old = self._tasks.pop(uri, None)
        if old is not None:
            old.cancel()
        self._tasks[uri] = self.server.run_task(self._run(uri), f"unlikely {uri}")

    async def _run(self, uri: str) -> None:
        try:
            await self._score(uri)
        finally:
            if self._tasks.get(uri) is asyncio.current_task():
                del self._tasks[uri]

    async def _score(self, uri: str) -> None:
        await asyncio.sleep(QUIET_SECONDS)
        snapshot = self.server.snapshot(uri)
        if snapshot is None or snapshot.tree is None or snapshot.language != "python":
            return
        if not self.server.model_features_allowed(snapshot):
            self.flags.pop(uri, None)
            return
        engine = self.server.engine_ready()
        if engine is None:
            return
        header = unlikely.header_of(snapshot.text, snapshot.tree)
        regions = unlikely.regions(snapshot.text, snapshot.tree, header)
        cache = self.flags.setdefault(uri, {})
        for key in set(cache) - {r.key for r in regions}:
            del cache[key]  # regions that no longer exist
        parser = languages.parser_for(snapshot.language)
        thresholds = self.thresholds()
        fresh = 0
        for region in regions:
            if region.key in cache or limits.region_too_big(region.start, region.end):
                continue
            if self.server.current_version(uri) != snapshot.version:
                return  # a newer version has its own run
            text = snapshot.text[region.start : region.end]
            flag = threading.Event()
            future = engine.score(header, text, flag, key=f"{uri}#score")
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

    def diagnostics(self, snapshot: Snapshot, settings: Settings) -> list[types.Diagnostic]:
        """Cached flags of the snapshot's current regions, as diagnostics."""
        cache = self.flags.get(snapshot.uri)
        if not cache or not settings.diagnostics_model or snapshot.tree is None:
            return []
        header = unlikely.header_of(snapshot.text, snapshot.tree)
        return [
            unlikely.to_diagnostic(snapshot, region, flag)
            for region in unlikely.regions(snapshot.text, snapshot.tree, header)
            for flag in cache.get(region.key, ())
        ]

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        return await quick_fixes(self, params)


async def quick_fixes(
    feature: UnlikelyFeature, params: types.CodeActionParams
) -> list[types.CodeAction]:
    """Replace an unlikely span with the model's alternative (one action per diagnostic).

    A fix whose function has examples is run against them first (off the event loop,
    cached per document version): only a fix that passes is preferred, and one that
    fails is not offered.
    """
    ls = feature.server
    snapshot = ls.snapshot(params.text_document.uri)
    if snapshot is None:
        return []
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
        if snapshot.language == "python" and ls.settings.sandbox_enable:
            key = (snapshot.uri, snapshot.version, start, end, replacement)
            if key not in feature.verified:
                if len(feature.verified) > 256:
                    feature.verified.clear()
                root = ls.workspace.root_path
                feature.verified[key] = await ls.run_blocking(
                    verify_replacement, snapshot.text, start, end, replacement, ls.settings, root
                )
            verified = feature.verified.get(key)
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
