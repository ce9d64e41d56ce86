"""Settings: schema, nested and dotted keys, invalid values fall back with a message."""

from __future__ import annotations

from reason_lsp.settings import FIELDS, Settings, parse_settings, schema


def test_defaults() -> None:
    s = Settings()
    assert (s.model, s.device, s.dtype, s.backend) == ("embedded", "auto", "auto", "local")
    assert (s.context_tokens, s.max_new_tokens, s.generation_samples) == (1024, 64, 8)
    assert s.sandbox_timeout == 10.0 and s.sandbox_memory_mb == 512
    assert s.completion_enable and s.completion_inline and s.diagnostics_syntax
    assert not s.quantize and not s.sandbox_require and not s.verify_completions


def test_every_documented_key_exists() -> None:
    keys = {
        "model", "device", "dtype", "quantize", "backend", "openai.url", "openai.model",
        "contextTokens", "maxNewTokens", "completion.enable", "completion.inline",
        "diagnostics.syntax", "diagnostics.model", "diagnostics.threshold", "sandbox.enable",
        "sandbox.require", "sandbox.timeout", "sandbox.memoryMb", "generation.samples",
        "generation.temperature", "verifyCompletions", "maxModelChars",
        "completion.minConfidence", "completion.contextShare", "completion.candidates",
        "workspace.enable",
        "workspace.snippets", "workspace.maxFiles", "workspace.maxFileKb",
        "openai.apiKeyEnv", "openai.fim", "openai.redact", "openai.timeout",
    }  # fmt: skip
    assert set(FIELDS) == keys
    assert len(schema()) == len(keys)


def test_nested_and_dotted_keys() -> None:
    nested, problems = parse_settings(
        {"reasonLsp": {"openai": {"url": "http://localhost:8000"}, "sandbox": {"memoryMb": 256}}}
    )
    dotted, problems2 = parse_settings(
        {"openai.url": "http://localhost:8000", "sandbox.memoryMb": 256}
    )
    prefixed, problems3 = parse_settings(
        {"reasonLsp.openai.url": "http://localhost:8000", "reasonLsp.sandbox.memoryMb": 256}
    )
    assert nested == dotted == prefixed
    assert nested.openai_url == "http://localhost:8000" and nested.sandbox_memory_mb == 256
    assert problems == problems2 == problems3 == []


def test_invalid_values_fall_back_with_messages() -> None:
    s, problems = parse_settings(
        {
            "device": "tpu",
            "contextTokens": "lots",
            "quantize": "yes",
            "sandbox": {"timeout": -1, "memoryMb": 1024},
            "generation.temperature": float("nan"),
            "model": "",
            "interpreter": "/usr/bin/python3",  # the editor's own key: ignored, no complaint
        }
    )
    assert s.device == "auto" and s.context_tokens == 1024 and s.quantize is False
    assert s.sandbox_timeout == 10.0 and s.sandbox_memory_mb == 1024
    assert s.generation_temperature == 0.8 and s.model == "embedded"
    assert len(problems) == 6
    assert any("reasonLsp.device" in p and '"cuda"' in p for p in problems)


def test_ints_accept_integral_floats_and_floats_accept_ints() -> None:
    s, problems = parse_settings({"maxNewTokens": 32.0, "sandbox.timeout": 3})
    assert s.max_new_tokens == 32 and s.sandbox_timeout == 3.0 and problems == []


def test_non_object_payload() -> None:
    s, problems = parse_settings([1, 2])
    assert s == Settings() and len(problems) == 1
    assert parse_settings(None) == (Settings(), [])
