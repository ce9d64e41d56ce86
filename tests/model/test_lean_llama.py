"""The lean decode path against ``AutoModelForCausalLM`` on the same weights.

Tiny random Llama (grouped-query, tied and untied, with attention bias) and Qwen2
models are made in the test; their weights are scaled up so logits are well spread
and greedy choices are not near-ties. The shipped model is checked when present.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from tiny_model import make_random_model  # noqa: E402

from reason_lsp.engine import EngineConfig, GenerateRequest, loader  # noqa: E402
from reason_lsp.engine.decoder import Decoder  # noqa: E402
from reason_lsp.engine.lean_llama import LeanCache, LeanLlama, lean_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-4


def spread(model: torch.nn.Module) -> torch.nn.Module:
    """Larger random weights: peaked logits, so greedy tokens are not decided by rounding."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.25)
            else:
                p.normal_(1.0, 0.1) if p.abs().mean() > 0.5 else p.normal_(0.0, 0.1)
    return model.eval()


def tiny(kind: str) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    shape = dict(
        vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=300,
    )  # fmt: skip
    if kind == "llama-gqa":
        model = LlamaForCausalLM(LlamaConfig(**shape, num_key_value_heads=2))
    elif kind == "llama-tied-bias":
        model = LlamaForCausalLM(
            LlamaConfig(
                **shape, num_key_value_heads=4, tie_word_embeddings=True, attention_bias=True
            )
        )
    else:
        model = Qwen2ForCausalLM(
            Qwen2Config(**shape, num_key_value_heads=2, tie_word_embeddings=False)
        )
    return spread(model)


@pytest.mark.parametrize("kind", ["llama-gqa", "llama-tied-bias", "qwen2"])
@torch.inference_mode()
def test_logits_match_transformers_in_prefill_decode_and_after_crop(kind: str) -> None:
    model = tiny(kind)
    lean = LeanLlama(model, "fp32")
    ids = torch.randint(0, 97, (1, 40), generator=torch.Generator().manual_seed(1))
    ref = model(ids).logits[0]
    logits, cache = lean.forward(ids[0, :24].tolist(), None)
    assert torch.allclose(logits, ref[23], atol=TOL)
    for j in range(24, 40):  # one token at a time on top of the cache
        logits, cache = lean.forward([int(ids[0, j])], cache)
        assert torch.allclose(logits, ref[j], atol=TOL), j
    cache.crop(-10)  # back to 30 positions, then a multi-token block with an offset
    assert cache.get_seq_length() == 30
    logits, cache = lean.forward(ids[0, 30:36].tolist(), cache)
    assert torch.allclose(logits, ref[35], atol=TOL)
    assert cache.get_seq_length() == 36


@torch.inference_mode()
def test_cache_grows_past_its_start_and_the_model_positions() -> None:
    model = tiny("llama-gqa")
    lean = LeanLlama(model, "fp32")
    ids = torch.randint(0, 97, (1, 320), generator=torch.Generator().manual_seed(2))
    ref = model(ids).logits[0]  # transformers runs past max_position_embeddings (300)
    _, cache = lean.forward(ids[0, :250].tolist(), None)
    assert cache.capacity == 256
    # 290 positions: the two blocks they need plus one for decoding, not a doubling.
    logits, cache = lean.forward(ids[0, 250:290].tolist(), cache)
    assert cache.capacity == 768
    assert torch.allclose(logits, ref[289], atol=TOL)
    for j in range(290, 320):
        logits, cache = lean.forward([int(ids[0, j])], cache)
    assert torch.allclose(logits, ref[319], atol=TOL)
    assert cache.capacity == 768  # decoding within the spare block reallocates nothing
    with pytest.raises(ValueError, match="negative"):
        cache.crop(3)


def test_unsupported_models_keep_the_transformers_path(tmp_path: Path) -> None:
    folder = make_random_model(tmp_path / "m", ["<|endoftext|>"])
    loaded = loader.load(EngineConfig(model=str(folder)))
    assert isinstance(lean_for(loaded), LeanLlama)
    loaded.autocast = torch.bfloat16
    assert lean_for(loaded) is None
    loaded.autocast = None
    loaded.model = torch.ao.quantization.quantize_dynamic(
        loaded.model, {torch.nn.Linear}, dtype=torch.qint8
    )
    assert lean_for(loaded) is None


