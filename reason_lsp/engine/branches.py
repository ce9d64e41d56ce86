"""Several continuations of one prompt decoded together, and ranked by the code after the cursor.

Owns two things the :class:`~reason_lsp.engine.decoder.Decoder` does for requests with
``samples > 1``:

- **Tree decoding** (lean path only): the branches share the prompt's key/value cache;
  each step feeds one token per unfinished branch in one forward call, each token
  attending to the prompt and its own branch's earlier tokens (a mask over the
  cache), at its own position. A decode step is bound by reading the weights, so k
  branches cost little more than one.
- **Suffix ranking** (``GenerateRequest.rank_lines``), for prompts without the suffix
  (a model with no FIM tokens never saw what follows the cursor): every candidate,
  and in a multi-line candidate each of its line ends, is scored by the model's
  log-probability of itself followed by the suffix's first lines. That is the joint
  ``log p(candidate) + log p(suffix | candidate)``, so the ranking prefers what
  the code after the cursor agrees with: the right line, and the right number of
  lines. All options are scored in one more forward call (tree again), re-feeding
  the token each option grows from so its first row predicts the option's next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from reason_lsp.engine.api import Cancelled, GenerateRequest, Sample

# The decoder and its prompt and slot types: ``engine.decoder`` imports this module.
Decoder = Prompt = Slot = Any

#: The suffix text scored after each candidate is at most this many tokens.
SUFFIX_TOKENS = 48


@dataclass
class Branch:
    """One continuation: its tokens, where they sit in the cache, and their text."""

    greedy: bool
    pending: str  # healed text not yet produced
    tokens: list[int] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # cache positions of the tokens
    logps: list[float] = field(default_factory=list)
    scored: list[float] = field(default_factory=list)  # tokens past the healed text
    text: str = ""
    finish: str = "length"
    done: bool = False

    def sample(self) -> Sample:
        return Sample(self.text, sum(self.logps), len(self.tokens), self.finish, tuple(self.scored))


def decode(
    dec: Decoder, req: GenerateRequest, prompt: Prompt, logits0, slot: Slot, max_new: int, gen
) -> list[Branch]:
    """``req.samples`` branches from the prompt in ``slot``; the first is greedy when the
    request ranks by the suffix (so ranking never does worse for want of the likeliest
    line) or asks for it (``greedy_first``). One branch, or a model off the lean path,
    decodes them one after another.

    The branches' tokens stay in the cache after the prompt (``Branch.slots``) for
    :func:`rank`; the caller crops it back (``slot.ids`` still says only the prompt,
    except after a single branch, whose tokens it keeps, as a typed-ahead prompt
    may reuse them)."""
    n = max(1, req.samples)
    first = req.greedy_first or bool(req.rank_lines)
    branches = [Branch(first and i == 0, prompt.heal) for i in range(n)]
    if n == 1 or dec.lean is None:
        for b in branches:
            _sequential(dec, req, prompt, logits0, slot, max_new, gen, b, keep=n == 1)
        return branches
    base = slot.cache.get_seq_length()
    logits = dict.fromkeys(range(n), logits0)
    for _ in range(max_new + 4):  # healing may spend a few extra steps
        if req.cancelled:
            raise Cancelled()
        feed = []  # (branch, token) to run through the model
        for i, b in enumerate(branches):
            token = None if b.done else _step(dec, req, prompt, b, logits[i], max_new, gen)
            if token is not None:
                feed.append((i, token))
        if not feed:
            break
        start = slot.cache.get_seq_length()
        for j, (i, _) in enumerate(feed):
            branches[i].slots.append(start + j)
        positions = [base + len(branches[i].tokens) - 1 for i, _ in feed]
        visible = [(base, branches[i].slots[:-1]) for i, _ in feed]
        out = _tree_forward(dec, slot, [t for _, t in feed], positions, visible)
        logits = {i: out[j] for j, (i, _) in enumerate(feed)}
    return branches


def _sequential(dec, req, prompt, logits, slot, max_new, gen, b: Branch, keep: bool) -> None:
    """One branch through the plain causal forward, from the prompt's cache."""
    base = len(prompt.ids)
    if slot.cache is not None and slot.cache.get_seq_length() > base:
        slot.cache.crop(-(slot.cache.get_seq_length() - base))
    slot.ids = slot.ids[:base]
    for _ in range(max_new + 4):
        if req.cancelled:
            raise Cancelled()
        token = _step(dec, req, prompt, b, logits, max_new, gen)
        if token is None:
            return
        b.slots.append(slot.cache.get_seq_length())
        logits, slot.cache = dec._forward([token], slot.cache)
        if keep:
            slot.ids.append(token)


