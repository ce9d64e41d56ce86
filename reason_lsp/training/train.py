"""The training loop: from scratch or from a model folder, time- or token-budgeted, resumable.

The model is a stock ``LlamaForCausalLM`` so ``AutoModelForCausalLM`` loads the
result with no custom code. Learning rate: linear warm-up, flat, then a linear
decay over the last ``decay_frac`` of the budget (warmup-stable-decay), which lets
a run be resumed with a larger budget and still end on a decay. Checkpoints hold
model, optimizer, sampler position and elapsed time; ``--resume`` continues one.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from reason_lsp.engine import fim
from reason_lsp.training.data import FimSampler, load_texts
from reason_lsp.training.evaluate import bits_per_byte
from reason_lsp.training.tokenizer import load_tokenizer, save_tokenizer, train_tokenizer


@dataclass
class ModelShape:
    hidden: int = 256
    layers: int = 6
    heads: int = 4
    kv_heads: int = 4
    intermediate: int = 704
    vocab: int = 12288
    max_positions: int = 2048


@dataclass
class TrainOptions:
    corpus: list[Path]
    out: Path
    run_dir: Path
    valid: list[Path] = field(default_factory=list)
    init: Path | None = None
    minutes: float | None = None
    tokens: int | None = None
    resume: bool = False
    device: str = "cpu"
    seed: int = 0
    seq_len: int = 512
    batch: int = 8
    lr: float = 2e-3
    warmup: int = 100
    decay_frac: float = 0.25
    fim_rate: float = 0.5
    eval_minutes: float = 10.0
    ckpt_minutes: float = 5.0
    compile: bool = False
    threads: int = 0
    shape: ModelShape = field(default_factory=ModelShape)


def build_model(shape: ModelShape):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=shape.vocab,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        max_position_embeddings=shape.max_positions,
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=4,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config)


def lr_at(opts: TrainOptions, step: int, progress: float) -> float:
    warm = min(1.0, (step + 1) / opts.warmup)
    start_decay = 1.0 - opts.decay_frac
    decay = (
        1.0
        if progress < start_decay
        else max(0.1, 1.0 - 0.9 * (progress - start_decay) / opts.decay_frac)
    )
    return opts.lr * warm * decay


def prepare_tokenizer(opts: TrainOptions, texts: list[str], log) -> Path:
    """The tokenizer folder for this run: the init model's, or one trained on the corpus."""
    folder = opts.run_dir / "tokenizer"
    if opts.init is not None:
        return opts.init
    if not (folder / "tokenizer.json").is_file():
        log(f"training a {opts.shape.vocab}-token byte-level BPE on the corpus …")
        rng = __import__("random").Random(opts.seed)
        sample = rng.sample(texts, min(len(texts), 4000))
        save_tokenizer(train_tokenizer(sample, opts.shape.vocab), folder)
    return folder


