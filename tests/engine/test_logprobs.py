"""Log-probabilities from llama.cpp match transformers on the same weights, and greedy
generation through the backend matches it token for token."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from conftest import MODEL, LlamaServer
from transformers import AutoModelForCausalLM, AutoTokenizer

from reason_lsp.engine import GENERATE, MEMBERS, SCORE, EngineConfig, GenerateRequest
from reason_lsp.engine.remote import RemoteEngine

CONTEXT = "import math\nimport os\n"
TEXT = '''def circle_area(radius):
    """The area of a circle."""
    return math.pi * radius ** 2


def list_files(folder):
    names = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            names.append(os.path.join(folder, name))
    return names
'''


@pytest.fixture(scope="module")
def hf():
    tok = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32).eval()
    return tok, model


def ready_engine(url: str) -> RemoteEngine:
    engine = RemoteEngine(EngineConfig(backend="openai", url=url))
    engine.start()
    assert engine.ready.wait(60)
    deadline = time.monotonic() + 30
    while engine.state != "ready" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine.state == "ready", engine.error
    return engine


@torch.inference_mode()
def reference(hf, context: str, text: str):
    """transformers in float32, the local scorer's construction (end of text, the context,
    then the text, tokenized apart): each text token's offsets, surprisal, and likeliest
    non-special token with its log-probability."""
    tok, model = hf
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ctx = [tok.eos_token_id, *tok.encode(context, add_special_tokens=False)]
    ids = ctx + enc["input_ids"]
    logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
    code = logp.clone()
    code[:, tok.all_special_ids] = float("-inf")
    out = []
    for i, ((start, end), target) in enumerate(zip(enc["offset_mapping"], enc["input_ids"],
                                                   strict=True)):  # fmt: skip
        row = len(ctx) + i - 1
        top = int(torch.argmax(code[row]))
        surprisal = -float(logp[row, target])
        out.append((start, end, surprisal, tok.decode([top]), float(code[row, top])))
    return out


def test_scores_match_transformers_on_the_same_weights(llama: LlamaServer, hf) -> None:
    engine = ready_engine(llama.url)
    try:
        assert engine.capabilities == {GENERATE, SCORE, MEMBERS}
        assert engine.dialect.kind == "llama.cpp" and engine.dialect.scoring == "native"
        remote = engine.score(CONTEXT, TEXT, threading.Event()).result(timeout=300)
    finally:
        engine.close()
    want = reference(hf, CONTEXT, TEXT)
    assert [(s.start, s.end) for s in remote] == [(w[0], w[1]) for w in want]
    diffs = [abs(s.surprisal - w[2]) for s, w in zip(remote, want, strict=True)]
    same_top = sum(s.top_text == w[3] for s, w in zip(remote, want, strict=True))
    n = len(diffs)
    print(f"\n{n} tokens: max |d surprisal| {max(diffs):.2e} nats, "
          f"mean {sum(diffs) / n:.2e}; same top alternative {same_top}/{n}")  # fmt: skip
    assert max(diffs) < 0.02
    assert same_top >= len(diffs) - 2  # near-ties may swap under another float order
    for s, w in zip(remote, want, strict=True):
        assert s.top_logprob == pytest.approx(w[4], abs=0.02)


def test_greedy_generation_matches_transformers_token_for_token(llama: LlamaServer, hf) -> None:
    tok, model = hf
    engine = ready_engine(llama.url)
    try:
        prefix = "def fibonacci(n):\n    if n < 2:\n        return n\n"
        out = engine.submit(GenerateRequest(prefix=prefix, max_new_tokens=24)).result(timeout=120)
    finally:
        engine.close()
    sample = out.samples[0]
    ids = tok.encode(prefix, add_special_tokens=False)
    with torch.inference_mode():
        eos = tok.eos_token_id
        gen = model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False,
                             eos_token_id=eos, pad_token_id=eos)  # fmt: skip
    want = tok.decode(gen[0, len(ids) :], skip_special_tokens=True)
    assert sample.text == want
    generated = [t for t in gen[0, len(ids) :].tolist() if t != tok.eos_token_id]
    assert len(generated) <= len(sample.token_logprobs) <= len(generated) + 1
    assert all(lp <= 0.0 for lp in sample.token_logprobs)
