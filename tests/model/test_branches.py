"""Tree decoding and suffix ranking (:mod:`reason_lsp.engine.branches`) on a real tiny model.

The tree is checked against the plain causal path: branches that share a cache must
write exactly what each would write alone, and the joint scores the ranking computes
in one masked forward call must be the log-probabilities a full forward gives.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from test_lean_llama import spread  # noqa: E402
from tiny_model import make_random_model  # noqa: E402

from reason_lsp.engine import EngineConfig, GenerateRequest, branches, loader  # noqa: E402
from reason_lsp.engine.branches import suffix_head  # noqa: E402
from reason_lsp.engine.decoder import Decoder  # noqa: E402
from reason_lsp.engine.lean_llama import LeanLlama  # noqa: E402

PREFIX = "def area(radius):\n    total = radius * radius\n    "
SUFFIX = "\n    return total * 3.14\n\n\nprint(area(2))\n"


@pytest.fixture(scope="module")
def decoders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Decoder, Decoder]:
    folder = make_random_model(tmp_path_factory.mktemp("m"), ["<|endoftext|>"])
    loaded = loader.load(EngineConfig(model=str(folder)))
    spread(loaded.model)
    hf, lean = Decoder(loaded), Decoder(loaded)
    hf.lean = None
    lean.lean = LeanLlama(loaded.model, "fp32", lean.n_tokens)
    hf.eos_ids = lean.eos_ids = set()  # only the budget ends a sample: equal lengths
    return hf, lean


def test_greedy_branches_in_one_tree_match_the_single_greedy_sample(decoders) -> None:
    _, lean = decoders
    one = lean.generate(GenerateRequest(prefix=PREFIX, max_new_tokens=10, key="a"))
    many = lean.generate(GenerateRequest(prefix=PREFIX, max_new_tokens=10, samples=3, key="b"))
    assert [s.text for s in many.samples] == [one.samples[0].text] * 3
    for s in many.samples:
        assert s.logprob == pytest.approx(one.samples[0].logprob, abs=1e-3)
    # The branches went out of the cache again: it holds the prompt alone.
    assert lean.slots["b"].cache.get_seq_length() == len(lean.slots["b"].ids) == many.prompt_tokens


def test_sampled_branches_differ(decoders) -> None:
    _, lean = decoders
    req = GenerateRequest(
        prefix=PREFIX, max_new_tokens=8, samples=4, temperature=1.0, top_p=1.0, seed=1, key="c"
    )
    out = lean.generate(req)
    assert len({s.text for s in out.samples}) > 1
    # (That each branch's log-probabilities are its own is checked token by token below.)


def token_logprob(dec: Decoder, prompt_ids: list[int], ids: list[int]) -> float:
    logits = dec.logits_all(prompt_ids + ids)
    logp = torch.log_softmax(logits[len(prompt_ids) - 1 : -1], dim=-1)
    return float(logp.gather(1, torch.tensor(ids)[:, None]).sum())


def ranked(decoders, path: str, **shape) -> tuple[Decoder, GenerateRequest]:
    """The decoder for ``path`` and a request for three samples ranked by the suffix."""
    hf, lean = decoders
    req = GenerateRequest(
        prefix=PREFIX, suffix=SUFFIX, samples=3, temperature=1.0, top_p=1.0, seed=3,
        rank_lines=1, **shape,
    )  # fmt: skip
    return (lean if path == "lean" else hf), req


@pytest.mark.parametrize("path", ["lean", "transformers"])
@torch.inference_mode()
def test_ranking_scores_are_joint_log_probabilities_with_the_suffix(decoders, path) -> None:
    dec, req = ranked(decoders, path, key="r", max_new_tokens=12)
    prompt = dec.build_prompt(req, 12)
    logits0, slot, _ = dec.prefill("r", prompt.ids)
    found = branches.decode(dec, req, prompt, logits0, slot, 12, torch.Generator().manual_seed(3))
    head = suffix_head(SUFFIX, 1)
    assert head == "\n    return total * 3.14"
    opts = branches.options(dec, prompt, found, head)
    scores = branches._score(dec, prompt, slot, found, opts, len(prompt.ids))
    assert opts
    for o, score in zip(opts, scores, strict=True):
        b = found[o.branch]
        kept = b.tokens[: o.kept]
        rest = token_logprob(dec, prompt.ids + kept, list(o.ids[1:]))
        assert score == pytest.approx(sum(b.logps[: o.kept]) + rest, abs=2e-3), o.text
        assert dec.tok.decode([*kept, *o.ids[1:]]) == prompt.heal + o.text + head
    for b in found:  # past the healed text, the tree's log-probabilities are the model's
        for k in range(len(b.tokens)):
            if len(dec.tok.decode(b.tokens[:k])) < len(prompt.heal):
                continue  # picked under the healing mask
            want = token_logprob(dec, prompt.ids + b.tokens[:k], [b.tokens[k]])
            assert b.logps[k] == pytest.approx(want, abs=1e-3)


@pytest.mark.parametrize("path", ["lean", "transformers"])
def test_ranked_samples_come_best_first_and_the_cache_holds_the_prompt_again(
    decoders, path
) -> None:
    dec, req = ranked(decoders, path, key="q", max_new_tokens=16)
    out = dec.generate(req)
    ranks = [s.rank for s in out.samples]
    assert None not in ranks and ranks == sorted(ranks, reverse=True)
    texts = [s.text for s in out.samples]
    assert len(set(texts)) == len(texts)
    slot = dec.slots["q"]
    assert slot.cache.get_seq_length() == len(slot.ids)


def test_the_suffix_head_is_its_first_lines_with_code() -> None:
    assert suffix_head(")\n\n    x = 1\n    y = 2\n", 1) == ")\n\n    x = 1"
    assert suffix_head(")\n\n    x = 1\n    y = 2\n", 2) == ")\n\n    x = 1\n    y = 2"
    assert suffix_head("  \n\n", 2) == ""


def test_a_multi_line_candidate_is_also_offered_cut_at_each_line_end(decoders) -> None:
    _, lean = decoders
    req = GenerateRequest(prefix=PREFIX, suffix=SUFFIX)
    prompt = lean.build_prompt(req, 8)
    text = "x = 1\n    y = 2  \n    z = 3"
    tokens = lean.encode(prompt.heal + text)
    found = [branches.Branch(False, "", tokens=tokens, logps=[0.0] * len(tokens), text=text)]
    opts = branches.options(lean, prompt, found, "\n    return total")
    assert [o.text for o in opts] == ["x = 1", "x = 1\n    y = 2", text]
    for o in opts:
        assert lean.tok.decode([*tokens[: o.kept], *o.ids[1:]]).endswith(
            o.text + "\n    return total"
        )
