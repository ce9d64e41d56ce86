"""``bench/vocab_compare.py`` end to end on a tiny sample: tiny vocabularies, the tiny shape.

The sample is this repository's own Python, so no corpus is needed; a few seconds.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location("bench_vocab", ROOT / "bench" / "vocab_compare.py")
vocab_compare = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = vocab_compare
_SPEC.loader.exec_module(vocab_compare)


def test_split_sample_is_disjoint_whole_files_within_budget(tmp_path: Path) -> None:
    corpus = tmp_path / "train.jsonl"
    texts = [f"x{i} = {'é' * i}\n" for i in range(60)]
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    train, measure = vocab_compare.split_sample(corpus, 300, 200, seed=1)
    assert train and measure
    assert not set(train) & set(measure)
    assert set(train) | set(measure) <= set(texts)
    size = lambda ts: sum(len(t.encode("utf-8")) for t in ts)  # noqa: E731
    # whole files: each part stops at the first file that reaches its budget
    assert size(train) - len(train[-1].encode("utf-8")) < 300 <= size(train)
    assert size(measure) - len(measure[-1].encode("utf-8")) < 200
    assert vocab_compare.split_sample(corpus, 300, 200, seed=1) == (train, measure)


def test_compare_on_a_tiny_sample() -> None:
    pytest.importorskip("torch")
    files = sorted((ROOT / "reason_lsp").rglob("*.py"))
    texts = [f.read_text(encoding="utf-8") for f in files]
    train, measure, valid = texts[::3], texts[1::3], texts[2::3]
    result = vocab_compare.compare(
        train, measure, valid, sizes=(300, 400), shipped=None, steps=2, shape="tiny", seq_len=64
    )
    tks, timing = result["tokenizers"], result["timing"]
    assert [tks[n]["vocab"] for n in ("bpe300", "bpe400")] == [300, 400]
    for tk in tks.values():
        for part in ("sample", "valid_thirdparty"):
            assert 1.0 <= tk[part]["chars_per_token"] <= tk[part]["bytes_per_token"]
    # the embedding is tied: 100 more tokens cost one 64-wide row each, once
    assert timing["bpe400"]["parameters"] - timing["bpe300"]["parameters"] == 100 * 64
    assert [len(timing[n]["cpu"]) for n in timing] == [2, 2]
    base = timing[result["baseline"]]
    assert result["baseline"] == "bpe400"
    assert base["tokens_per_s_ratio"] == base["bytes_per_s_ratio"] == pytest.approx(1.0)
    small = timing["bpe300"]
    bpt = tks["bpe300"]["sample"]["bytes_per_token"] / tks["bpe400"]["sample"]["bytes_per_token"]
    assert small["bytes_per_s_ratio"] == pytest.approx(small["tokens_per_s_ratio"] * bpt)
    text = vocab_compare.table(result)
    assert "| bpe300 | 300 |" in text and "Not measured: quality" in text
