"""Weight matrices of the lean decode path: dense (float32 or bfloat16) or weight-only
quantized (int8 per output row, or int4 in groups of 32 along the input).

Why two forms per quantized matrix: decoding multiplies one row of activations by
each matrix, which is bound by the bytes of weights read, so the packed int8/int4
kernels (``torch.ops.aten._weight_int8pack_mm`` and ``_weight_int4pack_mm_for_cpu``)
win by 2-4x there; a prefill of many rows is bound by arithmetic, where those kernels
are 2-3x slower than oneDNN's bfloat16 matrix product (``bench/decode.py`` measures
both). A :class:`Matrix` keeps the bfloat16 copy for blocks of more than
:data:`PACKED_ROWS` rows and the packed one for the rest.

int4 in groups of 32 with a minimum (``w = q * d + m``, q in 0..15) is the layout of
GGUF's Q4_1, so the pretrained model's Q4_1 weights re-pack with (almost) no loss:
the grid is found again from each group's minimum and maximum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KINDS = ("fp32", "bf16", "int8", "int4")
GROUP = 32
#: Blocks up to this many rows use the packed kernel; larger ones the bfloat16 copy.
PACKED_ROWS = 4


def _int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output row: (int8 [n, k], bfloat16 scales [n])."""
    scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.contiguous(), scale.to(torch.bfloat16)


def _int4(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Asymmetric int4 per group of 32 inputs: (packed weights, bfloat16 [k/32, n, 2]
    scales and zeros in the kernel's convention ``w = (q - 8) * scale + zero``)."""
    n, k = w.shape
    groups = w.view(n, k // GROUP, GROUP)
    low, high = groups.amin(dim=-1), groups.amax(dim=-1)
    scale = ((high - low) / 15.0).clamp(min=1e-12)
    q = torch.round((groups - low[..., None]) / scale[..., None]).clamp(0, 15)
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.view(n, k).to(torch.int32), 1)
    zeros = low + 8.0 * scale
    scales_zeros = torch.stack([scale.t(), zeros.t()], dim=-1).to(torch.bfloat16).contiguous()
    return packed, scales_zeros


def supports(kind: str, w: torch.Tensor) -> bool:
    """Whether ``w`` ([out, in]) can be held as ``kind`` (int4 needs whole groups)."""
    if kind == "int4":
        return w.shape[1] % GROUP == 0 and hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu")
    if kind == "int8":
        return hasattr(torch.ops.aten, "_weight_int8pack_mm")
    return kind in KINDS


class Matrix:
    """One weight matrix ``[out, in]`` as ``kind``; ``apply(x)`` is ``x @ w.T``."""

    def __init__(self, w: torch.Tensor, kind: str, prefill: bool = True) -> None:
        """``prefill=False``: a packed matrix only ever multiplies single rows (the
        language-model head sees the last position alone), so no dense copy is kept."""
        w = w.detach().to(torch.float32)
        if not supports(kind, w):
            kind = "bf16"
        self.kind = kind
        self.shape = tuple(w.shape)
        self.packed: tuple[torch.Tensor, torch.Tensor] | None = None
        if kind == "int8":
            self.packed = _int8(w)
        elif kind == "int4":
            self.packed = _int4(w)
        # The prefill copy holds the same rounded weights, so the keys and values a
        # prefill caches are those the packed decode steps would have written.
        self.dense: torch.Tensor | None = None
        if self.packed is None:
            self.dense = w.contiguous() if kind == "fp32" else w.to(torch.bfloat16)
        elif prefill:
            self.dense = self.dequantized().to(torch.bfloat16)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` is ``[..., in]`` (a batch of rows, as scoring sends); ``[..., out]`` back."""
        rows = x.numel() // x.shape[-1]
        if self.packed is not None and (rows <= PACKED_ROWS or self.dense is None):
            xb = x.reshape(rows, x.shape[-1]).to(torch.bfloat16)  # the kernels take 2-D
            if self.kind == "int8":
                out = torch.ops.aten._weight_int8pack_mm(xb, *self.packed)
            else:
                weights, scales_zeros = self.packed
                out = torch.ops.aten._weight_int4pack_mm_for_cpu(xb, weights, GROUP, scales_zeros)
            return out.reshape(*x.shape[:-1], self.shape[0])
        return F.linear(x if x.dtype == self.dense.dtype else x.to(self.dense.dtype), self.dense)

    def dequantized(self) -> torch.Tensor:
        """The float32 matrix the packed kernel multiplies by (the prefill copy, parity tests)."""
        if self.kind == "int8":
            q, scale = self.packed
            return q.float() * scale.float()[:, None]
        if self.kind == "int4":  # each input unit through the kernel: w's columns
            weights, scales_zeros = self.packed
            eye = torch.eye(self.shape[1], dtype=torch.bfloat16)
            cols = torch.ops.aten._weight_int4pack_mm_for_cpu(eye, weights, GROUP, scales_zeros)
            return cols.float().t().contiguous()
        return self.dense.float()

    def decode_bytes(self) -> int:
        """Bytes of weights one decoded token reads from this matrix (the packed form
        when there is one): the memory traffic that bounds a decode step."""
        tensors = self.packed if self.packed is not None else (self.dense,)
        return sum(t.numel() * t.element_size() for t in tensors)
