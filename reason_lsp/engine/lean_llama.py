"""A lean CPU decode path for Llama/Qwen2-layout models, built from a loaded HF model's weights.

This module owns the fast single-sequence forward pass used by ``Decoder`` on the CPU:
fused QKV and gate/up matrices, a preallocated key/value cache with a length counter,
RoPE from a precomputed table, grouped-query attention through 4-D
``scaled_dot_product_attention`` and the (tied or untied) language-model head.

Why: for a model this small (hidden 256, 6 layers) eager transformers adds dispatch
overhead around matrix-vector products that are bound by memory traffic (about 70%
of a lean step, profiled). Fewer ops cut the first; bfloat16 matrices
(``weights="bf16"``) halve the second, while the residual stream, RoPE, attention
and the key/value cache stay float32 and the likeliest logits are redone in float32
(``refine``), so the result stays close to the float32 model.

The contract matches ``Decoder._forward``: ``LeanLlama.forward(ids, cache)`` returns
``(last_logits_1d_float32, cache)``, where ``cache`` is a :class:`LeanCache` (or
``None`` to start fresh) with ``get_seq_length()`` and ``crop(-n)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reason_lsp.engine.lean_quant import KINDS, Matrix
from reason_lsp.engine.pretrained import lean_weights

SUPPORTED_TYPES = ("llama", "qwen2")
#: Prompt tokens fed per forward call (bench/decode.py: no slower than one block).
PREFILL_CHUNK = 256
#: RoPE variants whose frequencies do not depend on the sequence length.
_STATIC_ROPE = ("default", "linear", "llama3", "yarn")


def unsupported_reason(model: torch.nn.Module) -> str | None:
    """Why ``model`` cannot take the lean path (``None`` when it can)."""
    cfg = getattr(model, "config", None)
    kind = getattr(cfg, "model_type", None)
    if kind not in SUPPORTED_TYPES:
        return f"architecture {kind!r} is not one of {SUPPORTED_TYPES}"
    if getattr(cfg, "hidden_act", "silu") != "silu" or getattr(cfg, "mlp_bias", False):
        return "only SiLU MLPs without bias are supported"
    if kind == "qwen2" and getattr(cfg, "use_sliding_window", False):
        return "sliding-window attention is not supported"
    rope = (getattr(cfg, "rope_parameters", None) or {}).get("rope_type", "default")
    if rope not in _STATIC_ROPE:
        return f"RoPE type {rope!r} depends on the length"
    for p in model.parameters():
        if p.device.type != "cpu":
            return "the model is not on the CPU"
        if not p.dtype.is_floating_point:
            return "the model is quantized"
    for mod in model.modules():
        if type(mod).__module__.startswith("torch.ao"):
            return "the model is quantized"
    return None


class LeanCache:
    """Preallocated keys/values ``[layers, 2, 1, kv_heads, capacity, head_dim]`` plus a length.

    It starts at one block and grows by whole blocks of ``GROW`` positions to what a
    prompt needs plus one block for the tokens decoded after it, never by doubling: a
    1,024-token prompt would otherwise hold 2,048 positions (94 MB for the pretrained
    model, in each of the ``Decoder``'s slots). Like transformers' own cache it has no
    hard limit: past the trained positions the model degrades but does not fail.
    """

    GROW = 256

    def __init__(self, layers: int, kv_heads: int, head_dim: int, start: int = GROW):
        self.length = 0
        self.kv = torch.zeros(layers, 2, 1, kv_heads, start, head_dim)

    def get_seq_length(self) -> int:
        return self.length

    @property
    def capacity(self) -> int:
        return self.kv.shape[4]

    def crop(self, n: int) -> None:
        """Drop the last ``-n`` positions (transformers 5.x semantics: a negative count)."""
        if n > 0:
            raise ValueError(f"crop takes a negative count of positions to drop, got {n}")
        self.length = max(0, self.length + n)

    def reserve(self, total: int) -> None:
        if total <= self.capacity:
            return
        cap = -(-total // self.GROW) * self.GROW + self.GROW
        grown = self.kv.new_zeros(*self.kv.shape[:4], cap, self.kv.shape[5])
        grown[:, :, :, :, : self.length] = self.kv[:, :, :, :, : self.length]
        self.kv = grown


class LeanLlama:
    """The decode path.

    ``weights`` is the form of the layers' matrices, ``"fp32"``, ``"bf16"``, ``"int8"``
    or ``"int4"`` (:mod:`lean_quant`; quantized ones keep a bfloat16 copy for prefill);
    ``head`` that of the language-model head (``None``: the same, int8 for int4). bf16 logits are
    rounded to about 3 significant digits, so near-ties can flip; a float32 head
    avoids that but streams twice the bytes of the largest matrix. ``refine`` is the
    middle way: with a bf16 head, the ``refine`` likeliest logits are recomputed in
    float32 from the float32 weights (a few rows), so the tokens that decoding and
    sampling actually choose between get float32 logits at almost no cost.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        weights: str = "bf16",
        n_logits: int | None = None,
        head: str | None = None,
        refine: int = 0,
    ):
        reason = unsupported_reason(model)
        if reason:
            raise ValueError(f"lean decode path: {reason}")
        cfg = model.config
        self.n_heads = cfg.num_attention_heads
        self.n_kv = getattr(cfg, "num_key_value_heads", None) or self.n_heads
        self.hidden = cfg.hidden_size
        self.head_dim = getattr(cfg, "head_dim", None) or self.hidden // self.n_heads
        self.group = self.n_heads // self.n_kv
        self.eps = float(cfg.rms_norm_eps)
        self.max_len = int(getattr(cfg, "max_position_embeddings", 2048) or 2048)
        if weights not in KINDS:
            raise ValueError(f"lean decode path: weights {weights!r} is not one of {KINDS}")
        self.n_logits = n_logits
        inner = model.model
        d, h, kv = self.head_dim, self.n_heads, self.n_kv
        # RoPE rotates dimension i with i + d/2. Reordering the q/k output rows of each
        # head to interleave those pairs (the same order for q and k leaves q·k
        # unchanged) lets RoPE be one complex multiplication.
        perm = torch.arange(d).view(2, d // 2).t().reshape(-1)

        def heads_perm(w: torch.Tensor, n: int) -> torch.Tensor:
            return w.view(n, d, *w.shape[1:])[:, perm].reshape(n * d, *w.shape[1:])

        def mat(w: torch.Tensor) -> Matrix:
            return Matrix(w, weights)

        def vec(w: torch.Tensor | None) -> torch.Tensor | None:
            return None if w is None else w.detach().to(torch.float32).contiguous()

        self.layers = []
        for layer in inner.layers:
            att, mlp = layer.self_attn, layer.mlp
            wq = heads_perm(att.q_proj.weight.detach().float(), h)
            wk = heads_perm(att.k_proj.weight.detach().float(), kv)
            qkv_w = mat(torch.cat([wq, wk, att.v_proj.weight.detach().float()]))
            qkv_b = None
            if att.q_proj.bias is not None:
                qkv_b = torch.cat(
                    [
                        heads_perm(att.q_proj.bias.detach().float(), h),
                        heads_perm(att.k_proj.bias.detach().float(), kv),
                        att.v_proj.bias.detach().float(),
                    ]
                )
            self.layers.append(
                (
                    vec(layer.input_layernorm.weight),
                    qkv_w,
                    qkv_b,
                    mat(att.o_proj.weight),
                    vec(att.o_proj.bias),
                    vec(layer.post_attention_layernorm.weight),
                    mat(torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])),
                    mat(mlp.down_proj.weight),
                )
            )
        self.inter = inner.layers[0].mlp.gate_proj.weight.shape[0]
        self.embed = inner.embed_tokens.weight.detach().to(torch.float32).contiguous()
        self.norm = vec(inner.norm.weight)
        head_w = model.get_output_embeddings().weight
        head_w = head_w if n_logits is None else head_w[:n_logits]
        # The pretrained model's head came as Q8_0: int4 would round it further.
        head_kind = head or ("int8" if weights == "int4" else weights)
        tied = head_w.data_ptr() == inner.embed_tokens.weight.data_ptr()
        # Tied: one float32 table serves the embedding and the head (no second copy).
        head32 = self.embed[: head_w.shape[0]] if tied else head_w.detach().float().contiguous()
        self.refine = min(refine, head32.shape[0]) if head_kind != "fp32" else 0
        # Scoring every position reads the float32 head when refining, so a packed head
        # then needs no dense copy.
        self.head = Matrix(head32, head_kind, prefill=not self.refine)
        self.head32 = head32 if self.refine else None
        rotary = inner.rotary_emb
        self.inv_freq = rotary.inv_freq.detach().float()
        self.rope_scale = float(getattr(rotary, "attention_scaling", 1.0))
        self.rope = self._rope_table(self.max_len)

    def decode_bytes(self) -> int:
        """Weight bytes one decode step reads (every layer matrix and the head)."""
        mats = [m for layer in self.layers for m in layer if isinstance(m, Matrix)]
        return sum(m.decode_bytes() for m in [*mats, self.head])

    def _rope_table(self, n: int) -> torch.Tensor:
        """``[positions, 1, d/2]`` complex rotations: broadcast over q's and k's heads."""
        angles = torch.arange(n, dtype=torch.float32)[:, None] * self.inv_freq[None, :]
        return torch.polar(torch.full_like(angles, self.rope_scale), angles)[:, None, :]

    def new_cache(self) -> LeanCache:
        start = min(LeanCache.GROW, self.max_len)
        return LeanCache(len(self.layers), self.n_kv, self.head_dim, start)

    def _linear(self, x: torch.Tensor, w: Matrix) -> torch.Tensor:
        return w.apply(x)

    @torch.inference_mode()
    def forward(
        self,
        ids: list[int],
        cache: LeanCache | None,
        every: bool = False,
        *,
        rows: bool = False,
        positions: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, LeanCache]:
        """Logits (float32, 1-D) after feeding ``ids`` on top of ``cache``; with ``every``,
        one row per position of ``ids`` (2-D, all in float32: scoring needs every logit);
        with ``rows``, one row per position through the decode head (what sampling reads).

        ``positions`` and ``mask`` (``[len(ids), cache length + len(ids)]``, True where a
        query may look) feed several branches at once (:mod:`.branches`): the tokens
        are appended to the cache in order, but each sees only the keys its mask allows,
        at its own position. Without them the tokens continue the cache causally.
        """
        if cache is None:
            cache = self.new_cache()
        if len(ids) > PREFILL_CHUNK:
            # A long prompt in blocks: the activations' peak (and so the allocator's
            # high-water mark) stays that of one block, and cost is the same.
            out, base = [], cache.length
            for i in range(0, len(ids), PREFILL_CHUNK):
                j = min(i + PREFILL_CHUNK, len(ids))
                part = {} if mask is None else {
                    "positions": positions[i:j], "mask": mask[i:j, : base + j]
                }  # fmt: skip
                logits, cache = self.forward(ids[i:j], cache, every, rows=rows, **part)
                out.append(logits)
            return (torch.cat(out) if every or rows else out[-1]), cache
        t, start = len(ids), cache.length
        end = start + t
        cache.reserve(end)
        top_position = end if positions is None else int(positions.max()) + 1
        if top_position > self.rope.shape[0]:  # past the trained positions, as transformers allows
            self.rope = self._rope_table(2 * top_position)
        h, kv, d, eps = self.n_heads, self.n_kv, self.head_dim, self.eps
        hidden = (self.hidden,)
        x = self.embed[torch.tensor(ids)]  # [t, hidden], float32 residual stream
        rope = self.rope[start:end] if positions is None else self.rope[positions]
        if mask is None and t > 1:
            # New queries see every cached key plus a causal block among themselves.
            mask = torch.ones(t, end, dtype=torch.bool).tril_(start)
        for i, (ln1, qkv_w, qkv_b, o_w, o_b, ln2, gu_w, down_w) in enumerate(self.layers):
            qkv = self._linear(F.rms_norm(x, hidden, ln1, eps), qkv_w).float()
            if qkv_b is not None:
                qkv += qkv_b
            qk = torch.view_as_complex(qkv[:, : (h + kv) * d].view(t, h + kv, d // 2, 2))
            qk = torch.view_as_real(qk * rope).view(t, h + kv, d)
            k_cache, v_cache = cache.kv[i, 0], cache.kv[i, 1]  # [1, kv, cap, d]
            k_cache[0, :, start:end] = qk[:, h:].transpose(0, 1)
            v_cache[0, :, start:end] = qkv[:, (h + kv) * d :].view(t, kv, d).transpose(0, 1)
            keys, values = k_cache[:, :, :end], v_cache[:, :, :end]
            if mask is None:
                # One query per head: the heads sharing a key/value head become that
                # group's queries, so no key repetition and no mask are needed.
                q = qk[:, :h].view(1, kv, self.group, d)
                att = F.scaled_dot_product_attention(q, keys, values)
            else:
                # The same grouping for many queries: each key/value head's group of
                # query heads times the t positions are its rows (no copy of the keys,
                # which repeating them per query head would make of the whole cache).
                g = self.group
                q = qk[:, :h].reshape(t, kv, g, d).permute(1, 2, 0, 3).reshape(1, kv, g * t, d)
                rows_mask = mask if g == 1 else mask.repeat(g, 1)
                att = F.scaled_dot_product_attention(q, keys, values, attn_mask=rows_mask)
                att = att.view(kv, g, t, d).permute(2, 0, 1, 3)
            o = self._linear(att.reshape(t, h * d), o_w)
            if o_b is not None:
                o = o + o_b
            x = x + o
            gu = self._linear(F.rms_norm(x, hidden, ln2, eps), gu_w)
            gate, up = gu[:, : self.inter], gu[:, self.inter :]
            x = x + self._linear(F.silu(gate) * up, down_w)
        cache.length = end
        if every:
            normed = F.rms_norm(x, hidden, self.norm, eps)
            head = self.head32 if self.refine else self.head.dense.float()
            return F.linear(normed, head), cache
        last = F.rms_norm(x if rows else x[-1:], hidden, self.norm, eps)
        logits = self._linear(last, self.head).float()
        if self.refine:
            top = torch.topk(logits, self.refine, sorted=False).indices  # [rows, refine]
            exact = torch.einsum("rkh,rh->rk", self.head32[top], last)
            logits.scatter_(1, top, exact)
        return (logits if rows else logits[0]), cache

    __call__ = forward


#: Matrices in bfloat16 (the tiny model's weights are bfloat16, so nothing is rounded),
#: activations, attention and the cache float32, and the 64 likeliest logits redone
#: in float32. Measured with bench/decode.py on the tiny model: about as fast as
#: all-bfloat16 and ~1.5x faster than all-float32, with the eager top token's
#: log-probability within ~0.003 of eager float32 (all-bfloat16 logits: ~0.016).
#: A fetched model records its own form (``pretrained.lean_weights``: int4 for the
#: Q4_1 pretrained model, 2.3x faster than bfloat16 there).
DEFAULT_WEIGHTS, DEFAULT_REFINE = "bf16", 64


def lean_for(loaded: object, n_logits: int | None = None) -> LeanLlama | None:
    """The lean path for a loaded model when it applies (CPU, no autocast, supported layout).

    Anything else (CUDA, quantized, other architectures) returns ``None`` and the
    caller keeps the transformers forward.
    """
    device = getattr(loaded, "device", None)
    if device is None or torch.device(device).type != "cpu" or loaded.autocast is not None:
        return None
    if unsupported_reason(loaded.model) is not None:
        return None
    weights = lean_weights(getattr(loaded, "folder", None)) or DEFAULT_WEIGHTS
    return LeanLlama(loaded.model, weights, n_logits, refine=DEFAULT_REFINE)
