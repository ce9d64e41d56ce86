"""Batched scoring (``scoring.score_many``): the lean path's batches, with the shared context
run once, give what scoring each text alone through the model's own forward gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from reason_lsp.engine import open_decoder, scoring  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HEADER = "import json\nimport os\n\n"
TEXTS = [
    "def load(path):\n    with open(path) as handle:\n        return json.load(handle)\n",
    "",
    "x = 'naïve 😋 café'\n",
    # Longer than the model's window (512 positions): scored in overlapping windows.
    "TABLE = {\n"
    + "".join(f"    'key_{i}': os.path.join('a', '{i}'),\n" for i in range(160))
    + "}\n",
    "y = 1",
]


@pytest.fixture(scope="module")
def decoder():
    return open_decoder(str(ROOT / "models" / "reason-code-small"))


def test_batches_agree_with_one_text_at_a_time_through_transformers(decoder) -> None:
    assert decoder.lean is not None and len(decoder.encode(TEXTS[3])) > decoder.max_positions
    batched = scoring.score_many(decoder, HEADER, TEXTS)
    lean, decoder.lean = decoder.lean, None  # every window through the transformers forward
    try:
        alone = [scoring.score(decoder, HEADER, text) for text in TEXTS]
    finally:
        decoder.lean = lean
    assert [len(s) for s in batched] == [len(s) for s in alone]
    assert batched[1] == []
    pairs = [(a, b) for x, y in zip(batched, alone, strict=True) for a, b in zip(x, y, strict=True)]
    assert all((a.start, a.end) == (b.start, b.end) for a, b in pairs)
    # bf16 matrices on the lean path against float32 transformers: close, not equal.
    assert max(abs(a.surprisal - b.surprisal) for a, b in pairs) < 0.25
    agree = sum(a.top_text == b.top_text for a, b in pairs) / len(pairs)
    assert agree > 0.98
    # Character offsets index the text, surprisals are -log p of real tokens.
    assert "".join(TEXTS[0][s.start : s.end] for s in batched[0]) == TEXTS[0]
    assert all(s.surprisal >= 0 and s.top_logprob <= 0 for s in batched[0])


def test_a_batch_is_the_same_as_each_text_alone_on_the_lean_path(decoder) -> None:
    batched = scoring.score_many(decoder, HEADER, TEXTS)
    for text, together in zip(TEXTS, batched, strict=True):
        single = scoring.score_many(decoder, HEADER, [text])[0]
        assert all(
            abs(a.surprisal - b.surprisal) < 0.1 for a, b in zip(single, together, strict=True)
        )


def test_cancel_stops_between_batches(decoder) -> None:
    import threading

    from reason_lsp.engine import Cancelled

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        scoring.score_many(decoder, HEADER, TEXTS, cancel)


def test_small_batches_give_the_same_scores(decoder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch boundaries (padding, row order) do not change a text's scores."""
    big = scoring.score_many(decoder, HEADER, TEXTS)
    monkeypatch.setattr(scoring, "BATCH_TOKENS", 64)
    monkeypatch.setattr(scoring, "HEAD_ROWS", 7)
    small = scoring.score_many(decoder, HEADER, TEXTS)
    flat = [(a, b) for x, y in zip(big, small, strict=True) for a, b in zip(x, y, strict=True)]
    assert max(abs(a.surprisal - b.surprisal) for a, b in flat) < 0.1
    assert json.dumps([len(s) for s in big]) == json.dumps([len(s) for s in small])
