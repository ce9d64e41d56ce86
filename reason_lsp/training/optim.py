"""Optimizers and the learning-rate schedule of the training loop.

``adamw``: AdamW on every parameter. ``muon``: ``torch.optim.Muon`` on the 2-D
matrices of the hidden layers (attention and MLP projections) and AdamW on the rest
(the tied embedding/head, the norms), as the nanoGPT speedruns split them: Muon
orthogonalizes each matrix update, which suits hidden matrices and not embeddings.

Schedule: linear warm-up, flat, then a linear decay to a tenth over the last
``decay_frac`` of the budget (warmup-stable-decay), which lets a run be resumed
with a larger budget and still end on a decay. Each parameter group keeps its own
peak in ``group["peak_lr"]`` and the schedule scales it.
"""

from __future__ import annotations

import torch

OPTIMIZERS = ("adamw", "muon")


def hidden_matrices(model) -> tuple[list, list]:
    """(2-D hidden-layer weights, everything else) of a causal LM."""
    matrices, rest = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_embedding = "embed" in name or "lm_head" in name
        (matrices if p.ndim == 2 and not is_embedding else rest).append(p)
    return matrices, rest


def make_optimizers(
    model, kind: str, lr: float, muon_lr: float = 0.02, weight_decay: float = 0.1
) -> list[torch.optim.Optimizer]:
    """The optimizers for ``kind``; step all of them after each backward pass."""
    if kind == "adamw":
        optims = [
            torch.optim.AdamW(
                model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay
            )
        ]
    elif kind == "muon":
        if not hasattr(torch.optim, "Muon"):
            raise RuntimeError(f"torch {torch.__version__} has no torch.optim.Muon (2.9 or later)")
        matrices, rest = hidden_matrices(model)
        # Muon's decoupled decay is lr * weight_decay per step: scale it to AdamW's.
        optims = [
            torch.optim.Muon(
                matrices,
                lr=muon_lr,
                momentum=0.95,
                nesterov=True,
                weight_decay=weight_decay * lr / muon_lr,
                adjust_lr_fn="original",
            ),
            torch.optim.AdamW(rest, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay),
        ]
    else:
        raise ValueError(f"unknown optimizer {kind!r} (choose from {', '.join(OPTIMIZERS)})")
    for optim in optims:
        for group in optim.param_groups:
            group["peak_lr"] = group["lr"]
    return optims


def schedule(step: int, progress: float, warmup: int, decay_frac: float) -> float:
    """The factor on the peak learning rate at ``step`` and ``progress`` (0..1) of the budget."""
    warm = min(1.0, (step + 1) / max(1, warmup))
    start_decay = 1.0 - decay_frac
    if progress < start_decay or decay_frac <= 0:
        return warm
    return warm * max(0.1, 1.0 - 0.9 * (progress - start_decay) / decay_frac)


def set_lr(optims: list[torch.optim.Optimizer], factor: float) -> None:
    for optim in optims:
        for group in optim.param_groups:
            group["lr"] = group["peak_lr"] * factor
