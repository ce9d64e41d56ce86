"""The training loop: from scratch or from a model folder, time- or token-budgeted, resumable.

The model is a stock ``LlamaForCausalLM`` so ``AutoModelForCausalLM`` loads the
result with no custom code; ``max_position_embeddings`` is the trained window.
Batches come from the corpus through ``FimSampler`` or from a packed stream
(``reason_lsp.training.pack``). The budget is wall-clock minutes, or with
``clock="cpu"`` the process's CPU minutes (all threads summed), which stays fair
when other jobs share the cores; every run records both, and its CPU-hours.
Checkpoints hold model, optimizers, sampler position and the clocks; ``resume``
continues one.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from reason_lsp.engine import fim
from reason_lsp.training.data import FimSampler, load_docs, load_texts
from reason_lsp.training.evaluate import bits_per_byte
from reason_lsp.training.optim import make_optimizers, schedule, set_lr
from reason_lsp.training.tokenizer import (
    TOKENIZER_FILES,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)


@dataclass
class ModelShape:
    hidden: int = 256
    layers: int = 6
    heads: int = 4
    kv_heads: int = 4
    intermediate: int = 704
    vocab: int = 12288
    max_positions: int = 1024


#: Named shapes (``--shape``): the shipped CPU model; the lent-GPU run, whose bf16
#: safetensors fit 4 shards of 15 MB; a tiny one for dry runs of the scripts.
SHAPES = {
    "small": ModelShape(),
    "gpu": ModelShape(hidden=512, layers=6, heads=8, kv_heads=8, intermediate=1536),
    "tiny": ModelShape(hidden=64, layers=2, heads=2, kv_heads=2, intermediate=128),
}


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
    seq_len: int = 1024
    batch: int = 4
    lr: float = 2e-3
    warmup: int = 100
    decay_frac: float = 0.25
    fim_rate: float = 0.5
    repo_rate: float = 0.5
    eval_minutes: float = 10.0
    ckpt_minutes: float = 5.0
    compile: bool = False
    threads: int = 0
    shape: ModelShape = field(default_factory=ModelShape)
    optimizer: str = "muon"  # or "adamw" (reason_lsp.training.optim); Muon won at equal CPU-time
    muon_lr: float = 0.02
    precision: str = "bf16"  # autocast dtype of the forward pass, or "fp32"
    clock: str = "wall"  # what --minutes counts: "wall" or "cpu" (process CPU time)
    tokenizer: Path | None = None  # reuse this tokenizer instead of training one
    packed: Path | None = None  # train on a packed stream instead of the corpus
    eval_bytes: int | None = 100_000  # per held-out split (None: all of it)
    max_shard_mb: int | None = None  # split the exported safetensors into shards


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


def prepare_tokenizer(opts: TrainOptions, texts: list[str] | None, log) -> Path:
    """The tokenizer folder for this run: the init model's, a given one (copied into the
    run folder, so a checkpoint is evaluable on its own), or one trained on the corpus."""
    folder = opts.run_dir / "tokenizer"
    source = opts.packed if opts.packed is not None else opts.tokenizer
    if source is None and opts.init is not None:
        return opts.init
    if source is not None:
        if not (source / "tokenizer.json").is_file():
            raise FileNotFoundError(f"no tokenizer.json in {source}")
        folder.mkdir(parents=True, exist_ok=True)
        for name in TOKENIZER_FILES:
            if (source / name).is_file():
                shutil.copy(source / name, folder / name)
        return folder
    if not (folder / "tokenizer.json").is_file():
        log(f"training a {opts.shape.vocab}-token byte-level BPE on the corpus …")
        rng = __import__("random").Random(opts.seed)
        sample = rng.sample(texts or [], min(len(texts or []), 4000))
        save_tokenizer(train_tokenizer(sample, opts.shape.vocab), folder)
    return folder


class Clocks:
    """Wall and process-CPU seconds of a run, carried across resumes."""

    def __init__(self, wall: float = 0.0, cpu: float = 0.0) -> None:
        self.wall0, self.cpu0 = wall, cpu
        self.t0, self.c0 = time.monotonic(), time.process_time()

    @property
    def wall(self) -> float:
        return self.wall0 + time.monotonic() - self.t0

    @property
    def cpu(self) -> float:
        return self.cpu0 + time.process_time() - self.c0


def train(opts: TrainOptions, log=print) -> Path:
    torch.manual_seed(opts.seed)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    if opts.clock not in ("wall", "cpu") or opts.precision not in ("bf16", "fp32"):
        raise ValueError(f"clock {opts.clock!r} / precision {opts.precision!r} not known")
    opts.run_dir.mkdir(parents=True, exist_ok=True)
    docs = None if opts.packed is not None else load_docs(opts.corpus)
    if docs is not None:
        log(f"corpus: {len(docs)} files, {sum(len(d.text) for d in docs) / 1e6:.1f} M characters")
    tok_dir = prepare_tokenizer(opts, [d.text for d in docs] if docs else None, log)
    tok = load_tokenizer(tok_dir)

    if opts.init is not None:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(opts.init, dtype=torch.float32)
    else:
        if opts.packed is not None or opts.tokenizer is not None:
            opts.shape = replace(opts.shape, vocab=tok.get_vocab_size())
        opts.shape = replace(opts.shape, max_positions=opts.seq_len)
        model = build_model(opts.shape)
    model.to(opts.device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e6:.2f} M parameters, device {opts.device}, {opts.optimizer}")
    optims = make_optimizers(model, opts.optimizer, opts.lr, opts.muon_lr)
    if opts.packed is not None:
        from reason_lsp.training.pack import PackedStream, tokenizer_digest

        sampler = PackedStream(opts.packed, opts.seq_len, seed=opts.seed)
        if sampler.meta["tokenizer_sha256"] != tokenizer_digest(tok_dir):
            raise ValueError(f"{opts.packed} was packed with another tokenizer")
        log(f"packed stream: {len(sampler.tokens) / 1e6:.1f} M tokens, {sampler.n_rows} rows")
    else:
        sampler = FimSampler(
            docs, tok, opts.seq_len, opts.fim_rate, seed=opts.seed, repo_rate=opts.repo_rate
        )
    valid = {p.name.split(".")[0]: load_texts([p]) for p in opts.valid}

    ckpt_path = opts.run_dir / "checkpoint.pt"
    step, seen_tokens, clocks = 0, 0, Clocks()
    if opts.resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=opts.device, weights_only=False)
        model.load_state_dict(state["model"])
        saved = state["optim"] if isinstance(state["optim"], list) else [state["optim"]]
        if len(saved) != len(optims):
            raise ValueError(f"{ckpt_path} was trained with another optimizer ({opts.optimizer}?)")
        for optim, optim_state in zip(optims, saved, strict=True):
            peaks = [group["peak_lr"] for group in optim.param_groups]
            optim.load_state_dict(optim_state)
            for group, peak in zip(optim.param_groups, peaks, strict=True):
                group["peak_lr"] = peak  # this run's peak (older checkpoints lack one)
        step, seen_tokens = state["step"], state["tokens"]
        clocks = Clocks(state.get("wall", state["elapsed"]), state.get("cpu", 0.0))
        sampler.restore(state["sampler"] if "sampler" in state else {"rng": state["rng"]})
        log(f"resumed at step {step}, {seen_tokens / 1e6:.1f} M tokens, {clocks.wall / 60:.1f} min")

    forward = torch.compile(model) if opts.compile else model
    autocast = torch.autocast(
        opts.device.split(":")[0], dtype=torch.bfloat16, enabled=opts.precision == "bf16"
    )
    budget_s = opts.minutes * 60 if opts.minutes else None

    def elapsed() -> float:
        return clocks.cpu if opts.clock == "cpu" else clocks.wall

    def progress() -> float:
        parts = []
        if budget_s:
            parts.append(elapsed() / budget_s)
        if opts.tokens:
            parts.append(seen_tokens / opts.tokens)
        return max(parts) if parts else 1.0

    def save_checkpoint() -> None:
        state = {
            "model": model.state_dict(), "optim": [o.state_dict() for o in optims],
            "step": step, "tokens": seen_tokens, "elapsed": elapsed(), "wall": clocks.wall,
            "cpu": clocks.cpu, "sampler": sampler.state(),
            "options": {k: str(v) for k, v in asdict(opts).items()},
        }  # fmt: skip
        torch.save(state, ckpt_path.with_suffix(".tmp"))
        ckpt_path.with_suffix(".tmp").replace(ckpt_path)

    def evaluate() -> dict[str, float]:
        model.eval()
        with autocast:
            scores = {
                name: bits_per_byte(model, tok, t, opts.seq_len, max_bytes=opts.eval_bytes)
                for name, t in valid.items()
            }
        model.train()
        log("eval " + ", ".join(f"{k}: {v:.3f} bits/byte" for k, v in scores.items()))
        return scores

    def step_loss(rows: torch.Tensor) -> torch.Tensor:
        with autocast:
            logits = forward(input_ids=rows[:, :-1]).logits
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), rows[:, 1:].reshape(-1))

    model.train()
    last_ckpt = last_eval = last_log = time.monotonic()
    start_tokens, start_budget = seen_tokens, elapsed()
    loss_sum, loss_n = torch.zeros((), device=opts.device), 0
    while progress() < 1.0:
        set_lr(optims, schedule(step, progress(), opts.warmup, opts.decay_frac))
        rows = torch.from_numpy(sampler.batch(opts.batch)).to(opts.device)
        try:
            loss = step_loss(rows)
        except Exception as exc:  # a compiler that fails on this machine: run eagerly
            if forward is model:
                raise
            log(f"torch.compile failed ({type(exc).__name__}: {exc}); training eagerly")
            forward = model
            loss = step_loss(rows)
        for optim in optims:
            optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for optim in optims:
            optim.step()
        step += 1
        seen_tokens += rows[:, :-1].numel()
        loss_sum, loss_n = loss_sum + loss.detach(), loss_n + 1  # no device sync per step
        now = time.monotonic()
        if now - last_log > 30:
            rate = (seen_tokens - start_tokens) / max(1e-9, elapsed() - start_budget)
            log(
                f"step {step} | {seen_tokens / 1e6:.2f} M tok | loss {loss_sum.item() / loss_n:.3f}"
                f" | lr x{schedule(step, progress(), opts.warmup, opts.decay_frac):.2f}"
                f" | {rate:.0f} tok/s ({opts.clock}) | ETA {_eta(progress(), elapsed())}"
            )
            loss_sum, loss_n, last_log = torch.zeros_like(loss_sum), 0, now
        if now - last_ckpt > opts.ckpt_minutes * 60:
            save_checkpoint()
            last_ckpt = now
        if valid and now - last_eval > opts.eval_minutes * 60:
            evaluate()
            last_eval = time.monotonic()
    save_checkpoint()
    budget_used = elapsed()
    scores = evaluate() if valid else {}
    stats = {
        "steps": step, "tokens": seen_tokens, "minutes": clocks.wall / 60,
        "cpu_hours": clocks.cpu / 3600, "clock": opts.clock, "budget_minutes": budget_used / 60,
        "tokens_per_second": seen_tokens / max(1e-9, budget_used),
        "threads": torch.get_num_threads(), "device": opts.device, "optimizer": opts.optimizer,
        "precision": opts.precision, "batch": opts.batch, "lr": opts.lr,
        "fim_rate": sampler.meta["fim_rate"] if opts.packed else opts.fim_rate,
        "repo_rate": sampler.meta["repo_rate"] if opts.packed else opts.repo_rate,
        **({"muon_lr": opts.muon_lr} if opts.optimizer == "muon" else {}),
        **({"epochs": sampler.epochs} if opts.packed is not None else {}),
        **(lineage(opts.init) if opts.init is not None else {}),
        **scores,
    }  # fmt: skip
    export(model, tok_dir, opts.out, stats, seq_len=opts.seq_len, max_shard_mb=opts.max_shard_mb)
    log(f"saved {opts.out}")
    return opts.out


def lineage(init: Path) -> dict:
    """What a fine-tuned model started from: the folder and that model's own training
    stats, so its card can count the compute of both runs."""
    stats_path = init / "training_stats.json"
    parent = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    return {"init": str(init), "init_stats": parent}


def _eta(progress: float, elapsed: float) -> str:
    if progress <= 0:
        return "?"
    remaining = elapsed * (1 - progress) / progress
    return f"{int(remaining // 60)}m{int(remaining % 60):02d}s"


def export(
    model,
    tok_dir: Path,
    out: Path,
    stats: dict | None = None,
    seq_len: int | None = None,
    max_shard_mb: int | None = None,
) -> None:
    """Write a Hugging Face folder: bf16 safetensors, tokenizer, FIM record, training stats.

    With ``seq_len``, ``max_position_embeddings`` becomes the trained window: positions
    past it were never trained, so the engine must not build longer prompts. With
    ``max_shard_mb``, the weights are split into shards of at most that many MB (10^6).
    """
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.safetensors"), *out.glob("*.safetensors.index.json")]:
        old.unlink()  # a re-export with other sharding must not leave stale weights
    if seq_len is not None:
        model.config.max_position_embeddings = seq_len
    stats = {
        **(stats or {}),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seq_len": seq_len,
    }
    model_bf16 = model.to(torch.bfloat16)
    shard = {"max_shard_size": f"{max_shard_mb}MB"} if max_shard_mb else {}
    model_bf16.save_pretrained(out, safe_serialization=True, **shard)
    model.to(torch.float32)
    for name in TOKENIZER_FILES:
        shutil.copy(tok_dir / name, out / name)
    fim.write_record(out, fim.REASON)
    (out / "training_stats.json").write_text(json.dumps(stats, indent=2) + "\n")


def main_log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)
