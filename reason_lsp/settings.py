"""Typed user settings under the ``reasonLsp`` namespace.

One frozen :class:`Settings` dataclass holds every option with its default. Each
field's metadata names its camelCase key as the editor sends it (``openai.url``,
``sandbox.memoryMb``, ...); :func:`parse_settings` accepts nested objects and
dotted keys alike, with or without a top-level ``reasonLsp`` wrapper.

An invalid value never raises: the field keeps its default and a human message
comes back for the server to show through ``window/showMessage``. Unknown keys
are ignored (the VS Code extension keeps its own keys, such as ``interpreter``
and ``trace``, in the same section).

This module owns the schema; the VS Code extension mirrors it, and the README's
settings table documents it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

NAMESPACE = "reasonLsp"

# Keys that share the section but belong to the editor client, not the server.
CLIENT_KEYS = frozenset({"interpreter", "trace", "trace.server", "serverArgs", "path"})


def _opt(
    key: str,
    default: Any,
    doc: str,
    *,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    non_empty: bool = False,
) -> Any:
    meta = {
        "key": key,
        "doc": doc,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "non_empty": non_empty,
    }
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    model: str = _opt(
        "model",
        "embedded",
        '"embedded" (the pretrained model `reason-lsp fetch-model` fetched, else the tiny one), '
        '"tiny" (models/reason-code-small), "pretrained", a local folder, or a hub id',
        non_empty=True,
    )
    device: Literal["auto", "cuda", "cpu"] = _opt(
        "device",
        "auto",
        "where the model runs; auto = CUDA if present",
        choices=("auto", "cuda", "cpu"),
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _opt(
        "dtype",
        "auto",
        "model weights dtype; auto = bfloat16 on CUDA, the measured fastest on CPU",
        choices=("auto", "float32", "bfloat16", "float16"),
    )
    quantize: bool = _opt("quantize", False, "int8 dynamic quantization of Linear layers (CPU)")
    backend: Literal["local", "openai"] = _opt(
        "backend",
        "local",
        "local = in-process model; openai = an OpenAI-compatible server",
        choices=("local", "openai"),
    )
    openai_url: str = _opt(
        "openai.url", "", "base URL of the OpenAI-compatible server (backend=openai)"
    )
    openai_model: str = _opt("openai.model", "", "model name to request from that server")
    openai_api_key_env: str = _opt(
        "openai.apiKeyEnv",
        "",
        "name of the environment variable that holds that server's API key (the key itself "
        "never goes in a settings file); empty = no key",
    )
    openai_fim: str = _opt(
        "openai.fim",
        "auto",
        "fill-in-the-middle template for the served model: auto = detected from the model's "
        "tokens and name, none = prefix only, server = the API's suffix field, or a named "
        "convention",
        choices=("auto", "none", "server", "reason", "starcoder", "qwen2.5-coder",
                 "deepseek-coder", "codellama"),
    )  # fmt: skip
    openai_redact: bool = _opt(
        "openai.redact",
        True,
        "replace secrets (keys, tokens, passwords, private keys) with a placeholder before "
        "code is sent to the server",
    )
    openai_timeout: float = _opt(
        "openai.timeout", 30.0, "seconds to wait for that server per request", minimum=1.0,
        maximum=600.0,
    )  # fmt: skip
    context_tokens: int = _opt(
        "contextTokens", 1024, "prompt budget in tokens", minimum=16, maximum=1 << 20
    )
    max_new_tokens: int = _opt(
        "maxNewTokens", 64, "longest completion in tokens", minimum=1, maximum=8192
    )
    max_model_chars: int = _opt(
        "maxModelChars",
        1_000_000,
        "a larger document (in characters) gets no model features (completions, unlikely "
        "code, generation); its syntax diagnostics keep working",
        minimum=1_000,
        maximum=1 << 30,
    )
    completion_enable: bool = _opt("completion.enable", True, "classic completion items")
    completion_inline: bool = _opt("completion.inline", True, "inline (ghost text) completions")
    completion_min_confidence: float = _opt(
        "completion.minConfidence",
        -1.0,
        "show an automatic suggestion only when the model's calibrated probability that it is "
        "typed next reaches this; -1 = the model's calibrated default, 0 = show every one",
        minimum=-1.0,
        maximum=1.0,
    )
    completion_candidates: int = _opt(
        "completion.candidates",
        1,
        "candidates decoded together per completion and ranked by how well the code after "
        "the cursor follows each (models without fill-in-the-middle; 1 = the likeliest alone)",
        minimum=1,
        maximum=16,
    )
    completion_context_share: float = _opt(
        "completion.contextShare",
        0.25,
        "share of the prompt budget given to context from other workspace files "
        "(declarations, similar snippets); the rest is the document around the cursor",
        minimum=0.0,
        maximum=0.9,
    )
    workspace_enable: bool = _opt(
        "workspace.enable", True, "index the workspace folders for repository context"
    )
    workspace_snippets: bool = _opt(
        "workspace.snippets", True, "similar snippets from other files, besides declarations"
    )
    workspace_max_files: int = _opt(
        "workspace.maxFiles", 10000, "most files indexed per workspace folder", minimum=1,
        maximum=1_000_000,
    )  # fmt: skip
    workspace_max_file_kb: int = _opt(
        "workspace.maxFileKb", 256, "larger files are not indexed (KiB)", minimum=1,
        maximum=65536,
    )  # fmt: skip
    diagnostics_syntax: bool = _opt("diagnostics.syntax", True, "tree-sitter syntax errors")
    diagnostics_model: bool = _opt("diagnostics.model", True, '"unlikely code" model warnings')
    diagnostics_threshold: float = _opt(
        "diagnostics.threshold",
        0.0,
        "surprisal (nats) a token needs before it may be flagged; 0 = the model's calibrated "
        "default (about 1 warning per 300 clean lines); higher = fewer warnings",
        minimum=0.0,
        maximum=100.0,
    )
    sandbox_enable: bool = _opt("sandbox.enable", True, "run candidate code in the sandbox")
    sandbox_require: bool = _opt(
        "sandbox.require", False, "refuse unverified results when the sandbox is unavailable"
    )
    sandbox_timeout: float = _opt(
        "sandbox.timeout", 10.0, "seconds per sandbox run", minimum=0.1, maximum=3600.0
    )
    sandbox_memory_mb: int = _opt(
        "sandbox.memoryMb", 512, "memory limit per sandbox run (MiB)", minimum=16, maximum=1 << 20
    )
    generation_samples: int = _opt(
        "generation.samples", 8, "candidates sampled per generation", minimum=1, maximum=256
    )
    generation_temperature: float = _opt(
        "generation.temperature", 0.8, "sampling temperature", minimum=0.0, maximum=5.0
    )
    verify_completions: bool = _opt(
        "verifyCompletions", False, "check completions in the sandbox before showing them"
    )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


FIELDS: dict[str, dataclasses.Field[Any]] = {
    f.metadata["key"]: f for f in dataclasses.fields(Settings)
}


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c.d": 2}`` -> ``{"a.b": 1, "c.d": 2}``; known leaf keys stop descent."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        full = f"{prefix}{key}"
        if isinstance(item, Mapping) and full not in FIELDS:
            out.update(flatten(item, f"{full}."))
        else:
            out[full] = item
    return out


def _coerce(f: dataclasses.Field[Any], value: Any) -> tuple[Any, str | None]:
    """``(value, None)`` if valid, else ``(default, reason)``."""
    meta = f.metadata
    default = f.default
    if isinstance(default, bool):
        return (value, None) if isinstance(value, bool) else (default, "expected true or false")
    if isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return default, "expected an integer"
    elif isinstance(default, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return default, "expected a number"
        value = float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            return default, "expected a string"
        if meta["choices"] and value not in meta["choices"]:
            return default, "expected one of " + ", ".join(f'"{c}"' for c in meta["choices"])
        if meta["non_empty"] and not value.strip():
            return default, "expected a non-empty string"
    if isinstance(value, int | float):
        low, high = meta["minimum"], meta["maximum"]
        if (low is not None and value < low) or (high is not None and value > high):
            return default, f"expected a value between {low} and {high}"
    return value, None


def unwrap(raw: Any) -> Mapping[str, Any] | None:
    """The ``reasonLsp`` section of initializationOptions / configuration payloads."""
    if not isinstance(raw, Mapping):
        return None
    if NAMESPACE in raw:
        inner = raw[NAMESPACE]
        return inner if isinstance(inner, Mapping) else None
    dotted = {k[len(NAMESPACE) + 1 :]: v for k, v in raw.items() if k.startswith(NAMESPACE + ".")}
    return dotted or raw


def parse_settings(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Settings from a client payload, plus human messages for each rejected value.

    Keys absent from ``raw`` keep their value from ``base`` (defaults if None).
    """
    settings = base or Settings()
    section = unwrap(raw)
    if section is None:
        if raw is None:
            return settings, []
        return settings, [f"reasonLsp settings must be an object, got {type(raw).__name__}"]
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in flatten(section).items():
        f = FIELDS.get(key)
        if f is None:
            continue  # client-side or unknown keys are not ours to judge
        coerced, reason = _coerce(f, value)
        if reason is not None:
            problems.append(
                f"reasonLsp.{key}: invalid value {value!r} ({reason}); "
                f"using the default {coerced!r}"
            )
        changes[f.name] = coerced
    return settings.replace(**changes), problems


def schema() -> list[tuple[str, str, Any, str]]:
    """``(key, type, default, description)`` rows, for docs and the editor extension."""
    rows = []
    for f in dataclasses.fields(Settings):
        kind = type(f.default).__name__
        if f.metadata["choices"]:
            kind = " | ".join(f'"{c}"' for c in f.metadata["choices"])
        rows.append((f"{NAMESPACE}.{f.metadata['key']}", kind, f.default, f.metadata["doc"]))
    return rows
