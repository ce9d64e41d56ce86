"""Per-token surprisal of texts under the model, with the model's likeliest alternative.

Used by the "unlikely code" diagnostics: each token of a text gets -log p(token)
given ``context`` and everything before it in the text, and the token the model
would have put there instead. Texts longer than the model's window are scored in
overlapping windows, each with half a window of context before what it scores.

:func:`score_many` scores many texts after one shared context (the regions of a
file after its imports). On the lean CPU path it runs the context once, keeps its
keys and values, and feeds the texts' windows on top of it in padded batches, so
the matrix products see many rows at once; the head then runs over just the rows
that predict a scored token. Elsewhere (CUDA, other architectures) each window goes
through ``decoder.logits_all``. Both give the same numbers as scoring one text at
a time; :func:`score` is the one-text case the server's worker runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from reason_lsp.engine.api import Cancelled, TokenScore

#: Tokens (batch rows x padded length) per batched forward, and rows per head product:
#: large enough for the matrix kernels to pay off, small enough for the float32
#: logits of a head chunk (rows x vocabulary, about 12 MB) to stay in the cache.
BATCH_TOKENS = 4096
HEAD_ROWS = 256


@dataclass
class _Window:
    """One forward's worth of a text: ``seq`` fed on top of the shared context (``on_prefix``)
    or alone; ``rows`` of the output (with the context's last row as -1) predict ``targets``."""

    text: int
    on_prefix: bool
    seq: list[int]
    rows: list[int]
    targets: list[int]


def score(decoder, context: str, text: str, cancel=None) -> list[TokenScore]:
    """Token scores of ``text`` (character offsets into ``text``) after ``context``."""
    return score_many(decoder, context, [text], cancel)[0]


@torch.inference_mode()
def score_many(decoder, context: str, texts: list[str], cancel=None) -> list[list[TokenScore]]:
    """Token scores of each of ``texts`` after the same ``context``, as :func:`score` gives."""
    tok = decoder.tok
    clean = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
    encoded = [tok(t, add_special_tokens=False, return_offsets_mapping=True) for t in clean]
    start = tok.eos_token_id if tok.eos_token_id is not None else tok.bos_token_id
    window = max(32, decoder.max_positions)
    # Something must predict a text's first token: the start-of-file token, else a newline.
    start_ids = [start] if start is not None else decoder.encode("\n")
    ctx = (start_ids + decoder.encode(context))[-max(1, window // 2) :]
    windows = _windows(ctx, [e["input_ids"] for e in encoded], window)
    if decoder.lean is not None and ctx:
        stats = _lean_stats(decoder, ctx, windows, cancel)
    else:
        stats = _eager_stats(decoder, ctx, windows, cancel)
    per_text: list[list[tuple[float, int, float]]] = [[] for _ in texts]
    for w, rows in zip(windows, stats, strict=True):
        per_text[w.text].extend(rows)
    pieces = decoder.pieces()
    return [
        [
            TokenScore(start, end, surprisal, pieces[top], top_lp)
            for (start, end), (surprisal, top, top_lp) in zip(
                e["offset_mapping"], found, strict=True
            )
        ]
        for e, found in zip(encoded, per_text, strict=True)
    ]


def _windows(ctx: list[int], texts: list[list[int]], window: int) -> list[_Window]:
    """Each text's windows, in order: the first on top of the context, then windows of
    ``window`` tokens that each score their second half."""
    out = []
    for j, ids in enumerate(texts):
        full = ctx + ids
        pos = len(ctx)
        while pos < len(full):
            left = max(0, pos - window // 2)
            end = min(len(full), left + window)
            targets = full[pos:end]
            if left < len(ctx):  # the first window: the context is the shared prefix
                seq = full[len(ctx) : end - 1]
                rows = list(range(pos - len(ctx) - 1, end - len(ctx) - 1))
                out.append(_Window(j, True, seq, rows, targets))
            else:
                rows = list(range(pos - left - 1, end - left - 1))
                out.append(_Window(j, False, full[left : end - 1], rows, targets))
            pos = end
    return out


def _special_ids(decoder, vocab: int) -> list[int]:
    # The alternative must be code: never a special token (end of text, FIM markers).
    return [i for i in decoder.tok.all_special_ids if i < vocab]


def _row_stats(
    logits: torch.Tensor, targets: torch.Tensor, special: list[int]
) -> list[tuple[float, int, float]]:
    """(surprisal, likeliest non-special id, its log-probability) per row of ``logits``."""
    lse = torch.logsumexp(logits, dim=-1)
    actual = logits.gather(1, targets[:, None])[:, 0]
    top_logit, top_id = logits.max(dim=-1)
    if special:  # the rare row whose favourite is a special token: its best other choice
        again = torch.isin(top_id, torch.tensor(special, device=top_id.device))
        if bool(again.any()):
            rows = logits[again]
            rows[:, special] = float("-inf")
            top_logit[again], top_id[again] = rows.max(dim=-1)
    return list(
        zip((lse - actual).tolist(), top_id.tolist(), (top_logit - lse).tolist(), strict=True)
    )


def _eager_stats(decoder, ctx: list[int], windows: list[_Window], cancel) -> list[list]:
    """One ``logits_all`` per window (the transformers forward, or the lean one unbatched)."""
    out = []
    for w in windows:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        seq = ctx + w.seq if w.on_prefix else w.seq
        shift = len(ctx) if w.on_prefix else 0
        logits = decoder.logits_all(seq)
        rows = torch.tensor([r + shift for r in w.rows], device=logits.device)
        targets = torch.tensor(w.targets, device=logits.device)
        special = _special_ids(decoder, logits.shape[-1])
        out.append(_row_stats(logits[rows].float(), targets, special))
    return out


def _lean_stats(decoder, ctx: list[int], windows: list[_Window], cancel) -> list[list]:
    lean = decoder.lean
    prefix_hidden, prefix_kv = _forward_batch(lean, [ctx], None, keep_kv=True)
    context_row = prefix_hidden[0, len(ctx) - 1]
    hidden: list[torch.Tensor | None] = [None] * len(windows)
    for on_prefix in (True, False):
        chosen = sorted(
            (i for i, w in enumerate(windows) if w.on_prefix == on_prefix),
            key=lambda i: len(windows[i].seq),
        )
        for batch in _batches(chosen, windows):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            seqs = [windows[i].seq for i in batch]
            out, _ = _forward_batch(lean, seqs, prefix_kv if on_prefix else None)
            for b, i in enumerate(batch):
                rows = windows[i].rows
                picked = out[b, torch.tensor(rows).clamp(min=0)]
                if rows[0] < 0:  # the text's first token is predicted by the context
                    picked[0] = context_row
                hidden[i] = picked
    rows = torch.cat([h for h in hidden if h is not None]) if windows else torch.zeros(0)
    targets = torch.tensor([t for w in windows for t in w.targets], dtype=torch.long)
    head = lean.head32 if lean.head32 is not None else lean.head.dense.float()
    special = _special_ids(decoder, head.shape[0])
    flat: list[tuple[float, int, float]] = []
    for a in range(0, len(targets), HEAD_ROWS):
        logits = F.linear(rows[a : a + HEAD_ROWS], head)[:, : decoder.n_tokens]
        flat.extend(_row_stats(logits, targets[a : a + HEAD_ROWS], special))
    out_stats, at = [], 0
    for w in windows:
        out_stats.append(flat[at : at + len(w.targets)])
        at += len(w.targets)
    return out_stats


def _batches(order: list[int], windows: list[_Window]) -> list[list[int]]:
    """Consecutive runs of ``order`` (sorted by length) within :data:`BATCH_TOKENS` padded."""
    out: list[list[int]] = []
    for i in order:
        n = max(1, len(windows[i].seq))
        if out and n * (len(out[-1]) + 1) <= BATCH_TOKENS:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _forward_batch(lean, seqs: list[list[int]], prefix_kv, keep_kv: bool = False):
    """The lean path's layers over right-padded ``seqs`` on top of a shared prefix.

    Returns the final-normed hidden states ``[batch, length, hidden]`` and, with
    ``keep_kv``, each layer's keys and values ``[1, kv_heads, length, head_dim]`` (for
    one sequence: the prefix of later calls). The arithmetic is the lean forward's
    (``LeanLlama.forward``), with a batch dimension and a mask that lets every row see
    the whole prefix and its own earlier tokens; padding sits after a row's tokens,
    so no real token attends to it.
    """
    b, t = len(seqs), max(1, max(len(s) for s in seqs))
    p = 0 if prefix_kv is None else prefix_kv[0][0].shape[2]
    h, kv, d, eps = lean.n_heads, lean.n_kv, lean.head_dim, lean.eps
    hidden = (lean.hidden,)
    ids = torch.zeros(b, t, dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = torch.tensor(s, dtype=torch.long)
    if p + t > lean.rope.shape[0]:
        lean.rope = lean._rope_table(2 * (p + t))
    rope = lean.rope[p : p + t]  # [t, 1, d/2]
    mask = torch.ones(t, p + t, dtype=torch.bool).tril_(p)
    x = lean.embed[ids]  # [b, t, hidden]
    kept = []
    for i, (ln1, qkv_w, qkv_b, o_w, o_b, ln2, gu_w, down_w) in enumerate(lean.layers):
        qkv = lean._linear(F.rms_norm(x, hidden, ln1, eps), qkv_w).float()
        if qkv_b is not None:
            qkv += qkv_b
        qk = torch.view_as_complex(qkv[..., : (h + kv) * d].reshape(b, t, h + kv, d // 2, 2))
        qk = torch.view_as_real(qk * rope).reshape(b, t, h + kv, d)
        q = qk[:, :, :h].transpose(1, 2)  # [b, h, t, d]
        keys = qk[:, :, h:].transpose(1, 2)  # [b, kv, t, d]
        values = qkv[..., (h + kv) * d :].reshape(b, t, kv, d).transpose(1, 2)
        if keep_kv:
            kept.append((keys, values))
        if prefix_kv is not None:
            pk, pv = prefix_kv[i]
            keys = torch.cat([pk.expand(b, -1, -1, -1), keys], dim=2)
            values = torch.cat([pv.expand(b, -1, -1, -1), values], dim=2)
        if lean.group > 1:
            keys = keys.repeat_interleave(lean.group, dim=1)
            values = values.repeat_interleave(lean.group, dim=1)
        att = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        o = lean._linear(att.transpose(1, 2).reshape(b, t, h * d), o_w)
        if o_b is not None:
            o = o + o_b
        x = x + o
        gu = lean._linear(F.rms_norm(x, hidden, ln2, eps), gu_w)
        x = x + lean._linear(F.silu(gu[..., : lean.inter]) * gu[..., lean.inter :], down_w)
    return F.rms_norm(x, hidden, lean.norm, eps), kept
