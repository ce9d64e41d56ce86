"""The confidence gate's decision in the real server (in process), on log-probabilities
the test controls: a scripted engine answers each prompt with the token probabilities
the test chose, so "likely -> shown, unlikely -> hidden and counted in ``unsure``"
holds by construction, whatever any trained model happens to believe."""

from __future__ import annotations

import json
import math
from concurrent.futures import Future
from pathlib import Path

import pytest
from inprocess import FakeEngine, InProcess
from lsprotocol import types

from reason_lsp.engine import GenerateRequest, Generation, Sample

#: On the least likely token: p = sigmoid(2 + 4 * min log p), shown at p >= 0.5.
CALIBRATION = {"weights": [0.0, 4.0, 0.0], "bias": 2.0, "automatic": 0.5, "invoked": 0.5}
SURE = "x = [1, 2, 3]\ny = "
UNSURE = "import math\narea = "


class ScriptedEngine(FakeEngine):
    """Answers a prompt ending in a known text with that text's scripted suggestion and
    token log-probabilities; the gate's calibration lives in ``folder``."""

    def __init__(self, folder: Path, script: dict[str, tuple[str, tuple[float, ...]]]) -> None:
        super().__init__()
        self.folder = folder
        self.script = script

    @property
    def model_folder(self) -> str | None:
        return str(self.folder)

    def submit(self, request: GenerateRequest) -> Future:
        self.requests.append(request)
        text, logprobs = next(v for k, v in self.script.items() if request.prefix.endswith(k))
        sample = Sample(text, sum(logprobs), len(logprobs), "eos", logprobs)
        return self._done(Generation([sample], 10, 0, 1.0, 1.0, len(logprobs)))


@pytest.fixture
def gated(tmp_path: Path) -> ScriptedEngine:
    (tmp_path / "completion_calibration.json").write_text(json.dumps(CALIBRATION))
    script = {
        SURE: ("len(x)", (-0.05, -0.1, -0.02)),  # p = sigmoid(2 - 0.4) = 0.83
        UNSURE: ("math.pi * radius", (-0.3, -2.5, -0.4)),  # p = sigmoid(2 - 10) = 0.0003
    }
    return ScriptedEngine(tmp_path, script)


def inline(uri: str, text: str, kind: types.InlineCompletionTriggerKind):
    line = text.count("\n")
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, len(text) - text.rfind("\n") - 1),
        context=types.InlineCompletionContext(trigger_kind=kind),
    )


async def ask(h: InProcess, uri: str, text: str, kind) -> tuple[list[str], dict]:
    h.open(uri, text)
    reply = await h.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline(uri, text, kind))
    result = reply["result"] or {"items": []}
    items = result["items"] if isinstance(result, dict) else result
    stats = (await h.request("reasonLsp/stats", None))["result"]
    return [i["insertText"] for i in items], stats


@pytest.mark.parametrize(
    "kind", [types.InlineCompletionTriggerKind.Automatic, types.InlineCompletionTriggerKind.Invoked]
)
async def test_the_gate_shows_a_likely_suggestion_and_hides_an_unlikely_one(
    gated: ScriptedEngine, kind: types.InlineCompletionTriggerKind
) -> None:
    h = InProcess(gated)
    await h.start()
    shown, before = await ask(h, "file:///tmp/gate/sure.py", SURE, kind)
    assert shown == ["len(x)"]
    assert math.isclose(before["lastConfidence"], 1 / (1 + math.exp(-1.6)), rel_tol=1e-6)
    hidden, after = await ask(h, "file:///tmp/gate/unsure.py", UNSURE, kind)
    assert hidden == []
    assert after.get("unsure", 0) == before.get("unsure", 0) + 1
    assert 0 <= after["lastConfidence"] < 0.5


async def test_min_confidence_zero_shows_what_the_gate_would_hide(gated: ScriptedEngine) -> None:
    h = InProcess(gated)
    await h.start()
    settings = {"reasonLsp": {"completion": {"minConfidence": 0}}}
    h.notify(types.WORKSPACE_DID_CHANGE_CONFIGURATION, types.DidChangeConfigurationParams(settings))
    await h.settle()
    automatic = types.InlineCompletionTriggerKind.Automatic
    shown, stats = await ask(h, "file:///tmp/gate/unsure.py", UNSURE, automatic)
    assert shown == ["math.pi * radius"]
    assert stats.get("unsure", 0) == 0
