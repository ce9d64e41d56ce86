"""The evaluation harness (``bench/model_quality.py``): sampling, and that it runs the
server's own decoder (healing and identifier search are tested in ``test_engine.py``).
"""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from reason_lsp.engine import fim  # noqa: E402
from reason_lsp.training import cases as C  # noqa: E402
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


def test_code_lines_skip_blank_and_comment_lines():
    lines = C.code_lines(CODE)
    texts = [line for _, _, line in lines]
    assert "    # a comment" not in texts and "" not in texts
    for offset, indent, line in lines:
        assert CODE[offset : offset + len(line)] == line
        assert line[indent] != " "


def test_next_line_cases_end_at_the_indentation():
    records = [{"text": CODE}]
    cases = C.next_line_cases(records, random.Random(0), 100)
    assert cases == C.next_line_cases(records, random.Random(0), 100)  # deterministic
    assert len(cases) == len(C.code_lines(CODE))
    for prompt, truth in cases:
        assert CODE.startswith(prompt + truth)
        assert prompt == "" or prompt.endswith(("\n", " "))
        assert truth and not truth[0].isspace() and "\n" not in truth


def test_fim_cases_split_one_line():
    for prefix, middle, suffix in C.fim_cases([{"text": CODE}], random.Random(1), 50):
        assert prefix + middle + suffix == CODE
        assert middle.strip() and "\n" not in middle
        assert suffix.startswith("\n")


def test_dot_positions_are_names_followed_by_identifiers():
    found = C.dot_positions(CODE)
    names = [name for _, name in found]
    assert names == ["path", "size", "size", "sep", "count"]
    for offset, name in found:
        assert CODE[offset - 1] == "." and CODE[offset:].startswith(name)
    assert C.dot_positions("def broken(:\n  x.y\n") == []  # untokenizable: skipped


def test_tasks_run_through_the_servers_decoder(tok, tmp_path):
    """The evaluation's answers are the Decoder's: same prompt, same healing, same search."""
    from transformers import PreTrainedTokenizerFast

    from reason_lsp.engine import EngineConfig, GenerateRequest, loader
    from reason_lsp.engine.decoder import Decoder

    torch.manual_seed(0)
    shape = ModelShape(hidden=32, layers=2, heads=2, kv_heads=2, intermediate=64, vocab=512)
    model = build_model(shape).eval()
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=fim.EOS)
    hf_tok.save_pretrained(tmp_path)
    loaded = loader.wrap(model, str(tmp_path), EngineConfig(device="cpu"), hf_tok)
    decoder = Decoder(loaded, 256)
    sample = C.Sample("tiny", [{"path": "x.py", "text": CODE}])
    lines = quality.eval_next_line(decoder, sample, 5)
    assert lines["n"] == 5
    for row in lines["examples"]:
        assert "\n" not in row["pred"]
        prompt = next(p for p, t in C.next_line_cases(sample.records, sample.rng("line"), 5)
                      if t == row["truth"])  # fmt: skip
        request = GenerateRequest(prefix=prompt, max_new_tokens=quality.LINE_TOKENS,
                                  stop=quality.first_line, key="again")  # fmt: skip
        assert decoder.generate(request).samples[0].text.rstrip() == row["pred"]
    idents = quality.eval_ident(decoder, sample, 3, jedi=False)
    for row in idents["examples"]:
        assert len(row["model"]) <= 5 and all(n.isidentifier() for n in row["model"])
    assert quality.eval_fim(decoder, sample, 3)["n"] == 3
