"""The model engine's public face: the contract (re-exported from ``api``) and the factories.

Nothing here imports torch or transformers: the server imports this package on its
start-up path. :func:`create_engine` imports the chosen backend (``local`` or
``remote``) only when an engine is created, in the background after ``initialize``;
:func:`open_decoder` loads a model for code that runs it directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reason_lsp.engine.api import (
    GENERATE,
    MEMBERS,
    RANK,
    SCORE,
    Cancelled,
    Engine,
    EngineConfig,
    EngineInfo,
    EngineUnavailable,
    GenerateRequest,
    Generation,
    Priority,
    Sample,
    StopRule,
    TokenScore,
    Unsupported,
    await_job,
    prompt_budget,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from reason_lsp.engine.decoder import Decoder

__all__ = [
    "GENERATE", "MEMBERS", "RANK", "SCORE", "Cancelled", "Engine", "EngineConfig", "EngineInfo",
    "EngineUnavailable", "GenerateRequest", "Generation", "Priority", "Sample", "StopRule",
    "TokenScore", "Unsupported", "await_job", "create_engine", "open_decoder", "prompt_budget",
]  # fmt: skip


def create_engine(
    config: EngineConfig, on_state: Callable[[str, str], None] | None = None, log=None
) -> Engine:
    """Create (not start) the engine the config names; heavy imports happen here."""
    if config.backend == "openai":
        from reason_lsp.engine.remote import RemoteEngine

        return RemoteEngine(config, on_state=on_state, log=log)
    from reason_lsp.engine.local import LocalEngine

    return LocalEngine(config, on_state=on_state, log=log)


def open_decoder(
    model: str = "embedded",
    device: str = "auto",
    dtype: str = "auto",
    context_tokens: int | None = None,
    quantize: bool = False,
    log=None,
) -> Decoder:
    """Load a model and wrap it in the server's decoder, for code that runs it directly
    (the CLIs' one-shot paths, benchmarks, the evaluation and calibration).

    Raises :class:`EngineUnavailable` with one sentence when a model package (torch,
    transformers, ...) is missing; a broken model raises what the loader raises."""
    from reason_lsp.engine.local import missing_package

    config = EngineConfig(model=model, device=device, dtype=dtype, quantize=quantize)
    tokens = context_tokens if context_tokens is not None else config.context_tokens
    try:
        from reason_lsp.engine import loader
        from reason_lsp.engine.decoder import Decoder

        return Decoder(loader.load(config, log=log), tokens)
    except ImportError as exc:
        raise EngineUnavailable(missing_package(exc)) from exc
