"""LSP face of generation and verification: commands, a code action, example diagnostics.

- ``workspace/executeCommand`` ``reasonLsp.generate`` ``[{uri, position}]``: sample
  ``generation.samples`` bodies for the stub function at the position in one engine
  request, check them in the sandbox against its examples, or rank them by agreement
  with model-written asserts where it has none
  (:mod:`reason_lsp.features.generation.pipeline`, :mod:`.codet`), apply the best with
  ``workspace/applyEdit`` and end with a ``window/showMessage`` summary; the result
  says what the body was checked against; ``$/progress`` throughout when the client
  supports it.
- ``reasonLsp.verify`` ``[{uri, position}]``: run the function's examples and
  publish the failures as diagnostics (code ``example-failed``) at the failing
  example; they live in :class:`ExampleDiagnostics`, one of the server's
  ``diagnostic_sources``, until the document's next edit.
- ``textDocument/codeAction``: "Generate implementation" on stub functions,
  "Run examples" on functions with doctests.

Failures are messages to the user, never exceptions out of a handler.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types

from reason_lsp.engine import Cancelled, EngineUnavailable, await_job
from reason_lsp.features.generation import codet
from reason_lsp.features.generation import pipeline as generation
from reason_lsp.server.core import ReasonLanguageServer
from reason_lsp.server.feature import Feature
from reason_lsp.server.progress import Progress
from reason_lsp.settings import Settings
from reason_lsp.text import languages
from reason_lsp.text.diagnostics import SOURCE
from reason_lsp.text.documents import Snapshot
from reason_lsp.verify import examples as verification
from reason_lsp.verify import program as checking
from reason_lsp.verify import runner

log = logging.getLogger(__name__)

GENERATE = "reasonLsp.generate"
VERIFY = "reasonLsp.verify"
FAILED_CODE = "example-failed"


@attrs.define
class TargetArgs:
    """The argument of both commands: a document and a position in it."""

    uri: str
    position: types.Position


@attrs.define
class GenerateResult:
    applied: bool
    verified: bool
    summary: str
    passed: int = 0
    total: int = 0
    candidates: int = 0
    code: str = ""
    #: What the shown body was checked against ("2 doctests", "4 model-written asserts
    #: (agreement, not verification)"; "" when nothing ran). ``verified`` is True only
    #: when it passed every example of the function's own.
    against: str = ""


@attrs.define
class VerifyResult:
    passed: int
    total: int
    summary: str


class ExampleDiagnostics:
    """Failed-example diagnostics per document, valid for the version they were made on."""

    def __init__(self) -> None:
        self._by_uri: dict[str, tuple[int | None, list[types.Diagnostic]]] = {}

    def set(self, uri: str, version: int | None, found: list[types.Diagnostic]) -> None:
        self._by_uri[uri] = (version, found)

    def forget(self, uri: str) -> None:
        self._by_uri.pop(uri, None)

    def held(self) -> set[str]:
        return set(self._by_uri)

    def __call__(self, snapshot: Snapshot, settings: Any = None) -> list[types.Diagnostic]:
        version, found = self._by_uri.get(snapshot.uri, (None, []))
        if found and version != snapshot.version:  # edited since: they are stale
            self._by_uri.pop(snapshot.uri, None)
            return []
        return list(found)


class GenerationFeature(Feature):
    """The generate and verify commands, their code actions and the example diagnostics."""

    name = "generation"
    code_action_kinds = (types.CodeActionKind.RefactorRewrite, types.CodeActionKind.Source)

    def __init__(self, server: ReasonLanguageServer) -> None:
        self.server = server
        self.examples = ExampleDiagnostics()

        @server.command(GENERATE)
        async def generate(ls: ReasonLanguageServer, args: TargetArgs) -> GenerateResult:
            return await self.generate(args)

        @server.command(VERIFY)
        async def verify(ls: ReasonLanguageServer, args: TargetArgs) -> VerifyResult:
            return await self.verify(args)

    def on_close(self, uri: str) -> None:
        self.examples.forget(uri)

    def held(self) -> set[str]:
        return self.examples.held()

    def diagnostics(self, snapshot: Snapshot, settings: Settings) -> list[types.Diagnostic]:
        return self.examples(snapshot)

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        return self.actions(params)

    def _task(self, args: TargetArgs, need_stub: bool) -> tuple[Snapshot, runner.Task]:
        snapshot = self.server.snapshot(args.uri)
        if snapshot is None:
            raise runner.TargetError(f"{args.uri} is not open")
        if snapshot.language != "python":
            raise runner.TargetError("generation and verification work on Python files")
        offset = snapshot.index.offset_at(args.position, snapshot.encoding)
        root = self.server.workspace.root_path
        task = runner.prepare(snapshot.text, snapshot.tree, offset, languages.parser_for("python"),
                              Path(root) if root else None, need_stub=need_stub)  # fmt: skip
        return snapshot, task

    async def generate(self, args: TargetArgs) -> GenerateResult:
        ls = self.server
        try:
            snapshot, task = self._task(args, need_stub=True)
        except runner.TargetError as exc:
            return self._finish(GenerateResult(False, False, str(exc)))
        except Exception as exc:  # a bug costs this command, not the server
            log.exception("generation failed for %s", args.uri)
            return self._finish(GenerateResult(False, False, f"generation failed: {exc}"))
        engine = ls.engine_ready()
        if engine is None:
            return self._finish(GenerateResult(False, False, "the model is not ready"))
        if not ls.model_features_allowed(snapshot):
            return self._finish(GenerateResult(False, False, "the document is too big"))
        settings = ls.settings
        n = settings.generation_samples
        progress = Progress(ls, f"Generating {task.target.name}")
        await progress.begin()
        try:
            key = args.uri + "#generate"
            progress.report(f"sampling {n} candidates", 0)
            request = generation.sample_request(
                task, settings.generation_temperature, key=key, samples=n
            )
            samples = (await await_job(engine.submit(request), request)).samples
            candidates = generation.candidates_from(task, samples, languages.parser_for("python"))
            policy = runner.policy_from_settings(settings)
            written = []
            if not task.examples and len(candidates) > 1 and policy.enable:
                progress.report("writing asserts to compare the candidates", 50)
                asking = codet.test_request(task, settings.generation_temperature, key=key)
                written = codet.assertions(
                    task, (await await_job(engine.submit(asking), asking)).samples
                )
            loop = asyncio.get_running_loop()

            def checked(done: int, total: int) -> None:
                loop.call_soon_threadsafe(
                    progress.report, f"checked {done}/{total}", 60 + 40 * done // total
                )

            progress.report(f"checking {len(candidates)} candidates", 60)
            outcome = await ls.run_blocking(
                generation.choose, task, candidates, n, policy, checked, written
            )
        except (Cancelled, EngineUnavailable) as exc:
            progress.end("stopped")
            return self._finish(GenerateResult(False, False, f"generation stopped: {exc}"))
        except Exception as exc:  # a bug costs this command, not the server
            log.exception("generation failed for %s", args.uri)
            progress.end("failed")
            return self._finish(GenerateResult(False, False, f"generation failed: {exc}"))
        progress.end(outcome.summary)
        result = GenerateResult(
            False, outcome.verified, outcome.summary, outcome.passed, outcome.total,
            outcome.sampled, against=outcome.against,
        )  # fmt: skip
        if outcome.best is None:
            return self._finish(result)
        result.code = outcome.best.body
        if ls.current_version(args.uri) != snapshot.version:
            result.summary = (
                f"the document changed while generating; not applied ({result.summary})"
            )
            return self._finish(result)
        result.applied = await self._apply(snapshot, task, outcome.best.body)
        if not result.applied:
            result.summary = f"the editor did not apply the edit ({result.summary})"
        return self._finish(result)

    async def _apply(self, snapshot: Snapshot, task: runner.Task, body: str) -> bool:
        target = task.target
        new_text = target.prompt_prefix(snapshot.text)[target.header_end :] + body.rstrip()
        edit = types.TextEdit(
            range=snapshot.index.range_at(target.header_end, target.body_end, snapshot.encoding),
            new_text=new_text,
        )
        params = types.ApplyWorkspaceEditParams(
            edit=types.WorkspaceEdit(changes={snapshot.uri: [edit]}),
            label=f"Generate {target.name}",
        )
        try:
            answer = await self.server.workspace_apply_edit_async(params)
        except Exception:
            log.warning("workspace/applyEdit failed", exc_info=True)
            return False
        return bool(answer and answer.applied)

    def _finish(self, result: GenerateResult) -> GenerateResult:
        good = result.applied and result.verified
        kind = types.MessageType.Info if good else types.MessageType.Warning
        text = f"reason-lsp: {result.summary}"
        self.server.window_show_message(types.ShowMessageParams(type=kind, message=text))
        return result

    async def verify(self, args: TargetArgs) -> VerifyResult:
        ls = self.server
        try:
            snapshot, task = self._task(args, need_stub=False)
            policy = runner.policy_from_settings(ls.settings)
            report, refused = await ls.run_blocking(runner.verify, task, policy)
        except runner.TargetError as exc:
            return self._said(VerifyResult(0, 0, str(exc)))
        except Exception as exc:
            log.exception("verification failed for %s", args.uri)
            return self._said(VerifyResult(0, 0, f"verification failed: {exc}"))
        if refused:
            return self._said(VerifyResult(0, 0, refused))
        found = [self._diagnostic(snapshot, r) for r in report.results
                 if not r.ok and r.example.path is None]  # fmt: skip
        self.examples.set(args.uri, snapshot.version, found)
        ls.background_results_changed(args.uri)
        name = task.target.name
        summary = f"{report.passed}/{report.total} examples of {name} passed"
        failure = report.first_failure()
        if failure is not None:
            summary += f"; first failure: {failure.example.label()}: "
            summary += checking.failure_message(failure)
        return self._said(VerifyResult(report.passed, report.total, summary))

    def _diagnostic(self, snapshot: Snapshot, result: checking.ExampleResult):
        line = min(result.example.line, snapshot.index.line_count - 1)
        text = snapshot.index.line_text(line)
        start = snapshot.index.line_starts[line] + len(text) - len(text.lstrip())
        end = snapshot.index.line_starts[line] + len(text.rstrip())
        return types.Diagnostic(
            range=snapshot.index.range_at(start, end, snapshot.encoding),
            message=checking.failure_message(result),
            severity=types.DiagnosticSeverity.Warning,
            source=SOURCE,
            code=FAILED_CODE,
        )

    def _said(self, result: VerifyResult) -> VerifyResult:
        ok = result.total and result.passed == result.total
        kind = types.MessageType.Info if ok else types.MessageType.Warning
        self.server.window_show_message(
            types.ShowMessageParams(type=kind, message=f"reason-lsp: {result.summary}")
        )
        return result

    def actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        snapshot = self.server.snapshot(params.text_document.uri)
        if snapshot is None or snapshot.language != "python":
            return []
        offset = snapshot.index.offset_at(params.range.start, snapshot.encoding)
        target = verification.find_function(snapshot.text, snapshot.tree, offset)
        if target is None:
            return []
        args = TargetArgs(snapshot.uri, params.range.start)
        out = []
        if target.stub is not None:
            out.append(types.CodeAction(
                title="Generate implementation", kind=types.CodeActionKind.RefactorRewrite,
                command=types.Command("Generate implementation", GENERATE, arguments=[args]),
            ))  # fmt: skip
        if runner.own_examples(target):
            out.append(types.CodeAction(
                title=f"Run the examples of {target.name}", kind=types.CodeActionKind.Source,
                command=types.Command("Run examples", VERIFY, arguments=[args]),
            ))  # fmt: skip
        return out
