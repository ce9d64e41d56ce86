"""Decoding with a reused key/value cache, token healing and cooperative cancellation.

Prompts: with fill-in-the-middle, SPM order when the model was trained on it (the
suffix comes first, so the cache survives while the prefix grows), else PSM;
without FIM tokens, the prefix alone.

Cache reuse: each slot keeps the token ids its cache holds; a new prompt crops the
cache to the longest common prefix and only the rest is prefilled.

Token healing: the prompt's last token is backed off and the first generated token
must start with its text, so a prompt that ends mid-word or in indentation is
continued the way the tokenizer would have split the finished text.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from reason_lsp.engine import branches, fim
from reason_lsp.engine.api import Cancelled, GenerateRequest, Generation, prompt_budget
from reason_lsp.engine.lean_llama import lean_for
from reason_lsp.engine.loader import LoadedModel

MAX_SLOTS = 4


@dataclass
class Prompt:
    ids: list[int]
    heal: str  # text the first generated token must start with ("" = no healing)
    fim: bool = False  # the suffix is in the prompt


@dataclass
class Slot:
    ids: list[int] = field(default_factory=list)
    cache: object | None = None


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Decoder:
    """Owns the model's decoding state; called from the engine's single worker thread."""

    def __init__(self, loaded: LoadedModel, context_tokens: int = 1024) -> None:
        self.m = loaded
        self.model = loaded.model
        self.tok = loaded.tokenizer
        self.fim = loaded.fim
        self.context_tokens = context_tokens
        self.max_positions = getattr(self.model.config, "max_position_embeddings", 2048) or 2048
        self.slots: OrderedDict[str, Slot] = OrderedDict()
        self.eos_ids = self._stop_ids()
        self.fim_ids = self._fim_ids()
        self._pieces: list[str] | None = None
        self.n_tokens = len(self.tok)
        # Llama/Qwen2 layouts on the CPU decode through the lean path (about 2x faster
        # than eager); anything else keeps the transformers forward.
        self.lean = lean_for(loaded, self.n_tokens)
        self._heal_masks: dict[str, torch.Tensor] = {}
        self._index: tuple[dict, dict] | None = None

    def release_eager(self) -> None:
        """Free the transformers model's weights once the lean path holds its own copy
        (the server's engine never runs the eager forward then; tensors the lean path
        shares, such as a tied float32 embedding, stay alive through it)."""
        if self.lean is None:
            return
        for param in self.model.parameters():
            param.data = torch.empty(0, dtype=param.dtype)

    # ---- tokenizer helpers -------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        # Lone surrogates (from a client's broken UTF-16) cannot be tokenized: one "?" each.
        clean = text.encode("utf-8", "replace").decode("utf-8")
        return self.tok.encode(clean, add_special_tokens=False)

    def _stop_ids(self) -> set[int]:
        names = [self.tok.eos_token] + ([self.fim.eos, *self.fim.extra_stops] if self.fim else [])
        if self.fim and self.fim.file_separator:
            names.append(self.fim.file_separator)
        ids = {self.tok.convert_tokens_to_ids(n) for n in names if n}
        if self.fim:  # a FIM marker in the middle means the model lost the thread
            ids |= {
                self.tok.convert_tokens_to_ids(t)
                for t in (self.fim.prefix, self.fim.suffix, self.fim.middle)
            }
        return {i for i in ids if isinstance(i, int) and i >= 0}

    def _fim_ids(self) -> dict[str, int]:
        if not self.fim:
            return {}
        return {
            "prefix": self.tok.convert_tokens_to_ids(self.fim.prefix),
            "suffix": self.tok.convert_tokens_to_ids(self.fim.suffix),
            "middle": self.tok.convert_tokens_to_ids(self.fim.middle),
        }

    def pieces(self) -> list[str]:
        """Each token id's text, for token healing (built once, on first use)."""
        if self._pieces is None:
            self._pieces = [self.tok.decode([i]) for i in range(self.n_tokens)]
        return self._pieces

    def heal_mask(self, text: str, vocab_size: int) -> torch.Tensor:
        """Additive mask allowing the tokens that agree with ``text`` so far.

        A token may extend the text (``text`` is its prefix) or cover only the start
        of it (then the rest constrains the next step): the natural split of the
        healed text can be finer than the token that was backed off.
        """
        mask = self._heal_masks.get(text)
        if mask is None:
            by_first, by_text = self._piece_index()
            allowed = [i for i, p in by_first.get(text[0], ()) if p.startswith(text)]
            for end in range(1, len(text)):
                allowed.extend(by_text.get(text[:end], ()))
            mask = torch.full((vocab_size,), -math.inf)
            mask[[i for i in allowed if i < vocab_size]] = 0.0
            if len(self._heal_masks) > 256:
                self._heal_masks.clear()
            self._heal_masks[text] = mask
        return mask

    def _piece_index(self) -> tuple[dict[str, list[tuple[int, str]]], dict[str, list[int]]]:
        """Token texts bucketed by first character, and ids by text (built once)."""
        if self._index is None:
            by_first: dict[str, list[tuple[int, str]]] = {}
            by_text: dict[str, list[int]] = {}
            for i, piece in enumerate(self.pieces()):
                if piece:
                    by_first.setdefault(piece[0], []).append((i, piece))
                    by_text.setdefault(piece, []).append(i)
            self._index = (by_first, by_text)
        return self._index

    # ---- prompts -----------------------------------------------------------------------

    def build_prompt(self, req: GenerateRequest, max_new: int) -> Prompt:
        budget = max(16, prompt_budget(self.context_tokens, max_new, self.max_positions))
        # The repository context changes rarely while the user types, so it comes first and
        # its tokens stay in the KV cache; left-truncation drops it before the document.
        left = fim.repository_text(self.fim, req.context, req.path) + req.header + req.prefix
        before = self.encode(left)
        before, heal = fim.back_off(before, left, self.tok.decode)
        use_fim = bool(self.fim) and req.suffix.strip() != ""
        after = self.encode(req.suffix) if use_fim else []
        after_budget = budget // 4 if len(before) + len(after) > budget - 3 else len(after)
        after = after[: max(0, min(len(after), after_budget))]
        keep = max(1, budget - 3 - len(after))
        whole = len(before) < keep
        before = before[-keep:]
        if whole and not use_fim and self.tok.eos_token_id is not None:
            # Training puts <|endoftext|> before every example, so a prompt that holds the
            # whole text starts the way a file starts there.
            before = [self.tok.eos_token_id, *before]
        if not use_fim:
            return Prompt(before, heal)
        if self.fim.supports_spm:
            return Prompt(fim.spm_ids(self.fim_ids, after, before), heal, True)
        # PSM: the middle starts after <fim_middle>, so healing does not apply.
        if heal:
            before = before + self.encode(heal)
        return Prompt(fim.psm_ids(self.fim_ids, before, after), "", True)

    def warm_up(self) -> None:
        """Build the healing index and run the kernels once, before the first keystroke."""
        self._piece_index()
        self.generate(GenerateRequest(prefix="def main():\n", max_new_tokens=2, key="warm-up"))
        self.slots.pop("warm-up", None)

    # ---- the model ---------------------------------------------------------------------

    def logits_all(self, ids: list[int]) -> torch.Tensor:
        """Float32 logits at every position of ``ids`` (no cache), for scoring a text."""
        if self.lean is not None:
            return self.lean.forward(ids, None, every=True)[0][:, : self.n_tokens]
        return self._eager(ids).logits[0, :, : self.n_tokens].float()

    def _forward(self, ids: list[int], cache):
        if self.lean is not None:
            return self.lean.forward(ids, cache)
        out = self._eager(ids, cache, use_cache=True)
        # Models often pad their vocabulary past the tokenizer's; those rows mean nothing.
        return out.logits[0, -1, : self.n_tokens].float(), out.cache

    def eager_rows(self, ids: list[int], cache) -> torch.Tensor:
        """Float32 logits at every position of ``ids`` fed on top of ``cache`` (which grows),
        through the transformers forward (the lean path scores in :mod:`.branches`)."""
        return self._eager(ids, cache, use_cache=True).logits[0, :, : self.n_tokens].float()

    def _eager(self, ids: list[int], cache=None, use_cache: bool = False):
        """The transformers forward of ``ids`` (under the model's autocast, if any)."""
        x = torch.tensor([ids], device=self.m.device)
        kwargs = {"cache": cache, "use_cache": True} if use_cache else {}
        if self.m.autocast is not None:
            with torch.autocast(self.m.device.type, dtype=self.m.autocast):
                return self.model(input_ids=x, **kwargs)
        return self.model(input_ids=x, **kwargs)

    def _slot_for(self, key: str, ids: list[int]) -> Slot:
        slot = self.slots.get(key)
        if slot is None:
            best = max(
                self.slots.items(), key=lambda kv: common_prefix(kv[1].ids, ids), default=None
            )
            if best is not None and common_prefix(best[1].ids, ids) > 32:
                slot = self.slots.pop(best[0])
            else:
                slot = Slot()
                if len(self.slots) >= MAX_SLOTS:
                    self.slots.popitem(last=False)
            self.slots[key] = slot
        self.slots.move_to_end(key)
        return slot

    def prefill(self, key: str, ids: list[int]) -> tuple[torch.Tensor, Slot, int]:
        """Logits after ``ids``, reusing the slot's cache; returns (logits, slot, cached count)."""
        slot = self._slot_for(key, ids)
        keep = min(common_prefix(slot.ids, ids), len(ids) - 1)
        if slot.cache is not None and keep > 0:
            drop = slot.cache.get_seq_length() - keep
            if drop > 0:
                slot.cache.crop(-drop)
        else:
            keep, slot.cache = 0, None
        logits, slot.cache = self._forward(ids[keep:], slot.cache)
        slot.ids = list(ids)
        return logits, slot, keep

    @torch.inference_mode()
    def generate(self, req: GenerateRequest) -> Generation:
        max_new = max(1, req.max_new_tokens)
        prompt = self.build_prompt(req, max_new)
        gen = torch.Generator(device="cpu")
        if req.seed is not None:
            gen.manual_seed(req.seed)
        t0 = time.perf_counter()
        logits0, slot, cached = self.prefill(req.key, prompt.ids)
        prefill_ms = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        try:
            found = branches.decode(self, req, prompt, logits0, slot, max_new, gen)
            decode_ms = (time.perf_counter() - t1) * 1000
            if req.rank_lines and not prompt.fim:
                samples = branches.rank(self, req, prompt, slot, found)
            else:
                samples = [b.sample() for b in found]
        finally:
            # Branches and ranked options went into the cache after what ``slot.ids`` says.
            extra = slot.cache.get_seq_length() - len(slot.ids) if slot.cache is not None else 0
            if extra > 0:
                slot.cache.crop(-extra)
        decoded = sum(len(b.tokens) for b in found)
        return Generation(samples, len(prompt.ids), cached, prefill_ms, decode_ms, decoded)

    def _pick(self, logp: torch.Tensor, req: GenerateRequest, gen) -> int:
        if req.temperature <= 0:
            return int(torch.argmax(logp))
        probs = torch.softmax(logp / req.temperature, dim=-1)
        if req.top_p < 1.0:
            sorted_p, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_p, 0) - sorted_p < req.top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
        return int(torch.multinomial(probs.cpu(), 1, generator=gen))

    @torch.inference_mode()
    def identifiers(self, req: GenerateRequest, word: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` likeliest identifiers at the cursor, each ``word`` + what the model adds.

        The top first tokens that start (or finish) an identifier are each followed
        greedily for a few tokens until the identifier ends; the cache is cropped
        back to the prompt after each branch.
        """
        prompt = self.build_prompt(req, 8)
        logits, slot, _ = self.prefill(req.key, prompt.ids)
        if prompt.heal:
            logits = logits + self.heal_mask(prompt.heal, logits.shape[-1]).to(logits.device)
        logp = torch.log_softmax(logits, dim=-1)
        base = len(slot.ids)
        found: dict[str, float] = {}
        for token in torch.topk(logp, min(8 * k, logp.shape[-1])).indices.tolist():
            if req.cancelled:
                raise Cancelled()
            name, score = self._follow_identifier(
                token, float(logp[token]), slot, base, prompt.heal
            )
            name = word + name
            if name and name.isidentifier() and name != word and name not in found:
                found[name] = score
            if len(found) >= k:
                break
        if slot.cache is not None and slot.cache.get_seq_length() > base:
            slot.cache.crop(-(slot.cache.get_seq_length() - base))
        slot.ids = slot.ids[:base]
        return sorted(found.items(), key=lambda kv: -kv[1])

    def _follow_identifier(self, token: int, score: float, slot: Slot, base: int, heal: str):
        """Greedily extend ``token`` until the identifier it starts ends (at most 6 tokens)."""
        ids = [token]
        piece = self.pieces()[token]
        pending = heal[len(piece) :] if heal.startswith(piece) else ""
        for _ in range(6):
            text = self.tok.decode(ids)[len(heal) :]
            match = re.match(r"[A-Za-z0-9_]*", text)
            if not pending and (match.end() < len(text) or (text and not match.end())):
                return match.group(0), score
            length = slot.cache.get_seq_length()
            if length > base:
                slot.cache.crop(-(length - base))
            logits, slot.cache = self._forward(ids, slot.cache)
            if pending:
                logits = logits + self.heal_mask(pending, logits.shape[-1]).to(logits.device)
            logp = torch.log_softmax(logits, dim=-1)
            nxt = int(torch.argmax(logp))
            if nxt in self.eos_ids:
                break
            piece = self.pieces()[nxt]
            pending = pending[len(piece) :] if pending.startswith(piece) else ""
            ids, score = [*ids, nxt], score + float(logp[nxt])
        return re.match(r"[A-Za-z0-9_]*", self.tok.decode(ids)[len(heal) :]).group(0), score
