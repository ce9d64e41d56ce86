"""The training pipeline, end to end on a tiny config, and its pure parts (licenses, FIM rows).

Offline and fast: the corpus is a few standard-library files copied to a temporary
folder, the tokenizer has 512 tokens and the model one layer of width 32.
"""

from __future__ import annotations

import os
import random
import sysconfig
from dataclasses import replace
from email.message import Message
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from reason_lsp.engine import fim  # noqa: E402
from reason_lsp.training import corpus  # noqa: E402
from reason_lsp.training.data import FimSampler, load_texts  # noqa: E402
from reason_lsp.training.tokenizer import (  # noqa: E402
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)
from reason_lsp.training.train import ModelShape, TrainOptions, train  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SOURCES = ("textwrap.py", "shlex.py", "fnmatch.py", "sched.py", "graphlib.py", "queue.py")
HELD_OUT = ("colorsys.py", "bisect.py")
TINY = ModelShape(hidden=32, layers=1, heads=2, kv_heads=2, intermediate=64, vocab=512)


def _copy_clean(names: tuple[str, ...], folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        text = (STDLIB / name).read_text(encoding="utf-8")
        if corpus.clean(text):
            (folder / name).write_text(text, encoding="utf-8")
    # Files the loader must skip: hidden folders and blank files.
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "skipped.py").write_text("x = 1\n")
    (folder / "blank.py").write_text("\n\n")
    return folder


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    return _copy_clean(SOURCES, tmp_path_factory.mktemp("corpus") / "src")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus_dir) -> TrainOptions:
    """A few steps of the tiny config, from scratch to an exported model folder."""
    root = tmp_path_factory.mktemp("run")
    valid = _copy_clean(HELD_OUT, root / "held_out")
    opts = TrainOptions(
        corpus=[corpus_dir],
        out=root / "model",
        run_dir=root / "run",
        valid=[valid],
        tokens=3 * 2 * 64,  # three steps of 2 rows x 64 tokens
        seq_len=64,
        batch=2,
        warmup=2,
        shape=TINY,
    )
    train(opts, log=lambda _msg: None)
    return opts


def test_load_texts_reads_a_folder_of_python(corpus_dir):
    texts = load_texts([corpus_dir])
    assert len(texts) == len(SOURCES)
    assert all(text.strip() for text in texts)
    with pytest.raises(FileNotFoundError):
        load_texts([corpus_dir / "missing.jsonl"])


def test_clean_drops_generated_minified_and_tiny_files():
    code = "def f(x):\n    return x + 1\n" * 20
    assert corpus.clean(code)
    assert not corpus.clean("x = 1\n")
    assert not corpus.clean("# Auto-generated file, do not edit\n" + code)
    assert not corpus.clean(code + "y = [" + "1, " * 200 + "]\n")


def test_training_pipeline_end_to_end(trained):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = trained.out
    for name in ("config.json", "model.safetensors", "tokenizer.json", "fim.json"):
        assert (out / name).is_file(), name
    with safe_open(out / "model.safetensors", framework="pt") as f:
        names = list(f.keys())
        assert {f.get_slice(k).get_dtype() for k in names} == {"BF16"}

    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    assert model.config.model_type == "llama"
    assert model.config.vocab_size == TINY.vocab
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert tok.convert_tokens_to_ids(list(fim.SPECIAL_TOKENS)) == list(range(6))
    assert tok.eos_token == fim.EOS

    code = "def f(x):\n    return x\n"
    ids = tok(code, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == code
    assert ids == load_tokenizer(out).encode(code, add_special_tokens=False).ids
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), TINY.vocab)
    assert torch.isfinite(logits).all()

    # The FIM format is found from the folder's record and from the vocabulary alone.
    assert fim.detect(tok.get_vocab(), out) == fim.REASON
    from_vocab = fim.detect(tok.get_vocab())
    assert from_vocab is not None and from_vocab.prefix == fim.FIM_PREFIX


