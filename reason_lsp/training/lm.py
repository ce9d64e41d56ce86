"""The evaluation's view of a model: prompts, token healing, greedy lines and identifier beams.

``LM`` wraps a causal LM and its ``tokenizers`` tokenizer for ``reason_lsp.training.quality``:
left-truncated prompts, healing of the last prompt token (see that module's docstring),
greedy generation up to a newline, and the beam over identifier tokens after ``name.``.
"""

from __future__ import annotations

import copy
import keyword
import math
from collections import defaultdict

import torch

from reason_lsp.engine import fim


def _is_ident_char(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def is_name(text: str) -> bool:
    """Can ``text`` follow ``obj.``: an identifier that is not a keyword."""
    return text.isidentifier() and not keyword.iskeyword(text)


def ident_lead(text: str) -> str:
    """The leading run of identifier characters of ``text``."""
    n = 0
    while n < len(text) and _is_ident_char(text[n]):
        n += 1
    return text[:n]


class LM:
    """A causal LM and its ``tokenizers.Tokenizer``, with healed greedy decoding."""

    def __init__(self, model, tok) -> None:
        self.model = model
        self.tok = tok
        self.eos = tok.token_to_id(fim.EOS)
        self.fim_ids = {
            "prefix": tok.token_to_id(fim.FIM_PREFIX),
            "suffix": tok.token_to_id(fim.FIM_SUFFIX),
            "middle": tok.token_to_id(fim.FIM_MIDDLE),
        }
        self.vocab_size = model.get_output_embeddings().weight.shape[0]
        n_tok = tok.get_vocab_size()
        special = {tok.token_to_id(t) for t in fim.SPECIAL_TOKENS}
        #: Text of each token id ("" for special tokens and ids past the tokenizer).
        self.pieces = [
            "" if i in special or i >= n_tok else tok.decode([i]) for i in range(self.vocab_size)
        ]
        leads = [ident_lead(p) for p in self.pieces]
        self.lead = leads
        #: Token ends an identifier: it holds a non-identifier character (or is special).
        self.ends = torch.tensor(
            [len(p) > len(a) or not p for p, a in zip(self.pieces, leads, strict=True)]
        )
        self.pure_ident = torch.tensor(
            [bool(p) and len(p) == len(a) for p, a in zip(self.pieces, leads, strict=True)]
        )
        self.starts_non_ident = self.ends & torch.tensor([not a for a in leads])
        self._masks: dict[str, torch.Tensor] = {}

    # -- prompts -----------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def left_ids(self, text: str, context: int) -> list[int]:
        """The last ``context`` tokens of ``text`` (with ``<|endoftext|>`` at a file start)."""
        window = text[-context * 8 :]
        if len(window) < len(text):
            nl = window.find("\n")
            window = window[nl + 1 :] if 0 <= nl < len(window) - 1 else window
            return self.encode(window)[-context:]
        ids = self.encode(window)
        return [self.eos, *ids] if len(ids) < context else ids[-context:]

    def heal(self, ids: list[int]) -> tuple[list[int], str]:
        """Back off the last token (not a special one): (shorter ids, its text)."""
        if len(ids) < 2 or not self.pieces[ids[-1]]:
            return ids, ""
        return ids[:-1], self.tok.decode(ids[-1:])

    def _compatible(self, rest: str) -> torch.Tensor:
        """Ids whose text starts with ``rest`` or is a non-empty prefix of it."""
        mask = self._masks.get(rest)
        if mask is None:
            ok = [bool(p) and (p.startswith(rest) or rest.startswith(p)) for p in self.pieces]
            mask = self._masks[rest] = torch.tensor(ok)
        return mask

    # -- model calls ---------------------------------------------------------------
    def prefill(self, ids: list[int]):
        out = self.model(input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=1)
        return out.logits[0, -1].float(), out.cache

    def step(self, token: int, cache) -> torch.Tensor:
        out = self.model(input_ids=torch.tensor([[token]]), cache=cache, use_cache=True)
        return out.logits[0, -1].float()

    def complete(
        self, ids: list[int], healed: str = "", max_new: int = 48, stop_at_newline: bool = True
    ) -> str:
        """Greedy continuation of ``ids`` whose first tokens spell ``healed`` (then dropped).

        Stops at ``<|endoftext|>`` (or any special token), at a newline after the
        healed text (which is cut off), or after ``max_new`` tokens.
        """
        return self.generate(ids, healed, max_new, stop_at_newline)[0]

    def generate(
        self, ids: list[int], healed: str = "", max_new: int = 48, stop_at_newline: bool = True
    ) -> tuple[str, str]:
        """:meth:`complete`, and why it stopped: "eos", "newline" or "length"."""
        logits, cache = self.prefill(ids)
        out: list[int] = []
        text, reason = "", "length"
        for _ in range(max_new):
            if len(text) < len(healed):
                mask = self._compatible(healed[len(text) :])
                logits = logits.masked_fill(~mask, -math.inf)
            token = int(logits.argmax())
            if not self.pieces[token]:
                reason = "eos"
                break
            out.append(token)
            text = self.tok.decode(out)
            if stop_at_newline and "\n" in text[len(healed) :]:
                reason = "newline"
                break
            logits = self.step(token, cache)
        completion = text[len(healed) :]
        return (completion.split("\n", 1)[0] if stop_at_newline else completion), reason

    def rank_identifiers(
        self, ids: list[int], healed: str, beam: int = 8, depth: int = 4, top: int = 5
    ) -> list[tuple[str, float]]:
        """Identifiers that follow ``ids`` (after ``healed``), most probable first."""
        logits0, cache0 = self.prefill(ids)
        done: dict[str, float] = defaultdict(float)
        hyps: list[tuple[list[int], float, str]] = [([], 0.0, "")]  # tokens, log p, text
        for d in range(depth + 1):
            if d == 0:
                rows = logits0[None]
            else:
                cache = copy.deepcopy(cache0)
                cache.batch_repeat_interleave(len(hyps))
                batch = torch.tensor([h[0] for h in hyps])
                out = self.model(input_ids=batch, cache=cache, use_cache=True, logits_to_keep=1)
                rows = out.logits[:, -1].float()
            logp_rows = torch.log_softmax(rows, dim=-1)
            grown: list[tuple[list[int], float, str]] = []
            for (toks, lp, text), logp in zip(hyps, logp_rows, strict=True):
                if len(text) < len(healed):
                    grown += self._grow_healing(toks, lp, text, healed, logp, done, beam)
                else:
                    grown += self._grow_ident(toks, lp, text[len(healed) :], text, logp, done, beam)
            if d == depth:
                break
            grown.sort(key=lambda h: -h[1])
            ranked = sorted((p for k, p in done.items() if is_name(k)), reverse=True)
            floor = ranked[top - 1] if len(ranked) >= top else 0.0
            hyps = [h for h in grown[:beam] if math.exp(h[1]) > floor]
            if not hyps:
                break
        valid = [(name, p) for name, p in done.items() if is_name(name)]
        return sorted(valid, key=lambda kv: -kv[1])[:top]

    def _grow_healing(self, toks, lp, text, healed, logp, done, beam):
        """Extend a hypothesis that has not yet spelled the healed text."""
        masked = logp.masked_fill(~self._compatible(healed[len(text) :]), -math.inf)
        values, indices = masked.topk(min(beam * 2, int(torch.isfinite(masked).sum())))
        grown = []
        for v, i in zip(values.tolist(), indices.tolist(), strict=True):
            new_text = text + self.pieces[i]
            after = new_text[len(healed) :] if len(new_text) >= len(healed) else ""
            lead = ident_lead(after)
            if len(after) > len(lead):
                if lead:
                    done[lead] += math.exp(lp + v)
            else:
                grown.append(([*toks, i], lp + v, new_text))
        return grown

    def _grow_ident(self, toks, lp, ident, text, logp, done, beam):
        """Extend a hypothesis inside the identifier ``ident``: finish or continue it."""
        if ident:
            end = torch.logsumexp(logp[self.starts_non_ident], dim=0).item()
            done[ident] += math.exp(lp + end)
        mixed = logp.masked_fill(~(self.ends & ~self.starts_non_ident), -math.inf)
        for v, i in zip(*(t.tolist() for t in mixed.topk(beam)), strict=True):
            if math.isfinite(v):
                done[ident + self.lead[i]] += math.exp(lp + v)
        cont = logp.masked_fill(~self.pure_ident, -math.inf)
        values, indices = cont.topk(beam)
        return [
            ([*toks, i], lp + v, text + self.pieces[i])
            for v, i in zip(values.tolist(), indices.tolist(), strict=True)
        ]
