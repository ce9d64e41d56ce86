"""Per-token surprisal of a text under the model, with the model's likeliest alternative.

Used by the "unlikely code" diagnostics: each token of ``text`` gets -log p(token)
given ``context`` and everything before it in ``text``, and the token the model
would have put there instead. Texts longer than the model's window are scored in
overlapping windows, each with half a window of context before what it scores.
Runs on the engine's worker thread (``Priority.SCORING``), through the decoder's
lean forward where it applies, like completions.
"""

from __future__ import annotations

import torch

from reason_lsp.engine.api import Cancelled, TokenScore


@torch.inference_mode()
def score(decoder, context: str, text: str, cancel=None) -> list[TokenScore]:
    """Token scores of ``text`` (character offsets into ``text``) after ``context``."""
    tok = decoder.tok
    clean = text.encode("utf-8", "replace").decode("utf-8")
    enc = tok(clean, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = enc["input_ids"]
    offsets: list[tuple[int, int]] = enc["offset_mapping"]
    if not ids:
        return []
    start_ids = [tok.eos_token_id] if tok.eos_token_id is not None else []
    ctx = start_ids + decoder.encode(context)
    window = max(32, decoder.max_positions)
    ctx = ctx[-max(1, window // 2) :]
    full = ctx + ids
    first = len(ctx)  # index in ``full`` of the first scored token
    logp_rows: list[torch.Tensor] = []
    targets: list[int] = []
    pos = first
    while pos < len(full):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        # Half a window of context before the tokens this window scores.
        left = max(0, pos - window // 2)
        end = min(len(full), left + window)
        logits = decoder.logits_all(full[left:end])
        logp = torch.log_softmax(logits, dim=-1)
        # Row r predicts full[left + r + 1]; keep the rows that predict pos..end-1.
        logp_rows.append(logp[pos - left - 1 : end - left - 1])
        targets.extend(full[pos:end])
        pos = end
    logp = torch.cat(logp_rows)
    target = torch.tensor(targets, device=logp.device)
    actual = logp.gather(1, target[:, None])[:, 0]
    # The alternative must be code: never a special token (end of text, FIM markers).
    special = [i for i in tok.all_special_ids if i < logp.shape[-1]]
    candidates = logp.clone()
    candidates[:, special] = float("-inf")
    top_lp, top_id = candidates.max(dim=-1)
    pieces = decoder.pieces()
    out = []
    for i, (start, end) in enumerate(offsets):
        out.append(
            TokenScore(
                start=start,
                end=end,
                surprisal=float(-actual[i]),
                top_text=pieces[int(top_id[i])],
                top_logprob=float(top_lp[i]),
            )
        )
    return out
