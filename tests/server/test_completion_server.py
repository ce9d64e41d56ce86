"""Two completion decisions in the real server (in process), on a suggestion the test
fixes: an answer computed for a version the user has since edited is dropped, and with
``verifyCompletions`` a completion that finishes a function is shown only when the
function's doctests pass. The engine always answers ``a + b``, so each outcome holds by
construction; what a trained tiny model writes in a file it never saw, or how fast it
answers, is not what these tests are about (the e2e tests run the memorized cases)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

import pytest
from inprocess import FakeEngine, InProcess
from lsprotocol import types

from reason_lsp.engine import GENERATE, MEMBERS, RANK, SCORE, GenerateRequest, Generation, Sample
from reason_lsp.verify.runner import sandbox_missing

needs_sandbox = pytest.mark.skipif(sandbox_missing() is not None, reason="no reason_lsp.sandbox")

ADD = '''def add(a, b):
    """Add two numbers.

    >>> add(2, 3)
    5
    >>> add(-1, 1)
    0
    """
    return a + b
'''
#: ``add`` with the cursor's line typed up to ``return ``: ``a + b`` finishes it.
TYPING = ADD.replace("return a + b", "return ")
#: The same, with a doctest that ``a + b`` fails (add(2, 3) is not 6).
WRONG = TYPING.replace("    5\n", "    6\n")
CURSOR = TYPING.index("return ") + len("return ")


class HeldEngine(FakeEngine):
    """Answers ``completion`` only when the test calls :meth:`release`, so the test
    decides what happens while the model is at work."""

    def __init__(self, completion: str) -> None:
        super().__init__(completion)
        self.held: list[Future] = []

    def submit(self, request: GenerateRequest) -> Future:
        self.requests.append(request)
        future: Future = Future()
        self.held.append(future)
        return future

    def release(self) -> None:
        sample = Sample(self.completion, -1.0, 3, "eos")
        for future in self.held:
            if not future.done():
                future.set_result(Generation([sample], 10, 0, 1.0, 1.0, 3))


def inline(uri: str, text: str, offset: int) -> types.InlineCompletionParams:
    line = text.count("\n", 0, offset)
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, offset - (text.rfind("\n", 0, offset) + 1)),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked
        ),
    )


def shown(reply: dict) -> list[str]:
    result = reply["result"] or {"items": []}
    items = result["items"] if isinstance(result, dict) else result
    return [i["insertText"] for i in items]


async def stats(h: InProcess) -> dict:
    """The completion counters; zero counts are not sent."""
    return (await h.request("reasonLsp/stats", None))["result"]


async def submitted(engine: HeldEngine, count: int) -> None:
    """Wait until the server has handed ``count`` jobs to the engine."""
    for _ in range(500):
        if len(engine.requests) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(engine.requests)} of {count} requests reached the engine")


def change(uri: str, version: int, text: str) -> types.DidChangeTextDocumentParams:
    return types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(version=version, uri=uri),
        [types.TextDocumentContentChangeWholeDocument(text=text)],
    )


async def test_an_answer_for_an_edited_version_is_dropped() -> None:
    """The edit lands while the engine holds the answer: it comes back for version 1 of a
    document now at version 2, so it is not shown and counts in ``staleDropped``; the
    same answer asked for the current version is shown."""
    engine = HeldEngine("a + b")
    h = InProcess(engine)
    await h.start()
    uri = "file:///tmp/reason-inprocess/stale.py"
    h.open(uri, TYPING)
    pending = asyncio.ensure_future(
        h.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline(uri, TYPING, CURSOR))
    )
    await submitted(engine, 1)
    edited = TYPING + "# edited\n"
    h.notify(types.TEXT_DOCUMENT_DID_CHANGE, change(uri, 2, edited))
    engine.release()
    assert shown(await pending) == []
    assert (await stats(h)).get("staleDropped", 0) == 1
    current = asyncio.ensure_future(
        h.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline(uri, edited, CURSOR))
    )
    await submitted(engine, 2)
    engine.release()
    assert shown(await current) == ["a + b"]
    assert (await stats(h)).get("staleDropped", 0) == 1


@needs_sandbox
async def test_verify_completions_shows_a_passing_completion_and_drops_a_failing_one() -> None:
    """``a + b`` passes add's doctests in TYPING and fails one in WRONG: shown in the
    first, dropped in the second, both run (``verified``), one rejected."""
    h = InProcess(FakeEngine("a + b"))
    await h.start()
    settings = {"reasonLsp": {"verifyCompletions": True}}
    h.notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, types.DidChangeConfigurationParams(settings))
    await h.settle()
    answers = []
    for name, text in (("passing", TYPING), ("failing", WRONG)):
        uri = f"file:///tmp/reason-inprocess/{name}.py"
        h.open(uri, text)
        reply = await h.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline(uri, text, CURSOR))
        answers.append(shown(reply))
    counts = await stats(h)
    assert answers == [["a + b"], []]
    assert (counts.get("verified", 0), counts.get("verifyRejected", 0)) == (2, 1)


class RankingEngine(FakeEngine):
    """A prefix-only engine that ranks: it answers ``samples`` candidates, best first,
    as the local engine does for a request with ``rank_lines``."""

    CANDIDATES = ("a + b", "a - b", "b")

    def __init__(self) -> None:
        super().__init__(capabilities={GENERATE, SCORE, MEMBERS, RANK})

    def submit(self, request: GenerateRequest) -> Future:
        self.requests.append(request)
        n = max(1, request.samples)
        found = [Sample(t, -1.0, 3, "eos", rank=-float(i)) for i, t in enumerate(self.CANDIDATES)]
        return self._done(Generation(found[:n], 10, 0, 1.0, 1.0, 3))


@pytest.mark.parametrize("candidates", [1, 4])
async def test_completion_candidates_ask_the_engine_to_rank_by_the_suffix(candidates) -> None:
    engine = RankingEngine()
    h = InProcess(engine)
    await h.start()
    settings = {"reasonLsp": {"completion": {"candidates": candidates}}}
    h.notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, types.DidChangeConfigurationParams(settings))
    await h.settle()
    text = TYPING + "\n\nprint(add(1, 2))\n"  # code after the cursor to rank by
    uri = "file:///tmp/reason-inprocess/ranked.py"
    h.open(uri, text)
    reply = await h.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline(uri, text, CURSOR))
    assert shown(reply) == ["a + b"]
    request = engine.requests[-1]
    assert (request.samples, request.rank_lines) == ((4, 2) if candidates > 1 else (1, 0))
    if candidates > 1:  # the first is the likeliest line; the others are sampled
        assert request.temperature > 0


async def test_no_ranking_without_code_after_the_cursor() -> None:
    engine = RankingEngine()
    h = InProcess(engine)
    await h.start()
    settings = {"reasonLsp": {"completion": {"candidates": 4}}}
    h.notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, types.DidChangeConfigurationParams(settings))
    await h.settle()
    text = "def add(a, b):\n    return "
    uri = "file:///tmp/reason-inprocess/end.py"
    h.open(uri, text)
    await h.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline(uri, text, len(text)))
    assert (engine.requests[-1].samples, engine.requests[-1].rank_lines) == (1, 0)