def test_decoder_generates_the_same_greedy_tokens_on_both_paths(tmp_path: Path) -> None:
    folder = make_random_model(tmp_path / "m", ["<|endoftext|>"])
    loaded = loader.load(EngineConfig(model=str(folder)))
    spread(loaded.model)
    hf = Decoder(loaded)
    hf.lean = None
    lean = Decoder(loaded)
    assert lean.lean is not None
    lean.lean = LeanLlama(loaded.model, "fp32", lean.n_tokens)
    # A random model may write <|endoftext|> at any step, even the first: only the token
    # budget ends a sample, so both paths always compare twelve tokens.
    hf.eos_ids = lean.eos_ids = set()
    prefixes = ["def area(radius):\n    return", "def area(radius):\n    return math.pi *"]
    cached = []
    for prefix in prefixes:  # the second request reuses the first one's cache
        request = GenerateRequest(prefix=prefix, max_new_tokens=12, key="doc")
        a, b = hf.generate(request), lean.generate(request)
        assert a.samples[0].tokens == b.samples[0].tokens == 12
        assert a.samples[0].text == b.samples[0].text
        assert a.samples[0].logprob == pytest.approx(b.samples[0].logprob, abs=1e-3)
        assert a.cached_tokens == b.cached_tokens
        cached.append(b.cached_tokens)
    assert cached[1] > 0
    assert isinstance(lean.slots["doc"].cache, LeanCache)
    words = GenerateRequest(prefix="class Circle:\n    def ", key="doc")
    a, b = hf.identifiers(words, ""), lean.identifiers(words, "")
    assert [n for n, _ in a] == [n for n, _ in b]
    assert [s for _, s in a] == pytest.approx([s for _, s in b], abs=1e-3)


@pytest.mark.parametrize("name", ["models/reason-code-small", "runs/ckpt-export"])
@torch.inference_mode()
def test_shipped_model_matches_transformers(name: str) -> None:
    folder = ROOT / name
    if not (folder / "config.json").is_file():
        pytest.skip(f"{name} is not present")
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = torch.randint(0, model.config.vocab_size, (1, 64), generator=torch.Generator())
    ref = torch.log_softmax(model(ids).logits[0, 55:63], -1)
    for weights, refine, tol in [("fp32", 0, 1e-3), ("bf16", 64, 0.05)]:
        lean = LeanLlama(model, weights, refine=refine)
        logits, cache = lean.forward(ids[0, :56].tolist(), None)
        got = [logits]
        for j in range(56, 63):
            logits, cache = lean.forward([int(ids[0, j])], cache)
            got.append(logits)
        logp = torch.log_softmax(torch.stack(got), -1)
        top = ref.argmax(-1, keepdim=True)
        # The top token's log-probability (what greedy decoding and sampling act on).
        assert (logp.gather(1, top) - ref.gather(1, top)).abs().max() < tol, weights


@torch.inference_mode()
def test_refined_logits_are_those_of_a_float32_head() -> None:
    model = tiny("llama-gqa")
    ids = torch.randint(0, 97, (20,), generator=torch.Generator().manual_seed(3)).tolist()
    exact, _ = LeanLlama(model, "bf16", head="fp32").forward(ids, None)
    refined, _ = LeanLlama(model, "bf16", refine=8).forward(ids, None)
    rough, _ = LeanLlama(model, "bf16").forward(ids, None)
    top = torch.topk(exact, 8).indices
    assert torch.allclose(refined[top], exact[top], atol=1e-5)
    assert int(refined.argmax()) == int(exact.argmax())
    assert (rough[top] - exact[top]).abs().max() > (refined[top] - exact[top]).abs().max()


def fake_quantized(model: torch.nn.Module, kind: str) -> torch.nn.Module:
    """``model`` with every layer matrix replaced by what ``kind`` keeps of it (the lean
    path's rows are permuted and fused, but each row is quantized on its own, so the
    same per-row and per-group rounding applies to the unfused matrices)."""
    from reason_lsp.engine.lean_quant import Matrix

    with torch.no_grad():
        for layer in model.model.layers:
            for linear in (*layer.self_attn.children(), *layer.mlp.children()):
                if isinstance(linear, torch.nn.Linear):
                    linear.weight.copy_(Matrix(linear.weight, kind).dequantized())
    return model