def test_training_records_stats_and_resumes(trained):
    import json

    stats = json.loads((trained.out / "training_stats.json").read_text())
    assert stats["steps"] == 3
    assert stats["tokens"] == trained.tokens
    assert 0 < stats["held_out"] < 20  # bits/byte of the held-out folder

    state = torch.load(trained.run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 3
    resumed = replace(trained, tokens=5 * 2 * 64, resume=True, out=trained.out.parent / "m2")
    train(resumed, log=lambda _msg: None)
    state = torch.load(trained.run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 5


def test_fim_sampler_rows_decode_to_fim_examples(corpus_dir):
    texts = load_texts([corpus_dir])
    tok = train_tokenizer(texts, vocab_size=512)
    ids = {name: tok.token_to_id(name) for name in fim.SPECIAL_TOKENS}
    sampler = FimSampler(texts, tok, seq_len=64, fim_rate=0.5, seed=0)
    rows = sampler.batch(64)
    assert rows.shape == (64, 65)
    assert rows.min() >= 0 and rows.max() < tok.get_vocab_size()

    # One batch is a contiguous stream: cut it into FIM examples and check each one.
    stream = rows.reshape(-1).tolist()
    special = {i for i in ids.values()}
    marks = [(i, t) for i, t in enumerate(stream) if t in special]
    orders = set()
    for k, (pos, token) in enumerate(marks):
        if token != ids[fim.FIM_PREFIX]:
            continue
        following = [t for _, t in marks[k + 1 : k + 4]]
        expected = [ids[fim.FIM_SUFFIX], ids[fim.FIM_MIDDLE], ids[fim.EOS]]
        assert following == expected[: len(following)]  # in order (or cut by the batch end)
        if len(following) < 3:
            continue
        (suf, _), (mid, _), (end, _) = marks[k + 1 : k + 4]
        first = tok.decode(stream[pos + 1 : suf])
        second = tok.decode(stream[suf + 1 : mid])
        last = tok.decode(stream[mid + 1 : end])
        if suf == pos + 1:  # SPM: suffix, then prefix + middle
            orders.add("spm")
            original = last + second
        else:  # PSM: prefix, suffix, middle
            orders.add("psm")
            original = first + last + second
        assert any(original in text for text in texts)
    assert orders == {"psm", "spm"}


def test_tokenizer_round_trip_and_special_ids(tmp_path, corpus_dir):
    texts = load_texts([corpus_dir])
    tok = train_tokenizer(texts, vocab_size=512)
    assert [tok.token_to_id(t) for t in fim.SPECIAL_TOKENS] == list(range(6))
    save_tokenizer(tok, tmp_path / "tok")
    again = load_tokenizer(tmp_path / "tok")
    code = "class A:\n    def f(self):\n        return self._x  # é\n"
    assert again.decode(again.encode(code).ids) == code
    # The documented pre-tokenizer quirk the engine heals: the last indent space
    # belongs to the next word, so "\n    return" is not "\n    " + "return".
    pieces = [again.decode([i]) for i in again.encode("):\n    return x").ids]
    assert "return" not in pieces


# -- licenses ---------------------------------------------------------------------------


def _dist(expression=None, classifiers=(), license_text=None):
    meta = Message()
    if expression is not None:
        meta["License-Expression"] = expression
    for c in classifiers:
        meta["Classifier"] = c
    if license_text is not None:
        meta["License"] = license_text
    return SimpleNamespace(metadata=meta)


@pytest.mark.parametrize(
    "expression",
    ["MIT", "Apache-2.0 AND CNRI-Python", "BSD-3-Clause", "(MIT OR GPL-3.0-only)", "PSF-2.0"],
)
def test_permissive_spdx_expressions(expression):
    assert corpus._spdx_permissive(expression)
    assert corpus.license_of(_dist(expression)) == (expression, True)


@pytest.mark.parametrize(
    "expression",
    ["MPL-2.0", "GPL-3.0-or-later", "MIT AND GPL-3.0", "LGPL-2.1-only", "LicenseRef-Proprietary"],
)
def test_other_spdx_expressions_are_excluded(expression):
    assert not corpus._spdx_permissive(expression)
    assert corpus.license_of(_dist(expression))[1] is False


def test_license_from_classifiers_and_text():
    mit = "License :: OSI Approved :: MIT License"
    apache = "License :: OSI Approved :: Apache Software License"
    mpl = "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)"
    gpl = "License :: OSI Approved :: GNU General Public License v3 (GPLv3)"
    assert corpus.license_of(_dist(classifiers=[mit])) == ("MIT License", True)
    assert corpus.license_of(_dist(classifiers=[mit, apache]))[1]
    assert not corpus.license_of(_dist(classifiers=[mpl]))[1]
    assert not corpus.license_of(_dist(classifiers=[gpl]))[1]
    assert not corpus.license_of(_dist(classifiers=[mit, gpl]))[1]
    # The expression wins over classifiers, which win over the free-text field.
    assert not corpus.license_of(_dist("GPL-3.0-only", [mit]))[1]
    assert corpus.license_of(_dist(license_text="BSD"))[1]
    assert not corpus.license_of(_dist(license_text="GPL"))[1]
    assert corpus.license_of(_dist()) == ("unknown", False)
    assert not corpus.license_of(_dist(license_text="see LICENSE.txt\nfull text ..."))[1]


@pytest.mark.parametrize(
    ("rel", "package"),
    [
        ("json/decoder.py", "json"),
        ("test/test_json/test_decode.py", "json"),
        ("test/test_email/test_email.py", "email"),
        ("test/test_httplib.py", "http"),
        ("test/test_os.py", "test"),
        ("os.py", "os"),
    ],
)
def test_stdlib_tests_join_the_package_they_test(rel, package):
    # Held-out packages take their tests along, so validation never leaks into training.
    assert corpus._stdlib_package(Path(rel)) == package


def test_the_fixture_files_exist():
    # The fixtures read these standard-library files; fail loudly if a Python lacks them.
    for name in SOURCES + HELD_OUT:
        assert (STDLIB / name).is_file(), name


def test_eval_full_runs_on_the_tiny_model(trained, tmp_path):
    import json

    from reason_lsp.engine import GenerateRequest
    from reason_lsp.training import quality
    from reason_lsp.training.cli import main

    records = [
        {"path": f"held/{p.name}", "package": "held", "text": p.read_text(encoding="utf-8")}
        for p in sorted(trained.valid[0].glob("*.py"))
    ]
    split = tmp_path / "valid_tiny.jsonl"
    split.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    report_path = tmp_path / "report.json"
    argv = ["eval", "--full", "--model", str(trained.out), "--valid", str(split), "-n", "3"]
    assert main([*argv, "--max-bytes", "5000", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())["splits"]["valid_tiny"]
    assert report["bpb"]["bits_per_byte"] > 0
    assert report["next_line"]["n"] == report["fim"]["n"] == 3
    assert 1 <= report["identifier"]["n"] <= 3  # as many "name." places as the files hold
    for key in ("exact", "edit_similarity"):
        assert 0 <= report["next_line"][key] <= 1
    assert report["identifier"]["jedi_top5"] is not None

    # A training checkpoint evaluates as well as an exported folder.
    decoder = quality.load_decoder(trained.run_dir / "checkpoint.pt", 128)
    assert decoder.model.config.vocab_size == TINY.vocab
    request = GenerateRequest(prefix="def f(x):\n    ", max_new_tokens=4, stop=quality.first_line)
    assert "\n" not in decoder.generate(request).samples[0].text


# -- examples: line-aligned windows, <|endoftext|>, repository context ---------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from reason_lsp.training import repo  # noqa: E402
from reason_lsp.training.data import line_span, load_docs  # noqa: E402

PACKAGE = {
    "pkg/__init__.py": "from .app import run\n\n\ndef version():\n    return '1'\n",
    "pkg/util.py": (
        "import os\n\n\n"
        "def helper(path,\n           mode='r'):\n"
        '    """Open PATH relative to the package."""\n'
        "    return open(os.path.join(os.path.dirname(__file__), path), mode)\n\n\n"
        "class Cache:\n    '''A tiny cache.'''\n\n    def get(self, key):\n        return None\n"
    ),
    "pkg/app.py": (
        "from .util import helper\nfrom pkg import models\n\n\n"
        + "".join(f"def step_{i}(x):\n    return helper(x) + {i}\n\n\n" for i in range(40))
    ),
    "pkg/models.py": "class Model:\n    name = 'm'\n\n    def save(self):\n        pass\n" * 5,
    **{
        f"pkg/extra_{k}.py": f"VALUE_{k} = {k}\n\n\ndef f_{k}():\n    return {k}\n" * 8
        for k in range(6)
    },
}


@pytest.fixture(scope="module")
def package_docs(tmp_path_factory) -> list:
    root = tmp_path_factory.mktemp("repo") / "myproject"
    for rel, text in PACKAGE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return load_docs([root])


@pytest.fixture(scope="module")
def small_tok(corpus_dir):
    return train_tokenizer(load_texts([corpus_dir]) + list(PACKAGE.values()), vocab_size=512)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="ab =()\t", max_size=40), min_size=1, max_size=80),
    end_newline=st.booleans(),
    size=st.integers(min_value=8, max_value=600),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_line_windows_start_at_a_line_and_end_at_a_line_break(lines, end_newline, size, seed):
    text = "\n".join(lines) + ("\n" if end_newline else "")
    start, end = line_span(text, size, random.Random(seed))
    assert 0 <= start < end <= len(text) or text == ""
    assert end - start <= size
    assert start == 0 or text[start - 1] == "\n"
    # The end is a line break, the end of the text, or (one line longer than the window)
    # the window's limit.
    assert end == len(text) or text[end - 1] == "\n" or "\n" not in text[start:end]


def test_every_example_ends_with_endoftext(corpus_dir, small_tok):
    docs = load_docs([corpus_dir])
    sampler = FimSampler(docs, small_tok, seq_len=256, fim_rate=0.5, seed=3)
    plain = 0
    for _ in range(300):
        parts = sampler.example()
        assert parts[-1] == ("special", fim.EOS)
        if len(parts) == 2:  # a plain window: whole lines of one file
            plain += 1
            text = parts[0][1]
            if fim.FILE_SEP in text:  # repository context, then the current file's window
                text = text.split(fim.FILE_SEP)[-1].split("\n", 1)[1]
            doc = next(d.text for d in docs if text in d.text)
            start = doc.find(text)
            assert start == 0 or doc[start - 1] == "\n"
            assert text.endswith("\n") or doc.endswith(text)
    assert 100 < plain < 200
    # In the token stream, every example is followed by <|endoftext|>.
    eos = small_tok.token_to_id(fim.EOS)
    stream = sampler.take(20_000)
    assert (stream == eos).sum() >= 20_000 // (256 * 3)


def test_imports_resolve_to_files_of_the_same_distribution(package_docs):
    assert {d.package for d in package_docs} == {"myproject"}
    paths = [d.path for d in package_docs]
    index = repo.Repository(package_docs)
    app, util, models = (paths.index(f"pkg/{m}.py") for m in ("app", "util", "models"))
    init = paths.index("pkg/__init__.py")
    assert set(index.imports[app]) == {util, models, init}  # "from pkg import" names pkg too
    assert app in index.importers[util] and init in index.importers[app]
    assert set(index.related(util)) == {app}
    assert repo.imported_names("a/b/c.py", "from . import x\nfrom ..y import z as w\n") == [
        "a.b.x", "a.b", "a.y.z", "a.y",
    ]  # fmt: skip
    assert repo.imported_names("a/__init__.py", "import os.path as p, sys\nfrom .m import (k,\n")[
        :3
    ] == ["os.path", "sys", "a.m.k"]
    assert repo.module_name("a/__init__.py") == "a" and repo.module_name("x.txt") is None


def test_declarations_keep_signatures_and_the_first_docstring_line():
    text = repo.declarations(PACKAGE["pkg/util.py"])
    assert text == (
        "def helper(path,\n           mode='r'):\n"
        '    """Open PATH relative to the package."""\n'
        "class Cache:\n    '''A tiny cache.'''\n    def get(self, key):\n"
    )


def test_related_files_come_before_siblings_and_next_to_the_current_file(package_docs):
    index = repo.Repository(package_docs)
    paths = [d.path for d in package_docs]
    app = paths.index("pkg/app.py")
    related = {paths[j] for j in index.related(app)}
    for seed in range(20):
        pieces = index.context(app, 5000, random.Random(seed))
        assert 1 <= len(pieces) <= repo.MAX_PIECES
        names = [p for p, _ in pieces]
        assert "pkg/app.py" not in names
        k = sum(name in related for name in names)
        assert k == min(len(related), len(pieces))  # related files are taken first
        assert set(names[len(names) - k :]) <= related  # and sit next to the current file
        for path, text in pieces:
            source = PACKAGE[path]
            assert text in source or text == repo.declarations(source)[: len(text)]
            assert len(text.splitlines()) <= repo.SNIPPET_LINES


def test_repository_examples_use_the_decoders_layout(package_docs, small_tok, tmp_path):
    from transformers import PreTrainedTokenizerFast

    sampler = FimSampler(package_docs, small_tok, seq_len=512, fim_rate=0.0, repo_rate=1.0, seed=1)
    texts = {d.path: d.text for d in package_docs}
    seen = 0
    for _ in range(60):
        (kind, text), end = sampler.example()
        assert kind == "text" and end == ("special", fim.EOS)
        if fim.FILE_SEP not in text:
            continue
        seen += 1
        segments = text.split(fim.FILE_SEP)[1:]
        pieces = [tuple(s.split("\n", 1)) for s in segments[:-1]]
        path, window = segments[-1].split("\n", 1)
        assert window in texts[path]
        # Rendered by the function the decoder renders its prompts with.
        assert fim.repository_text(fim.REASON, pieces, path) + window == text
        assert all(p in texts and p != path for p, _ in pieces)
    assert seen > 40
    # <file_sep> is one special token, in the training stream as in the server's tokenizer.
    hf = PreTrainedTokenizerFast(tokenizer_object=small_tok, eos_token=fim.EOS)
    sep = small_tok.token_to_id(fim.FILE_SEP)
    ids = small_tok.encode(text, add_special_tokens=False).ids
    assert ids == hf(text, add_special_tokens=False)["input_ids"]
    assert ids.count(sep) == text.count(fim.FILE_SEP) >= 2


def test_fim_examples_put_the_repository_context_on_the_prefix_side(package_docs, small_tok):
    sampler = FimSampler(package_docs, small_tok, seq_len=512, fim_rate=1.0, repo_rate=1.0, seed=2)
    orders = set()
    for _ in range(80):
        parts = sampler.example()
        names = [p for k, p in parts if k == "special"]
        texts = [p for k, p in parts if k == "text"]
        assert names == [fim.FIM_PREFIX, fim.FIM_SUFFIX, fim.FIM_MIDDLE, fim.EOS]
        if parts[1] == ("special", fim.FIM_SUFFIX):  # SPM: suffix, then prefix + middle
            orders.add("spm")
            prefix_side, suffix = texts[1], texts[0]
        else:  # PSM: prefix, suffix, middle
            orders.add("psm")
            prefix_side, suffix = texts[0], texts[1]
        assert fim.FILE_SEP not in suffix
        if fim.FILE_SEP in prefix_side:
            assert prefix_side.startswith(fim.FILE_SEP)
    assert orders == {"psm", "spm"}


# -- optimizers, clocks, packed streams, export -------------------------------------------

from reason_lsp.training import optim as optim_mod  # noqa: E402
from reason_lsp.training.pack import PackedStream, pack  # noqa: E402
from reason_lsp.training.train import SHAPES, build_model, export  # noqa: E402


def test_muon_takes_the_hidden_matrices_and_adamw_the_rest():
    model = build_model(TINY)
    optims = optim_mod.make_optimizers(model, "muon", lr=1e-3, muon_lr=0.02)
    assert [type(o).__name__ for o in optims] == ["Muon", "AdamW"]
    muon = {id(p) for g in optims[0].param_groups for p in g["params"]}
    adamw = {id(p) for g in optims[1].param_groups for p in g["params"]}
    names = {id(p): n for n, p in model.named_parameters()}
    assert muon.isdisjoint(adamw) and muon | adamw == set(names)
    suffixes = ("q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight",
                "gate_proj.weight", "up_proj.weight", "down_proj.weight")  # fmt: skip
    assert {names[i] for i in muon} == {n for n in names.values() if n.endswith(suffixes)}
    assert any("embed_tokens" in names[i] for i in adamw)  # the tied embedding and head
    # Muon's decoupled decay per step matches AdamW's (lr x weight decay).
    assert optims[0].param_groups[0]["weight_decay"] * 0.02 == pytest.approx(1e-3 * 0.1)
    optim_mod.set_lr(optims, 0.5)
    assert optims[0].param_groups[0]["lr"] == 0.01 and optims[1].param_groups[0]["lr"] == 5e-4
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim_mod.make_optimizers(model, "sgd", lr=1e-3)


def test_schedule_warms_up_holds_and_decays_to_a_tenth():
    assert optim_mod.schedule(0, 0.0, warmup=10, decay_frac=0.25) == pytest.approx(0.1)
    assert optim_mod.schedule(50, 0.5, warmup=10, decay_frac=0.25) == 1.0
    assert optim_mod.schedule(99, 0.875, warmup=10, decay_frac=0.25) == pytest.approx(0.55)
    assert optim_mod.schedule(99, 1.0, warmup=10, decay_frac=0.25) == pytest.approx(0.1)


def test_the_trained_window_is_max_position_embeddings(trained):
    import json

    config = json.loads((trained.out / "config.json").read_text())
    assert config["max_position_embeddings"] == trained.seq_len == 64
    state = torch.load(trained.run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert "'max_positions': 64" in state["options"]["shape"]


def test_muon_run_on_the_cpu_clock_resumes_and_refuses_another_optimizer(tmp_path, corpus_dir):
    import json

    opts = TrainOptions(
        corpus=[corpus_dir], out=tmp_path / "model", run_dir=tmp_path / "run",
        tokens=3 * 2 * 64, seq_len=64, batch=2, warmup=2, shape=TINY, optimizer="muon",
        clock="cpu",
    )  # fmt: skip
    train(opts, log=lambda _msg: None)
    stats = json.loads((opts.out / "training_stats.json").read_text())
    assert stats["optimizer"] == "muon" and stats["steps"] == 3
    assert stats["cpu_hours"] > 0 and stats["clock"] == "cpu"
    resumed = replace(opts, tokens=5 * 2 * 64, resume=True)
    train(resumed, log=lambda _msg: None)
    state = torch.load(opts.run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 5 and len(state["optim"]) == 2
    assert state["cpu"] > stats["cpu_hours"] * 3600 * 0.5  # CPU time carries across resumes
    with pytest.raises(ValueError, match="another optimizer"):
        train(replace(resumed, optimizer="adamw"), log=lambda _msg: None)

    # A CPU-minute budget ends the run by the process's CPU time.
    timed = replace(opts, tokens=None, minutes=0.01, run_dir=tmp_path / "timed", resume=False)
    train(timed, log=lambda _msg: None)
    stats = json.loads((timed.out / "training_stats.json").read_text())
    assert stats["budget_minutes"] >= 0.01 and stats["cpu_hours"] * 60 >= 0.01


def test_packed_stream_round_trip_epochs_and_resume(tmp_path, corpus_dir, trained):
    import json

    tok_dir = trained.run_dir / "tokenizer"
    valid = tmp_path / "valid_tiny.jsonl"
    valid.write_text(json.dumps({"path": "a.py", "text": "x = 1\n" * 50}) + "\n")
    meta = pack([corpus_dir], tok_dir, tmp_path / "pack", 5000, [valid], seq_len=64)
    assert meta["tokens"] == 5000 and (tmp_path / "pack" / "valid_tiny.jsonl.xz").is_file()

    stream = PackedStream(tmp_path / "pack", seq_len=64, seed=1)
    assert len(stream.tokens) == 5000 and stream.n_rows == 5000 // 65
    # The stream is the sampler's: the same seed gives the same tokens.
    expected = FimSampler(load_docs([corpus_dir]), load_tokenizer(tok_dir), 64).take(5000)
    assert (stream.tokens.astype("int64") == expected).all()
    # One epoch visits every row once; the next epoch reshuffles.
    epoch = stream.batch(stream.n_rows)
    rows = stream.tokens[: stream.n_rows * 65].reshape(stream.n_rows, 65)
    assert sorted(map(tuple, epoch.tolist())) == sorted(map(tuple, rows.tolist()))
    state = stream.state()
    following = stream.batch(3)
    again = PackedStream(tmp_path / "pack", seq_len=64, seed=1)
    again.restore(state)
    assert (again.batch(3) == following).all() and stream.epochs > 1

    # Training on it: the tokenizer comes with the pack; the held-out split is read from .xz.
    opts = TrainOptions(
        corpus=[], out=tmp_path / "model", run_dir=tmp_path / "run", tokens=2 * 2 * 64,
        seq_len=64, batch=2, warmup=1, shape=TINY, packed=tmp_path / "pack",
        valid=[tmp_path / "pack" / "valid_tiny.jsonl.xz"],
    )  # fmt: skip
    train(opts, log=lambda _msg: None)
    stats = json.loads((opts.out / "training_stats.json").read_text())
    assert stats["steps"] == 2 and 0 < stats["valid_tiny"] < 20 and stats["epochs"] > 0
    other = tmp_path / "other_tok"
    save_tokenizer(train_tokenizer(["def f():\n    pass\n"] * 20, vocab_size=300), other)
    (tmp_path / "pack" / "tokenizer.json").write_bytes((other / "tokenizer.json").read_bytes())
    with pytest.raises(ValueError, match="another tokenizer"):
        train(replace(opts, run_dir=tmp_path / "run2"), log=lambda _msg: None)


@pytest.mark.slow
def test_the_gpu_shape_exports_in_at_most_four_shards_of_15_mib(tmp_path, trained):
    from transformers import AutoModelForCausalLM

    shape = replace(SHAPES["gpu"], max_positions=1024)
    model = build_model(shape)
    assert sum(p.numel() for p in model.parameters()) <= 30_000_000
    export(model, trained.run_dir / "tokenizer", tmp_path / "m", seq_len=1024, max_shard_mb=15)
    shards = sorted((tmp_path / "m").glob("*.safetensors"))
    assert 1 < len(shards) <= 4
    assert max(p.stat().st_size for p in shards) <= 15 * 2**20
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "m", local_files_only=True)
    assert again.config.max_position_embeddings == 1024
    # A re-export without sharding leaves no stale shard behind.
    export(build_model(TINY), trained.run_dir / "tokenizer", tmp_path / "m")
    assert [p.name for p in (tmp_path / "m").glob("*.safetensors")] == ["model.safetensors"]


def test_the_card_states_cpu_hours_optimizer_and_examples(trained):
    import json

    from reason_lsp.training import card

    manifest = {
        "packages": [{"package": "held", "license": "MIT", "split": "valid_thirdparty",
                      "files": 1, "bytes": 10}],
        "splits": {k: {"files": 1, "bytes": 10} for k in
                   ("train", "valid_stdlib", "valid_thirdparty")},
    }  # fmt: skip
    text = card.render(trained.out, manifest, None, "reason-lsp train ...", "")
    stats = json.loads((trained.out / "training_stats.json").read_text())
    assert f"{stats['cpu_hours']:.2f} CPU-hours" in text
    assert (
        "Muon on the hidden matrices" in text
        and "`<file_sep>path`" in text
        and "50% with pieces" in text
    )


def test_a_fine_tuned_model_records_and_shows_what_it_started_from(tmp_path, trained):
    import json

    from reason_lsp.training import card

    opts = replace(
        trained, init=trained.out, out=tmp_path / "tuned", run_dir=tmp_path / "tuned-run",
        seq_len=128, tokens=2 * 2 * 128,
    )  # fmt: skip
    train(opts, log=lambda _msg: None)
    stats = json.loads((opts.out / "training_stats.json").read_text())
    parent = json.loads((trained.out / "training_stats.json").read_text())
    assert stats["init"] == str(trained.out) and stats["init_stats"] == parent
    config = json.loads((opts.out / "config.json").read_text())
    assert config["max_position_embeddings"] == 128  # the window it was tuned on
    manifest = {
        "packages": [],
        "splits": {k: {"files": 1, "bytes": 10} for k in
                   ("train", "valid_stdlib", "valid_thirdparty")},
    }  # fmt: skip
    report = {"model": "new", "splits": {"valid_tiny": {"bpb": {"bits_per_byte": 1.5}}}}
    old = {"model": "models/old", "splits": {"valid_tiny": {"bpb": {"bits_per_byte": 2.25}}}}
    text = card.render(opts.out, manifest, report, "reason-lsp train --init ...", "", "", old)
    total = (parent["tokens"] + stats["tokens"]) / 1e6
    assert f"Continued from `{trained.out}`" in text and f"{total:.1f} M tokens in" in text
    replaced = text.index("The model this one replaced (`models/old`")
    assert "| bits per byte | 1.500 |" in text[:replaced] and "| 2.250 |" in text[replaced:]


@pytest.mark.slow
def test_gpu_train_script_dry_run_on_the_cpu(tmp_path, corpus_dir, trained):
    """bench/gpu_train.sh end to end with a tiny shape on the CPU, then unpacked here."""
    import json
    import subprocess
    import sys
    import tarfile

    from transformers import AutoModelForCausalLM

    root = Path(__file__).resolve().parents[2]
    valid = tmp_path / "valid_tiny.jsonl"
    records = [{"path": p.name, "text": p.read_text()} for p in trained.valid[0].glob("*.py")]
    valid.write_text("".join(json.dumps(r) + "\n" for r in records))
    pack([corpus_dir], trained.run_dir / "tokenizer", tmp_path / "pack", 12_000, [valid])
    out = tmp_path / "out"
    env = {
        **os.environ, "PY": sys.executable, "OUT": str(out), "GPU_TRAIN_DEVICE": "cpu",
        "GPU_TRAIN_SHAPE": "tiny", "GPU_TRAIN_MINUTES": "0.1", "GPU_TRAIN_BATCH": "2",
        "GPU_TRAIN_WARMUP": "2", "GPU_TRAIN_EVAL_BYTES": "4000",
        "GPU_TRAIN_PACK": str(tmp_path / "pack"), "GPU_TRAIN_RUN": str(tmp_path / "run"),
        "OMP_NUM_THREADS": "1",
    }  # fmt: skip
    script = root / "bench" / "gpu_train.sh"
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (out / "train.log").read_text()
    assert "load check ok" in log and "valid_tiny" in log
    names = sorted(p.name for p in out.iterdir())
    assert names == ["model-files.tar", "model.safetensors", "train.log"]
    with tarfile.open(out / "model-files.tar") as tar:
        assert {"config.json", "fim.json", "tokenizer.json"} <= set(tar.getnames())

    model_dir = tmp_path / "unpacked"
    subprocess.run(["bash", str(script), "unpack", str(out), str(model_dir)], check=True,
                   capture_output=True)  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    assert model.config.max_position_embeddings == 1024
    assert fim.detect([], model_dir) == fim.REASON
