"""FIM-tuning a pretrained model: the hole examples, the tuning run, the CLI route, the GPU script.

Offline and small: the model is the shipped tiny one (it has our own FIM tokens; the
pretrained model's reused markers are checked on its tokenizer when it is cached),
the corpus a few standard-library files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from reason_lsp.engine import fim  # noqa: E402
from reason_lsp.training import cli  # noqa: E402
from reason_lsp.training.fim_tune import TuneOptions, tune, tuning_format  # noqa: E402
from reason_lsp.training.infill import IGNORE, InfillExamples, _hole  # noqa: E402
from reason_lsp.training.repo import Doc  # noqa: E402
from reason_lsp.training.tokenizer import load_tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "models" / "reason-code-small"
STDLIB = Path(sysconfig.get_paths()["stdlib"])
SOURCES = ("textwrap.py", "shlex.py", "fnmatch.py")


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return [Doc(n, "stdlib", (STDLIB / n).read_text(encoding="utf-8")) for n in SOURCES]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(TINY)


def _corpus(folder: Path, names: tuple[str, ...]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "split.jsonl"
    rows = [{"path": n, "text": (STDLIB / n).read_text(encoding="utf-8")} for n in names]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["line", "rest-of-line", "lines"]))
def test_holes_are_non_blank_and_end_at_a_line_end(seed, kind):
    import random

    text = (STDLIB / "fnmatch.py").read_text(encoding="utf-8")
    span = _hole(text, kind, random.Random(seed))
    assert span is not None
    start, end = span
    hole = text[start:end]
    assert hole.strip()
    # A hole ends at a line end: after its line break, or before it (the cursor's line
    # goes on, so the suffix starts with the break).
    assert end == len(text) or text[end - 1] == "\n" or text[end] == "\n"
    if kind != "lines":
        assert hole.count("\n") <= 1
    if kind == "rest-of-line":
        assert start > text.rfind("\n", 0, start) + 1 or text[start] != " "


@pytest.mark.parametrize("orders", [("spm",), ("psm",)])
def test_examples_score_the_middle_and_its_end_only(docs, tok, orders):
    fmt = fim.FimFormat("t", fim.FIM_PREFIX, fim.FIM_SUFFIX, fim.FIM_MIDDLE, orders=orders)
    draw = InfillExamples(docs, tok, fmt, seq_len=256, repo_rate=0.0, seed=3)
    eos, middle_id = tok.token_to_id(fim.EOS), tok.token_to_id(fim.FIM_MIDDLE)
    for _ in range(40):
        prefix, middle, suffix = draw.texts()
        ids, labels = draw.encode(prefix, middle, suffix)
        assert len(ids) == len(labels) <= 256
        scored = [t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE]
        assert scored == [lab for lab in labels if lab != IGNORE]
        assert scored[-1] == eos and ids[-1] == eos
        first = labels.index(next(lab for lab in labels if lab != IGNORE))
        # The scored text is the middle, after the prefix's last word in SPM: the
        # engine backs that word off and token healing regenerates it.
        healed = tok.decode(scored[:-1])
        assert healed.endswith(middle) and prefix.endswith(healed[: len(healed) - len(middle)])
        assert len(healed) - len(middle) <= (48 if orders == ("spm",) else 0)
        assert ids[0] == tok.token_to_id(fim.FIM_PREFIX)
        if orders == ("spm",):
            assert ids[1] == tok.token_to_id(fim.FIM_SUFFIX) and middle_id in ids[:first]
        else:
            assert ids[first - 1] == middle_id


def test_batches_pad_with_unscored_positions(docs, tok):
    draw = InfillExamples(docs, tok, fim.REASON, seq_len=128, repo_rate=0.5, seed=0)
    ids, labels = draw.batch(6)
    assert ids.shape == labels.shape and ids.shape[0] == 6 and ids.shape[1] <= 128
    assert ((labels == IGNORE) | (labels == ids)).all()
    assert (labels != IGNORE).sum(axis=1).min() >= 2  # every row scores a middle and its end


def test_a_tokenizer_without_fim_tokens_is_refused(docs, tok):
    fmt = fim.FimFormat("none", "<no_prefix>", "<no_suffix>", "<no_middle>")
    with pytest.raises(ValueError, match="no <no_prefix>"):
        InfillExamples(docs, tok, fmt)


def test_the_pretrained_tokenizer_gets_the_reused_markers(pretrained_model):
    folder = pretrained_model
    tok = load_tokenizer(folder)
    assert tuning_format(tok, folder) == fim.REUSED_ISSUE_TOKENS
    # The untuned model must never be taken for a FIM model: only a record names it.
    assert fim.detect(tok.get_vocab(with_added_tokens=True), folder) is None
    assert fim.by_name("reused-issue-tokens") == fim.REUSED_ISSUE_TOKENS


@pytest.mark.parametrize("rank", [4, 0])
def test_a_short_tuning_run_exports_a_folder_the_engine_loads(tmp_path, rank):
    from reason_lsp.engine import loader
    from reason_lsp.engine.api import EngineConfig

    opts = TuneOptions(
        init=TINY, corpus=[_corpus(tmp_path / "train", SOURCES)], out=tmp_path / "tuned",
        valid=[_corpus(tmp_path / "valid", ("colorsys.py",))], minutes=0.05, lora_rank=rank,
        batch=2, seq_len=96, eval_examples=4, threads=1,
    )  # fmt: skip
    tune(opts, log=lambda _m: None)
    stats = json.loads((opts.out / "training_stats.json").read_text())
    assert stats["steps"] >= 1 and stats["lora_rank"] == rank
    curve = stats["curve"]
    assert curve[0]["step"] == 0 and curve[-1]["step"] == stats["steps"]
    assert {"split_middle_loss", "split_middle_accuracy"} <= set(curve[-1])
    assert (opts.out / "adapter" / "adapter_model.safetensors").is_file() == bool(rank)
    assert fim.read_record(opts.out) == fim.REASON
    assert loader.load(EngineConfig(model=str(opts.out))).fim == fim.REASON


def test_train_init_routes_a_model_without_our_tokens_to_fim_tuning(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(
        "reason_lsp.training.fim_tune.tune", lambda opts, log=None: seen.append(opts)
    )
    common = ["train", "--init", str(TINY), "--minutes", "1", "--out", str(tmp_path / "o")]
    assert cli.main([*common, "--lora-rank", "8"]) == 0  # asked for by name
    monkeypatch.setattr(cli, "_has_own_sentinels", lambda folder: False)
    assert cli.main(common) == 0  # a model without our FIM tokens
    assert [o.lora_rank for o in seen] == [8, 16]
    assert all(o.seq_len == 320 and o.warmup == 20 and o.repo_rate == 0.25 for o in seen)
    assert cli.main(["train", "--init", str(TINY), "--tokens", "100"]) == 2


def test_the_tiny_model_keeps_the_pretraining_route():
    assert cli._has_own_sentinels(TINY)


def test_gpu_fim_script_dry_run_on_the_cpu(tmp_path):
    """bench/gpu_fim.sh end to end on the CPU with the tiny model as the base."""
    out = tmp_path / "out"
    env = {
        **os.environ, "PY": sys.executable, "OUT": str(out), "GPU_FIM_DEVICE": "cpu",
        "GPU_FIM_BASE": str(TINY), "GPU_FIM_MINUTES": "0.05", "GPU_FIM_BATCH": "2",
        "GPU_FIM_SEQ_LEN": "96", "GPU_FIM_CORPUS": str(_corpus(tmp_path / "c", SOURCES)),
        "GPU_FIM_VALID": str(_corpus(tmp_path / "v", ("colorsys.py",))),
        "GPU_FIM_EVAL_EXAMPLES": "4", "OMP_NUM_THREADS": "1",
    }  # fmt: skip
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_fim.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["adapter_config.json", "adapter_model.safetensors", "fim.json",
                     "train.log", "training_stats.json"]  # fmt: skip
    assert "saved" in (out / "train.log").read_text()
    from reason_lsp.training.fim_tune import merge

    merged = merge(TINY, out, tmp_path / "merged")
    assert fim.read_record(merged) == fim.REASON
    assert json.loads((merged / "training_stats.json").read_text())["merged_onto"] == str(TINY)