def train(opts: TrainOptions, log=print) -> Path:
    torch.manual_seed(opts.seed)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    opts.run_dir.mkdir(parents=True, exist_ok=True)
    texts = load_texts(opts.corpus)
    log(f"corpus: {len(texts)} files, {sum(map(len, texts)) / 1e6:.1f} M characters")
    tok_dir = prepare_tokenizer(opts, texts, log)
    tok = load_tokenizer(tok_dir)

    if opts.init is not None:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(opts.init, dtype=torch.float32)
    else:
        model = build_model(opts.shape)
    model.to(opts.device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e6:.2f} M parameters, device {opts.device}")
    optim = torch.optim.AdamW(model.parameters(), lr=opts.lr, betas=(0.9, 0.95), weight_decay=0.1)
    sampler = FimSampler(texts, tok, opts.seq_len, opts.fim_rate, seed=opts.seed)
    valid = {p.stem: load_texts([p]) for p in opts.valid}

    ckpt_path = opts.run_dir / "checkpoint.pt"
    step, seen_tokens, elapsed = 0, 0, 0.0
    if opts.resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=opts.device, weights_only=False)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        step, seen_tokens, elapsed = state["step"], state["tokens"], state["elapsed"]
        sampler.rng.setstate(state["rng"])
        log(f"resumed at step {step}, {seen_tokens / 1e6:.1f} M tokens, {elapsed / 60:.1f} min")

    forward = torch.compile(model) if opts.compile else model
    autocast = torch.autocast(opts.device.split(":")[0], dtype=torch.bfloat16)
    budget_s = opts.minutes * 60 if opts.minutes else None

    def progress() -> float:
        parts = []
        if budget_s:
            parts.append(elapsed / budget_s)
        if opts.tokens:
            parts.append(seen_tokens / opts.tokens)
        return max(parts) if parts else 1.0

    def save_checkpoint() -> None:
        state = {
            "model": model.state_dict(), "optim": optim.state_dict(), "step": step,
            "tokens": seen_tokens, "elapsed": elapsed, "rng": sampler.rng.getstate(),
            "options": {k: str(v) for k, v in asdict(opts).items()},
        }  # fmt: skip
        torch.save(state, ckpt_path.with_suffix(".tmp"))
        ckpt_path.with_suffix(".tmp").replace(ckpt_path)

    def evaluate() -> dict[str, float]:
        model.eval()
        with autocast:
            scores = {
                name: bits_per_byte(model, tok, t, opts.seq_len, max_bytes=100_000)
                for name, t in valid.items()
            }
        model.train()
        log("eval " + ", ".join(f"{k}: {v:.3f} bits/byte" for k, v in scores.items()))
        return scores

    model.train()
    last_ckpt = last_eval = last_log = time.monotonic()
    run_start, run_start_elapsed, run_start_tokens = time.monotonic(), elapsed, seen_tokens
    loss_ema = None
    while progress() < 1.0:
        for group in optim.param_groups:
            group["lr"] = lr_at(opts, step, progress())
        rows = torch.from_numpy(sampler.batch(opts.batch)).to(opts.device)
        with autocast:
            logits = forward(input_ids=rows[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), rows[:, 1:].reshape(-1))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        step += 1
        seen_tokens += rows[:, :-1].numel()
        now = time.monotonic()
        elapsed = run_start_elapsed + (now - run_start)
        loss_ema = loss.item() if loss_ema is None else 0.95 * loss_ema + 0.05 * loss.item()
        if now - last_log > 30:
            rate = (seen_tokens - run_start_tokens) / (now - run_start)
            eta = _eta(progress(), elapsed)
            log(
                f"step {step} | {seen_tokens / 1e6:.2f} M tok | loss {loss_ema:.3f} | "
                f"lr {optim.param_groups[0]['lr']:.2e} | {rate:.0f} tok/s | ETA {eta}"
            )
            last_log = now
        if now - last_ckpt > opts.ckpt_minutes * 60:
            save_checkpoint()
            last_ckpt = now
        if valid and now - last_eval > opts.eval_minutes * 60:
            evaluate()
            last_eval = time.monotonic()
    save_checkpoint()
    scores = evaluate() if valid else {}
    stats = {"steps": step, "tokens": seen_tokens, "minutes": elapsed / 60, **scores}
    export(model, tok_dir, opts.out, stats, seq_len=opts.seq_len)
    log(f"saved {opts.out}")
    return opts.out


def _eta(progress: float, elapsed: float) -> str:
    if progress <= 0:
        return "?"
    remaining = elapsed * (1 - progress) / progress
    return f"{int(remaining // 60)}m{int(remaining % 60):02d}s"


def export(
    model, tok_dir: Path, out: Path, stats: dict | None = None, seq_len: int | None = None
) -> None:
    """Write a Hugging Face folder: bf16 safetensors, tokenizer, FIM record, training stats.

    With ``seq_len``, ``max_position_embeddings`` becomes the trained window: positions
    past it were never trained, so the engine must not build longer prompts.
    """
    import json

    out.mkdir(parents=True, exist_ok=True)
    if seq_len is not None:
        model.config.max_position_embeddings = seq_len
    stats = {
        **(stats or {}),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seq_len": seq_len,
    }
    model_bf16 = model.to(torch.bfloat16)
    model_bf16.save_pretrained(out, safe_serialization=True)
    model.to(torch.float32)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(tok_dir / name, out / name)
    fim.write_record(out, fim.REASON)
    (out / "training_stats.json").write_text(json.dumps(stats, indent=2) + "\n")


def main_log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)
