"""The engine on real (tiny) models: FIM detection, cache reuse, healing, cancellation."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from tiny_model import MEMO, make_random_model  # noqa: E402

from reason_lsp.engine import (  # noqa: E402
    Cancelled,
    EngineConfig,
    GenerateRequest,
    create_engine,
    fim,
    loader,
)
from reason_lsp.engine.decoder import Decoder  # noqa: E402

CONVENTIONS = {
    "starcoder": ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"],
    "qwen2.5-coder": [
        "<|endoftext|>",
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|fim_pad|>",
    ],
    "deepseek-coder": [
        "<｜end▁of▁sentence｜>",
        "<｜fim▁begin｜>",
        "<｜fim▁hole｜>",
        "<｜fim▁end｜>",
    ],
    "codellama": ["</s>", "<PRE>", "<SUF>", "<MID>", "<EOT>"],
    None: ["<|endoftext|>"],
}


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_fim_tokens_are_detected_for_each_convention(tmp_path: Path, name: str | None) -> None:
    folder = make_random_model(tmp_path / "m", CONVENTIONS[name])
    loaded = loader.load(EngineConfig(model=str(folder)))
    assert (loaded.fim.name if loaded.fim else None) == name
    decoder = Decoder(loaded)
    prompt = decoder.build_prompt(
        GenerateRequest(prefix="def f(x):\n    return", suffix="\n\nprint(f(1))\n"), 8
    )
    text = loaded.tokenizer.decode(prompt.ids)
    if name is None:  # prefix-only prompt, the whole file after <|endoftext|> as in training
        assert prompt.ids[0] == loaded.tokenizer.eos_token_id
        rest = loaded.tokenizer.decode(prompt.ids[1:])
        assert rest.startswith("def f(x)") and "print" not in rest
    else:
        assert (
            text.startswith(loaded.fim.prefix)
            and loaded.fim.middle in text
            and "print(f(1))" in text
        )


def test_our_models_use_spm_so_the_suffix_comes_first(memo_model: Path) -> None:
    decoder = Decoder(loader.load(EngineConfig(model=str(memo_model))))
    assert decoder.fim is not None and decoder.fim.supports_spm
    prompt = decoder.build_prompt(GenerateRequest(prefix="x = 1\ny = ", suffix="\nz = 3\n"), 8)
    text = decoder.tok.decode(prompt.ids)
    assert text.startswith(
        fim.FIM_PREFIX + fim.FIM_SUFFIX + "\nz = 3\n" + fim.FIM_MIDDLE + "x = 1\ny"
    )
    assert prompt.heal.endswith(" ")  # the trailing space is healed, not left as a lone token


def test_memorized_line_is_completed_with_token_healing(memo_model: Path) -> None:
    decoder = Decoder(loader.load(EngineConfig(model=str(memo_model))))
    cut = MEMO.index("return 2 * math.pi") + len("return 2 * ma")
    stop = lambda t: t.index("\n") if "\n" in t else None  # noqa: E731
    out = decoder.generate(
        GenerateRequest(prefix=MEMO[:cut], suffix=MEMO[cut:], stop=stop, key="d")
    )
    assert out.samples[0].text == "th.pi * radius"


def test_cache_reuse_gives_the_same_tokens_as_a_fresh_prefill(memo_model: Path) -> None:
    decoder = Decoder(loader.load(EngineConfig(model=str(memo_model))))
    cut = MEMO.index("class Circle")
    warm = decoder.generate(GenerateRequest(prefix=MEMO[: cut - 5], max_new_tokens=12, key="d"))
    assert warm.cached_tokens == 0
    reused = decoder.generate(GenerateRequest(prefix=MEMO[:cut], max_new_tokens=12, key="d"))
    assert reused.cached_tokens > 0.8 * reused.prompt_tokens
    decoder.slots.clear()
    fresh = decoder.generate(GenerateRequest(prefix=MEMO[:cut], max_new_tokens=12, key="d"))
    assert fresh.cached_tokens == 0
    assert reused.samples[0].text == fresh.samples[0].text
    assert reused.samples[0].logprob == pytest.approx(fresh.samples[0].logprob, abs=1e-3)


def test_identifiers_after_a_dot(memo_model: Path) -> None:
    decoder = Decoder(loader.load(EngineConfig(model=str(memo_model))))
    cut = MEMO.index("self.radius = radius") + len("self.")
    names = decoder.identifiers(GenerateRequest(prefix=MEMO[:cut], suffix=MEMO[cut:], key="d"), "")
    assert names and names[0][0] == "radius"


def _never_stopping_engine(tmp_path: Path):
    folder = make_random_model(tmp_path / "m", CONVENTIONS["starcoder"])
    engine = create_engine(EngineConfig(model=str(folder)))
    engine.start()
    assert engine.ready.wait(60) and engine.state == "ready", engine.error
    engine.decoder.eos_ids = set()  # a random model: let it run until told to stop
    return engine


def test_cancel_flag_stops_decoding_between_steps(tmp_path: Path) -> None:
    engine = _never_stopping_engine(tmp_path)
    request = GenerateRequest(prefix="def f(", max_new_tokens=100_000, key="doc")
    future = engine.submit(request)
    threading.Timer(0.3, request.cancel).start()
    with pytest.raises(Cancelled):  # 100k tokens would take minutes: only the flag ends it
        future.result(timeout=30)
    after = engine.submit(GenerateRequest(prefix="def f(", max_new_tokens=3, key="doc"))
    assert after.result(timeout=30).decoded_tokens == 3
    engine.close()


def test_newer_request_for_the_same_document_supersedes(tmp_path: Path) -> None:
    engine = _never_stopping_engine(tmp_path)
    old = GenerateRequest(prefix="x = ", max_new_tokens=100_000, key="doc")
    old_future = engine.submit(old)
    other_doc = engine.submit(GenerateRequest(prefix="y = ", max_new_tokens=4, key="other"))
    new_future = engine.submit(GenerateRequest(prefix="x = 1", max_new_tokens=4, key="doc"))
    with pytest.raises(Cancelled):
        old_future.result(timeout=30)
    assert new_future.result(timeout=30).decoded_tokens == 4
    assert other_doc.result(timeout=30).decoded_tokens == 4
    engine.close()


def test_a_broken_model_reports_an_error_and_does_not_raise(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    states: list[str] = []
    engine = create_engine(
        EngineConfig(model=str(tmp_path / "broken")), on_state=lambda s, d: states.append(s)
    )
    engine.start()
    assert engine.ready.wait(60)
    assert engine.state == "error" and states == ["loading", "error"]
    with pytest.raises(Exception, match=r"config|json|load|Expecting"):
        engine.submit(GenerateRequest(prefix="x")).result(timeout=5)


def test_missing_folder_and_offline_hub_id_give_clear_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        loader.resolve_model("./no/such/model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="offline"):
        loader.load(EngineConfig(model="nobody/no-such-model-xyz"))
