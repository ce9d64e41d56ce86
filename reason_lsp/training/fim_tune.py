"""FIM continued training of a pretrained model: LoRA or full fine-tune, masked loss, export.

``reason-lsp train --init FOLDER`` lands here when FOLDER's tokenizer lacks our own
sentinels (a pretrained model such as SmolLM2-135M). The model learns to fill holes
(:mod:`reason_lsp.training.infill`) in the order the engine prompts; the FIM tokens
are the model's own when it has them, else three reused markers
(:data:`reason_lsp.engine.fim.REUSED_ISSUE_TOKENS`).

Only the middle is scored, and the vocabulary projection runs on those positions
alone: with a 49,152-token vocabulary the projection of every position would cost
more than the layers. LoRA (peft) on every linear layer is the default, because its
adapter is a few MB, small enough to ship in the repository next to a model that is
fetched from the registry; ``lora_rank=0`` trains every weight. The clock is the
process's wall or CPU time, as in :mod:`reason_lsp.training.train`.

Output: a Hugging Face folder (merged bf16 weights, tokenizer, ``fim.json``,
``training_stats.json`` with the held-out curve), and with LoRA the adapter under
``adapter/``.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from reason_lsp.engine import fim
from reason_lsp.engine.fim import FimFormat
from reason_lsp.training.data import load_docs
from reason_lsp.training.infill import IGNORE, InfillExamples
from reason_lsp.training.optim import schedule, set_lr
from reason_lsp.training.tokenizer import TOKENIZER_FILES, load_tokenizer
from reason_lsp.training.train import Clocks, lineage

#: Files of the init folder the tuned folder keeps (license, calibrations, card inputs).
KEPT_FILES = ("LICENSE", "calibration.json", "completion_calibration.json")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TuneOptions:
    init: Path
    corpus: list[Path]
    out: Path
    valid: list[Path] = field(default_factory=list)
    minutes: float = 30.0
    lora_rank: int = 16  # 0: every weight trains
    lr: float | None = None  # default: 3e-4 with LoRA, 3e-5 for a full fine-tune
    batch: int = 8
    seq_len: int = 320
    repo_rate: float = 0.25
    warmup: int = 20
    seed: int = 0
    device: str = "cpu"
    precision: str = "bf16"
    clock: str = "wall"
    threads: int = 0
    eval_examples: int = 160
    eval_minutes: float = 10.0

    @property
    def peak_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return 3e-4 if self.lora_rank else 3e-5


def tuning_format(tok, init: Path) -> FimFormat:
    """The FIM tokens to train: the model's own, else the reused issue markers."""
    own = fim.detect(tok.get_vocab(with_added_tokens=True), init)
    if own is not None:
        return own
    reused = fim.REUSED_ISSUE_TOKENS
    if all(tok.token_to_id(t) is not None for t in (reused.prefix, reused.suffix, reused.middle)):
        return reused
    raise ValueError(f"{init}'s tokenizer has no FIM tokens, nor the markers this would reuse")


def load_model(opts: TuneOptions):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(opts.init, dtype=torch.float32)
    if opts.lora_rank:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=opts.lora_rank,
            lora_alpha=2 * opts.lora_rank,
            lora_dropout=0.0,
            target_modules=list(LORA_TARGETS),
        )
        model = get_peft_model(model, config)
    return model.to(opts.device)


