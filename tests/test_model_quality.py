"""The evaluation harness (``bench/model_quality.py``): sampling, token healing, ranking.

Uses a stub model with fixed next-token scores (so the expected output can be worked
out by hand) and a tiny random Llama (so the real cache calls are exercised).
"""

from __future__ import annotations

import copy
import random
import sysconfig
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from reason_lsp.engine import fim  # noqa: E402
from reason_lsp.training import quality  # noqa: E402
from reason_lsp.training.tokenizer import train_tokenizer  # noqa: E402
from reason_lsp.training.train import ModelShape, build_model  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])

CODE = """\
import os.path


class Box:
    # a comment
    def __init__(self, size):
        self.size = size  # self.ignored

    def area(self):
        return self.size * os.sep.count("/") + 1.5


from . import sibling
x = Box(2).area() + len('a.b') + Box . mro
"""


@pytest.fixture(scope="module")
def tok():
    texts = [(STDLIB / n).read_text(encoding="utf-8") for n in ("textwrap.py", "shlex.py")]
    return train_tokenizer([*texts, CODE], vocab_size=512)


class _NullCache:
    def batch_repeat_interleave(self, n: int) -> None:
        pass


class StubModel(torch.nn.Module):
    """Scores every next token the same way, whatever the input."""

    def __init__(self, scores: torch.Tensor) -> None:
        super().__init__()
        self.scores = scores
        self.head = torch.nn.Linear(1, len(scores), bias=False)

    def get_output_embeddings(self):
        return self.head

    def forward(self, input_ids, cache=None, use_cache=True, logits_to_keep=0):
        b, t = input_ids.shape
        t = 1 if logits_to_keep == 1 else t
        return SimpleNamespace(logits=self.scores.expand(b, t, -1), cache=_NullCache())


def _stub(tok, preferences: dict[str, float]) -> quality.LM:
    scores = torch.zeros(tok.get_vocab_size())
    for piece, score in preferences.items():
        scores[tok.token_to_id(piece)] = score
    return quality.LM(StubModel(scores), tok)


def test_code_lines_skip_blank_and_comment_lines():
    lines = quality.code_lines(CODE)
    texts = [line for _, _, line in lines]
    assert "    # a comment" not in texts and "" not in texts
    for offset, indent, line in lines:
        assert CODE[offset : offset + len(line)] == line
        assert line[indent] != " "


def test_next_line_cases_end_at_the_indentation():
    records = [{"text": CODE}]
    cases = quality.next_line_cases(records, random.Random(0), 100)
    assert cases == quality.next_line_cases(records, random.Random(0), 100)  # deterministic
    assert len(cases) == len(quality.code_lines(CODE))
    for prompt, truth in cases:
        assert CODE.startswith(prompt + truth)
        assert prompt == "" or prompt.endswith(("\n", " "))
        assert truth and not truth[0].isspace() and "\n" not in truth


def test_fim_cases_split_one_line():
    for prefix, middle, suffix in quality.fim_cases([{"text": CODE}], random.Random(1), 50):
        assert prefix + middle + suffix == CODE
        assert middle.strip() and "\n" not in middle
        assert suffix.startswith("\n")


def test_dot_positions_are_names_followed_by_identifiers():
    found = quality.dot_positions(CODE)
    names = [name for _, name in found]
    assert names == ["path", "size", "size", "sep", "count"]
    for offset, name in found:
        assert CODE[offset - 1] == "." and CODE[offset:].startswith(name)
    assert quality.dot_positions("def broken(:\n  x.y\n") == []  # untokenizable: skipped


def test_heal_backs_off_the_last_token(tok):
    lm = _stub(tok, {})
    for prompt in ("x = self.", "def f():\n    ", "import os\n"):
        ids = lm.encode(prompt)
        shorter, removed = lm.heal(ids)
        assert shorter == ids[:-1] and removed
        assert tok.decode(shorter) + removed == prompt
    assert lm.heal([lm.eos]) == ([lm.eos], "")


def test_left_ids_truncate_and_mark_file_starts(tok):
    lm = _stub(tok, {})
    assert lm.left_ids("import os\n", 64)[0] == lm.eos
    long = CODE * 20
    ids = lm.left_ids(long, 64)
    assert len(ids) == 64 and ids[0] != lm.eos
    assert long.endswith(tok.decode(ids[1:]))


def test_complete_spells_the_healed_text_first(tok):
    # "x" is the favourite token and " " the second: healing "  " must take two " ".
    lm = _stub(tok, {"x": 6.0, "Ġ": 5.0})
    assert lm.complete([lm.eos], healed="  ", max_new=6) == "xxxx"
    assert lm.complete([lm.eos], healed="", max_new=3) == "xxx"
    # A newline ends a line completion; the end-of-text token ends any completion.
    assert _stub(tok, {"Ċ": 6.0}).complete([lm.eos], max_new=5) == ""
    assert _stub(tok, {fim.EOS: 6.0}).complete([lm.eos], stop_at_newline=False) == ""


def test_rank_identifiers_sums_the_end_of_the_name(tok):
    lm = _stub(tok, {".": 5.0, "x": 4.0, "(": 3.0})
    ranked = lm.rank_identifiers([lm.eos], healed=".", beam=4)
    names = [name for name, _ in ranked]
    assert names[:3] == ["x", "xx", "xxx"]
    probs = [p for _, p in ranked]
    assert probs == sorted(probs, reverse=True) and 0 < probs[-1] <= probs[0] < 1
    assert all(name.isidentifier() for name in names)


def test_real_model_cache_use_matches_full_forward(tok):
    torch.manual_seed(0)
    shape = ModelShape(hidden=32, layers=2, heads=2, kv_heads=2, intermediate=64, vocab=512)
    model = build_model(shape).eval()
    lm = quality.LM(model, tok)
    ids = lm.encode("def area(self):\n        return self.")
    with torch.inference_mode():
        _, cache = lm.prefill(ids)
        pristine = copy.deepcopy(cache)
        batch = copy.deepcopy(cache)
        batch.batch_repeat_interleave(2)
        nxt = [[7, 8], [9, 10]]
        out = model(input_ids=torch.tensor(nxt), cache=batch, use_cache=True, logits_to_keep=1)
        for row, extra in zip(out.logits[:, -1], nxt, strict=True):
            full = model(input_ids=torch.tensor([ids + extra])).logits[0, -1]
            torch.testing.assert_close(row, full, atol=1e-4, rtol=1e-4)
        assert cache.get_seq_length() == pristine.get_seq_length() == len(ids)
        # The public entry points run on a real model and cache.
        shorter, healed = lm.heal(ids)
        assert "\n" not in lm.complete(shorter, healed, max_new=8)
        ranked = lm.rank_identifiers(shorter, healed, beam=3, depth=2)
        assert len(ranked) <= 5 and all(name.isidentifier() for name, _ in ranked)
