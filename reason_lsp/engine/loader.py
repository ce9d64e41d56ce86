"""Finding and loading a model: the embedded one, a local folder or a hub id; device and dtype.

``device=auto`` means CUDA in bfloat16 when CUDA exists, else the CPU. On the CPU
the weights stay float32 unless ``dtype`` says otherwise: the decode loop runs
under bfloat16 autocast when that was measured faster (``bench/completion.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from reason_lsp.engine import fim
from reason_lsp.engine.api import EngineConfig

EMBEDDED_NAME = "reason-code-small"


def embedded_model_dir() -> Path:
    """The shipped model: inside the installed package (wheel) or the repository's models/."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "models" / EMBEDDED_NAME, here.parent / "models" / EMBEDDED_NAME):
        if (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(
        f"the embedded model {EMBEDDED_NAME} is not installed (looked in {here / 'models'} "
        f"and {here.parent / 'models'}); reinstall reason-lsp or set reasonLsp.model to a folder"
    )


def resolve_model(spec: str) -> str:
    """A loadable path or hub id for the ``model`` setting, with a clear error when offline."""
    if spec in ("", "embedded"):
        return str(embedded_model_dir())
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a Hugging Face model folder (no config.json)")
        return str(path)
    if spec.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model folder {spec} does not exist")
    return spec  # a hub id: transformers resolves it from the cache or the network


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


def load(config: EngineConfig, log=None) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # Editors log the server's stderr as errors: no progress bars there.
    hf_logging.disable_progress_bar()

    source = resolve_model(config.model)
    dtype, _ = choose_dtype(config.dtype, choose_device(config.device))
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or not Path(source).exists()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except OSError as exc:
        hint = " (offline: the hub id must already be in the Hugging Face cache)" if offline else ""
        raise RuntimeError(f"cannot load model {config.model!r}: {exc}{hint}") from exc
    return wrap(model, source, config, tokenizer, log=log)


def wrap(model, source: str, config: EngineConfig, tokenizer=None, log=None) -> LoadedModel:
    """A model already in memory (a training checkpoint, say) as the engine loads one:
    on its device, quantized if asked, with its tokenizer and FIM format from ``source``."""
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source)
    device = choose_device(config.device)
    dtype, autocast = choose_dtype(config.dtype, device)
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