def _step(dec, req, prompt, b: Branch, row, max_new: int, gen) -> int | None:
    """Choose branch ``b``'s next token from its logits ``row``; the token to feed the
    model next, or None when the branch ended (eos, its stop rule, the budget)."""
    if b.done:
        return None
    if b.pending:
        row = row + dec.heal_mask(b.pending, row.shape[-1]).to(row.device)
    logp = torch.log_softmax(row, dim=-1)
    token = _pick(dec, logp, req, gen, b.greedy)
    if token in dec.eos_ids and not b.pending:
        b.finish, b.done = "eos", True
        return None
    b.logps.append(float(logp[token]))
    piece = dec.pieces()[token]
    if len(piece) > len(b.pending):  # the token shows text beyond the healed part
        b.scored.append(b.logps[-1])
    b.tokens.append(token)
    b.pending = b.pending[len(piece) :] if b.pending.startswith(piece) else ""
    b.text = dec.tok.decode(b.tokens)[len(prompt.heal) :]
    cut = req.stop(b.text) if req.stop is not None else None
    if cut is not None:
        b.text, b.finish, b.done = b.text[:cut], "stop", True
    elif len(b.tokens) >= max_new and not b.pending:
        b.done = True
    return None if b.done else token


def _pick(dec: Decoder, logp: torch.Tensor, req: GenerateRequest, gen, greedy: bool) -> int:
    if greedy or req.temperature <= 0:
        return int(torch.argmax(logp))
    return dec._pick(logp, req, gen)


#: What one row of a tree forward sees: the first ``n`` cache positions (the prompt,
#: or all of it but its last token), and these further positions (its branch).
Visible = tuple[int, list[int]]


def _tree_forward(
    dec: Decoder, slot: Slot, ids: list[int], positions: list[int], visible: list[Visible]
) -> torch.Tensor:
    """One forward call of ``ids`` appended to the cache, row ``j`` at ``positions[j]``
    seeing the cache positions ``visible[j]`` (its own new slot is added here)."""
    start = slot.cache.get_seq_length()
    end = start + len(ids)
    mask = torch.zeros(len(ids), end, dtype=torch.bool)
    for j, (prefix, more) in enumerate(visible):
        mask[j, :prefix] = True
        mask[j, more] = True
        mask[j, start + j] = True
    out, slot.cache = dec.lean.forward(
        ids, slot.cache, rows=True, positions=torch.tensor(positions), mask=mask
    )
    return out


# ---- ranking by the suffix ---------------------------------------------------------------


def suffix_head(suffix: str, lines: int) -> str:
    """The suffix up to the end of its ``lines``-th line with code ("" when it has none)."""
    out, seen = [], 0
    parts = suffix.split("\n")
    for k, line in enumerate(parts):
        out.append(line)
        if k > 0 and line.strip():  # the cursor's own line ends the candidate's line
            seen += 1
            if seen >= lines:
                break
    text = "\n".join(out)
    return text if seen else ""


@dataclass(frozen=True)
class Option:
    """A candidate to score: branch ``branch`` cut to ``text``, its first ``kept`` tokens
    as decoded and the rest of it, with the suffix's head, re-tokenized in ``ids``."""

    branch: int
    text: str
    kept: int
    ids: tuple[int, ...]
    target: int  # how many of ``ids`` are predicted (all but the re-fed anchor)


def options(dec: Decoder, prompt: Prompt, branches: list[Branch], head: str) -> list[Option]:
    """Each branch's text, and each of its line ends with code before it, as an option."""
    heal = prompt.heal
    out: list[Option] = []
    seen: set[str] = set()
    for i, b in enumerate(branches):
        cuts = [len(b.text)] + [k for k, ch in enumerate(b.text) if ch == "\n"]
        ends = _token_ends(dec, b.tokens, len(heal))
        for cut in sorted(set(cuts)):
            text = b.text[:cut].rstrip(" \t")
            if not text.strip() or text in seen:
                continue
            seen.add(text)
            kept = sum(1 for e in ends if e <= len(text))
            start = ends[kept - 1] if kept else -len(heal)
            rest = (heal + text)[start + len(heal) :] + head
            ids = dec.encode(rest)[:SUFFIX_TOKENS]
            if not ids:
                continue
            anchor = b.tokens[kept - 1] if kept else prompt.ids[-1]
            out.append(Option(i, text, kept, (anchor, *ids), len(ids)))
    return out


