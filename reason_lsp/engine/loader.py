"""Loading a model (named as :mod:`reason_lsp.engine.catalog` resolves it); device and dtype.

``device=auto`` means CUDA in bfloat16 when CUDA exists, else the CPU. On the CPU
the weights stay float32 unless ``dtype`` says otherwise: the decode loop runs
under bfloat16 autocast when that was measured faster (``bench/completion.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from reason_lsp.engine import catalog, fim, native_memory
from reason_lsp.engine.api import EngineConfig


def resolve_model(spec: str) -> str:
    """A loadable path or hub id for the ``model`` setting (:mod:`catalog` decides)."""
    return catalog.resolve(spec)


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    fim: fim.FimFormat | None
    device: torch.device
    dtype: torch.dtype
    autocast: torch.dtype | None
    name: str
    folder: str | None = None  # the model's local folder (calibration, FIM record)


def choose_device(setting: str) -> torch.device:
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("reasonLsp.device is 'cuda' but CUDA is not available here")
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def choose_dtype(setting: str, device: torch.device) -> tuple[torch.dtype, torch.dtype | None]:
    """(weights dtype, autocast dtype or None)."""
    named = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if setting in named:
        return named[setting], None
    if device.type == "cuda":
        return torch.bfloat16, None
    return torch.float32, None


def load(config: EngineConfig, log=None, lean_only: bool = False) -> LoadedModel:
    """The model the config names. ``lean_only``: the caller decodes through the lean
    path alone (the server's engine), so a bfloat16 checkpoint may stay bfloat16;
    evaluation and training keep the float32 eager model they measure with."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # Editors log the server's stderr as errors: no progress bars there.
    hf_logging.disable_progress_bar()

    source = resolve_model(config.model)
    dtype, _ = choose_dtype(config.dtype, choose_device(config.device))
    if lean_only and dtype == torch.float32 and _stored_for_lean(source, config):
        dtype = torch.bfloat16
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or not Path(source).exists()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except OSError as exc:
        hint = " (offline: the hub id must already be in the Hugging Face cache)" if offline else ""
        raise RuntimeError(f"cannot load model {config.model!r}: {exc}{hint}") from exc
    return wrap(model, source, config, tokenizer, log=log, dtype=dtype)


def _stored_for_lean(source: str, config: EngineConfig) -> bool:
    """Whether to load a bfloat16 checkpoint as it is stored, not widened to float32: on
    the CPU the lean path (Llama/Qwen2 layouts) makes its own matrices from the weights,
    so a float32 copy would only double the memory the load peaks at."""
    if config.dtype != "auto" or config.quantize:
        return False
    try:
        cfg = json.loads((Path(source) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    stored = cfg.get("dtype") or cfg.get("torch_dtype")
    return stored == "bfloat16" and cfg.get("model_type") in ("llama", "qwen2")


def wrap(
    model, source: str, config: EngineConfig, tokenizer=None, log=None, dtype=None
) -> LoadedModel:
    """A model already in memory (a training checkpoint, say) as the engine loads one:
    on its device, quantized if asked, with its tokenizer and FIM format from ``source``."""
    native_memory.bound_kernel_caches()  # before the model's first matmul
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source)
    device = choose_device(config.device)
    chosen, autocast = choose_dtype(config.dtype, device)
    dtype = dtype or chosen
    model = model.to(device=device, dtype=dtype).eval()
    if config.quantize and device.type == "cpu":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    vocab = tokenizer.get_vocab().keys()
    fmt = fim.detect(vocab, source if Path(source).exists() else None)
    if log:
        n = sum(p.numel() for p in model.parameters()) / 1e6
        log(
            f"model {config.model} ({source}) loaded: {n:.1f} M parameters on {device.type}, "
            f"{str(dtype).removeprefix('torch.')}{', int8 dynamic' if config.quantize else ''}, "
            f"FIM: {fmt.name if fmt else 'none (prefix-only prompts)'}"
        )
    tokenizer.model_max_length = 1 << 30  # the engine windows its own prompts
    folder = source if Path(source).exists() else None
    return LoadedModel(model, tokenizer, fmt, device, dtype, autocast, config.model, folder)