@pytest.mark.parametrize("kind", ["int8", "int4"])
@torch.inference_mode()
def test_quantized_weights_match_transformers_on_the_same_rounded_weights(kind: str) -> None:
    import copy

    model = tiny("llama-gqa")
    lean = LeanLlama(model, kind, head="fp32")
    assert lean.layers[0][1].kind == kind and lean.layers[0][1].packed is not None
    reference = fake_quantized(copy.deepcopy(model), kind)
    ids = torch.randint(0, 97, (1, 40), generator=torch.Generator().manual_seed(4))
    ref = reference(ids).logits[0]
    logits, cache = lean.forward(ids[0, :24].tolist(), None)  # prefill: the bf16 copy
    assert (logits - ref[23]).abs().max() < 0.05 * ref[23].abs().max()
    for j in range(24, 40):  # decode: the packed kernel, on bfloat16 activations
        logits, cache = lean.forward([int(ids[0, j])], cache)
        assert (logits - ref[j]).abs().max() < 0.05 * ref[j].abs().max(), j
        # Greedy picks the reference's best token or one within bfloat16 rounding of it.
        assert ref[j].max() - ref[j][int(logits.argmax())] < 0.1, j


@torch.inference_mode()
def test_pretrained_model_matches_transformers_in_every_weight_form(pretrained_model: Path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(pretrained_model, dtype=torch.float32).eval()
    text = "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fib"
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(pretrained_model).encode(text, add_special_tokens=False)
    ref = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
    top = ref.argmax(-1, keepdim=True)
    start = len(ids) // 2
    for weights, tol in [("fp32", 1e-3), ("bf16", 0.15), ("int8", 0.2), ("int4", 0.2)]:
        lean = LeanLlama(model, weights, refine=64)
        logits, cache = lean.forward(ids[:start], None)
        got = [logits]
        for token in ids[start:-1]:
            logits, cache = lean.forward([token], cache)
            got.append(logits)
        logp = torch.log_softmax(torch.stack(got), -1)
        want, best = ref[start - 1 : -1], top[start - 1 : -1]
        diff = (logp.gather(1, best) - want.gather(1, best)).abs()
        assert diff.max() < tol, (weights, float(diff.max()))


@torch.inference_mode()
def test_a_prompt_prefilled_in_blocks_gives_the_logits_of_one_block(monkeypatch) -> None:
    from reason_lsp.engine import lean_llama

    model = tiny("llama-gqa")
    lean = LeanLlama(model, "fp32")
    ids = torch.randint(0, 97, (50,), generator=torch.Generator().manual_seed(5)).tolist()
    whole, _ = lean.forward(ids, None)
    every, _ = lean.forward(ids, None, every=True)
    monkeypatch.setattr(lean_llama, "PREFILL_CHUNK", 16)
    blocks, cache = lean.forward(ids, None)
    assert cache.get_seq_length() == 50
    assert torch.allclose(blocks, whole, atol=TOL)
    assert torch.allclose(lean.forward(ids, None, every=True)[0], every, atol=TOL)


@pytest.mark.parametrize("kind", ["int8", "int4"])
@torch.inference_mode()
def test_packed_matrices_take_batches_of_rows_as_scoring_sends_them(kind: str) -> None:
    from reason_lsp.engine.lean_quant import Matrix

    w = torch.randn(96, 64, generator=torch.Generator().manual_seed(6))
    m = Matrix(w, kind)
    x = torch.randn(2, 1, 64, generator=torch.Generator().manual_seed(7))  # [batch, t, in]
    out = m.apply(x)
    assert out.shape == (2, 1, 96)
    rows = torch.stack([m.apply(x[i]) for i in range(2)])
    assert torch.allclose(out.float(), rows.float())
    assert torch.allclose(out.float(), x @ m.dequantized().t(), atol=0.05 * out.abs().max())


def test_scoring_runs_on_int4_matrices_like_on_float32(tmp_path: Path) -> None:
    """The unlikely-code scorer batches texts through the lean layers: with int4 matrices
    (the pretrained model's form) it gives the float32 path's scores up to rounding."""
    from reason_lsp.engine.scoring import score_many

    folder = make_random_model(tmp_path / "m", ["<|endoftext|>"])
    decoder = Decoder(loader.load(EngineConfig(model=str(folder))))
    texts = ["x = compute(a, b)\n", "return total + 1\n"]
    decoder.lean = LeanLlama(decoder.model, "fp32", decoder.n_tokens)
    exact = score_many(decoder, "import os\n", texts)
    decoder.lean = LeanLlama(decoder.model, "int4", decoder.n_tokens, refine=64)
    packed = score_many(decoder, "import os\n", texts)
    for a, b in zip(exact, packed, strict=True):
        assert [(s.start, s.end) for s in a] == [(s.start, s.end) for s in b]
        assert max(abs(x.surprisal - y.surprisal) for x, y in zip(a, b, strict=True)) < 0.5