def _token_ends(dec: Decoder, tokens: list[int], heal: int) -> list[int]:
    """The text length (after the healed part) that each prefix of ``tokens`` spells;
    a prefix that does not spell a prefix of the whole (a split character) counts as
    ending past it, so no cut falls inside it."""
    whole = dec.tok.decode(tokens)
    ends = []
    for k in range(1, len(tokens) + 1):
        part = dec.tok.decode(tokens[:k])
        ends.append(len(part) - heal if whole.startswith(part) else len(whole) + 1)
    return ends


def rank(
    dec: Decoder, req: GenerateRequest, prompt: Prompt, slot: Slot, branches: list[Branch]
) -> list[Sample]:
    """The branches' options as samples, best joint log-probability with the suffix first.

    Without a suffix to score against, the branches' own samples in their order."""
    head = suffix_head(req.suffix, req.rank_lines)
    opts = options(dec, prompt, branches, head) if head else []
    if not opts:
        return [b.sample() for b in branches]
    base = len(prompt.ids)
    scores = _score(dec, prompt, slot, branches, opts, base)
    order = sorted(range(len(opts)), key=lambda k: -scores[k])
    out = []
    for k in order:
        o, b = opts[k], branches[opts[k].branch]
        kept_scored = b.scored[: max(0, len(b.scored) - (len(b.tokens) - o.kept))]
        finish = b.finish if o.text == b.text.rstrip(" \t") else "stop"
        out.append(
            Sample(o.text, sum(b.logps[: o.kept]), o.kept, finish, tuple(kept_scored), scores[k])
        )
    return out


def _score(
    dec: Decoder, prompt: Prompt, slot: Slot, branches: list[Branch], opts: list[Option], base: int
) -> list[float]:
    """Joint log-probabilities of the options (their kept tokens, then their ``ids``)."""
    if dec.lean is None:
        return [_score_one(dec, prompt, slot, branches[o.branch], o, base) for o in opts]
    ids, positions, visible, rows = [], [], [], []
    start = slot.cache.get_seq_length()
    for o in opts:
        b = branches[o.branch]
        prefix, own = (base - 1, []) if o.kept == 0 else (base, b.slots[: o.kept - 1])
        first = start + len(ids)
        for j, token in enumerate(o.ids):
            ids.append(token)
            positions.append(base - 1 + o.kept + j)
            visible.append((prefix, own + list(range(first, first + j))))
        rows.append((first - start, o))
    out = _tree_forward(dec, slot, ids, positions, visible)
    logp = torch.log_softmax(out, dim=-1)
    scores = []
    for row, o in rows:
        targets = torch.tensor(o.ids[1:])
        got = logp[row : row + o.target].gather(1, targets[:, None]).sum()
        scores.append(sum(branches[o.branch].logps[: o.kept]) + float(got))
    return scores


def _score_one(dec: Decoder, prompt: Prompt, slot: Slot, b: Branch, o: Option, base: int) -> float:
    """One option through the transformers forward (GPU and other layouts): the prompt's
    cache, cropped to its last token, then the option's tokens."""
    length = slot.cache.get_seq_length()
    slot.cache.crop(-(length - (base - 1)))
    ids = [prompt.ids[-1], *b.tokens[: o.kept], *o.ids[1:]]
    logits = dec.eager_rows(ids, slot.cache)
    slot.cache.crop(-(slot.cache.get_seq_length() - (base - 1)))
    slot.ids = slot.ids[: base - 1]
    # The kept tokens count as decoded (under the healing mask where it applied).
    logp = torch.log_softmax(logits[o.kept : -1], dim=-1)
    targets = torch.tensor(o.ids[1:], device=logp.device)
    return sum(b.logps[: o.kept]) + float(logp.gather(1, targets[:, None]).sum())