def masked_loss(model, ids: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """Mean cross-entropy over the scored positions; also (tokens right, tokens scored)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.model(input_ids=ids).last_hidden_state[:, :-1]
    target = labels[:, 1:]
    scored = target != IGNORE
    logits = base.lm_head(hidden[scored]).float()
    wanted = target[scored]
    loss = F.cross_entropy(logits, wanted)
    right = int((logits.argmax(-1) == wanted).sum())
    return loss, right, int(wanted.numel())


def held_out(opts: TuneOptions, tok, fmt: FimFormat) -> dict[str, list]:
    """Fixed held-out examples per validation split, batched once."""
    splits = {}
    for path in opts.valid:
        docs = load_docs([path])
        draw = InfillExamples(docs, tok, fmt, opts.seq_len, opts.repo_rate, seed=1234)
        batches = []
        for _ in range(max(1, opts.eval_examples // opts.batch)):
            ids, labels = draw.batch(opts.batch)
            batches.append((torch.from_numpy(ids), torch.from_numpy(labels)))
        splits[path.name.split(".")[0]] = batches
    return splits


def evaluate(model, splits: dict[str, list], opts: TuneOptions, autocast) -> dict[str, float]:
    """Per split: the middle's mean loss (nats a token) and next-token accuracy."""
    model.eval()
    scores = {}
    with torch.no_grad(), autocast:
        for name, batches in splits.items():
            total, right, n = 0.0, 0, 0
            for ids, labels in batches:
                loss, r, k = masked_loss(model, ids.to(opts.device), labels.to(opts.device))
                total, right, n = total + float(loss) * k, right + r, n + k
            scores[f"{name}_middle_loss"] = total / max(1, n)
            scores[f"{name}_middle_accuracy"] = right / max(1, n)
    model.train()
    return scores


def tune(opts: TuneOptions, log=print) -> Path:
    torch.manual_seed(opts.seed)
    random.seed(opts.seed)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    tok = load_tokenizer(opts.init)
    fmt = tuning_format(tok, opts.init)
    docs = load_docs(opts.corpus)
    sampler = InfillExamples(docs, tok, fmt, opts.seq_len, opts.repo_rate, seed=opts.seed)
    splits = held_out(opts, tok, fmt)
    model = load_model(opts)
    params = [p for p in model.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in params)
    kind = f"LoRA rank {opts.lora_rank}" if opts.lora_rank else "full fine-tune"
    log(f"{opts.init}: {kind}, {n_train / 1e6:.2f} M trainable, FIM tokens {fmt.name}")
    optim = torch.optim.AdamW(params, lr=opts.peak_lr, weight_decay=0.0, betas=(0.9, 0.98))
    for group in optim.param_groups:
        group["peak_lr"] = opts.peak_lr
    autocast = torch.autocast(
        opts.device.split(":")[0], dtype=torch.bfloat16, enabled=opts.precision == "bf16"
    )
    clocks = Clocks()
    budget = opts.minutes * 60

    def elapsed() -> float:
        return clocks.cpu if opts.clock == "cpu" else clocks.wall

    curve: list[dict] = []

    def record() -> None:
        scores = evaluate(model, splits, opts, autocast)
        curve.append({"step": step, "tokens": tokens, "minutes": round(clocks.wall / 60, 2),
                      **scores})  # fmt: skip
        log("eval " + _fmt(curve[-1]))

    step, tokens, scored = 0, 0, 0
    record()
    last_eval = last_log = time.monotonic()
    loss_sum, loss_n = 0.0, 0
    while elapsed() < budget:
        set_lr([optim], schedule(step, elapsed() / budget, opts.warmup, 0.25))
        ids, labels = (torch.from_numpy(a).to(opts.device) for a in sampler.batch(opts.batch))
        with autocast:
            loss, _, k = masked_loss(model, ids, labels)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        step, tokens, scored = step + 1, tokens + ids.numel(), scored + k
        loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
        now = time.monotonic()
        if now - last_log > 30:
            log(
                f"step {step} | {tokens / 1e6:.3f} M tok ({scored} scored) | "
                f"loss {loss_sum / loss_n:.3f} | {tokens / max(1e-9, elapsed()):.0f} tok/s"
            )
            loss_sum, loss_n, last_log = 0.0, 0, now
        if now - last_eval > opts.eval_minutes * 60:
            record()
            last_eval = time.monotonic()
    record()
    stats = {
        "kind": kind, "lora_rank": opts.lora_rank, "trainable_parameters": n_train,
        "fim_format": fmt.name, "steps": step, "tokens": tokens, "scored_tokens": scored,
        "minutes": clocks.wall / 60, "cpu_hours": clocks.cpu / 3600, "clock": opts.clock,
        "threads": torch.get_num_threads(), "device": opts.device, "lr": opts.peak_lr,
        "batch": opts.batch, "seq_len": opts.seq_len, "repo_rate": opts.repo_rate,
        "precision": opts.precision, "held_out": curve[-1], "curve": curve,
        **lineage(opts.init),
    }  # fmt: skip
    export(model, opts, fmt, stats)
    log(f"saved {opts.out}")
    return opts.out


def export(model, opts: TuneOptions, fmt: FimFormat, stats: dict) -> None:
    """The tuned model as a folder the engine loads like any other."""
    stats["options"] = {k: str(v) for k, v in asdict(opts).items()}
    if opts.lora_rank:
        save_adapter(model, opts.out / "adapter", fmt, stats)
        model = model.merge_and_unload()
    write_folder(model, opts.init, opts.out, fmt, stats)


def save_adapter(model, folder: Path, fmt: FimFormat, stats: dict) -> None:
    """The LoRA adapter in bf16 (rank 16 on SmolLM2-135M: 10 MB), with its FIM record."""
    from safetensors.torch import load_file, save_file

    model.save_pretrained(folder)
    weights = folder / "adapter_model.safetensors"
    save_file({k: v.to(torch.bfloat16) for k, v in load_file(weights).items()}, weights)
    fim.write_record(folder, fmt)
    (folder / "training_stats.json").write_text(json.dumps(stats, indent=2) + "\n")


def write_folder(model, init: Path, out: Path, fmt: FimFormat, stats: dict) -> None:
    """A model folder: bf16 weights, the init's tokenizer and kept files, the FIM record."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.safetensors"):
        old.unlink()
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    for name in (*TOKENIZER_FILES, *KEPT_FILES):
        if (init / name).is_file():
            shutil.copy(init / name, out / name)
    fim.write_record(out, fmt)
    (out / "training_stats.json").write_text(json.dumps(stats, indent=2) + "\n")


def merge(base: Path, adapter: Path, out: Path) -> Path:
    """The folder of ``base`` with ``adapter`` (a :func:`save_adapter` folder) merged in."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    fmt = fim.read_record(adapter)
    if fmt is None:
        raise ValueError(f"{adapter} has no {fim.FIM_RECORD}: not a FIM-tuning adapter")
    stats_path = adapter / "training_stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    write_folder(model, base, out, fmt, {**stats, "merged_onto": str(base)})
    return out


def _fmt(point: dict) -> str:
    parts = [f"step {point['step']}"]
    for key, value in point.items():
        if key.endswith("_loss") or key.endswith("_accuracy"):
            parts.append(f"{key} {value:.3f}" if math.isfinite(value) else f"{key} nan")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """``python -m reason_lsp.training.fim_tune merge BASE ADAPTER OUT``."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4 or args[0] != "merge":
        print(
            "usage: python -m reason_lsp.training.fim_tune merge BASE ADAPTER OUT", file=sys.stderr
        )
        return 2
    try:
        print(merge(Path(args[1]), Path(args[2]), Path(args[3])))
    except (OSError, ValueError) as exc:
        print(f"fim_tune merge: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
