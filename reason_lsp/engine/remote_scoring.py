"""Log-probabilities from a model server: per-token scores of a text, and member ranking.

Two ways, chosen by the probe (:mod:`reason_lsp.engine.probe`):

* ``native`` (llama.cpp's ``llama-server``): its OpenAI endpoint refuses ``echo``, so
  the prompt's own log-probabilities are read by teacher forcing on ``/completion``:
  for each token of the text, the prompt up to it, one token to generate, that token
  forced with ``logit_bias``, and ``n_probs`` top alternatives. The server reports the
  raw (pre-sampling) probability of the token it produced, so the forced token's
  log-probability is exact, and the prompt cache makes each step one token of work.
  Token ids come from the server's ``/tokenize``, tokenizing the context and the text
  apart, and the windows are the local scorer's (``reason_lsp.engine.scoring``), so the
  numbers match the local model on the same weights (``tests/engine``).
* ``echo`` (vLLM and engines like it): one ``/v1/completions`` call with ``echo`` and
  ``logprobs`` returns every prompt token's log-probability and top alternatives.

Both give :class:`~reason_lsp.engine.api.TokenScore` lists with offsets into the text;
the likeliest alternative is never a special token (end of text, FIM markers).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from reason_lsp.engine.api import Cancelled, TokenScore
from reason_lsp.engine.client import BackendError, Client

TOP = 8
#: A bias that makes the forced token win under greedy sampling.
FORCE = 1000.0
_IDENT = re.compile(r"[A-Za-z0-9_]*")


@dataclass
class Token:
    id: int
    piece: bytes


def _piece_bytes(piece: object) -> bytes:
    if isinstance(piece, str):
        return piece.encode("utf-8")
    if isinstance(piece, list):
        return bytes(int(b) & 0xFF for b in piece)
    return b""


class NativeScorer:
    """llama.cpp's native endpoints: ``/tokenize`` and ``/completion`` with ``n_probs``."""

    def __init__(self, client: Client, window: int, start_id: int | None,
                 special: frozenset[int], extra: dict) -> None:  # fmt: skip
        self.client = client
        self.window = max(32, window)
        self.start_id = start_id
        self.special = special
        self.extra = extra

    def tokenize(self, text: str, cancel: threading.Event | None = None) -> list[Token]:
        if not text:
            return []
        # Special-token text in the code becomes the special token, as the local
        # scorer's tokenizer does it.
        body = {"content": text, "add_special": False, "parse_special": True,
                "with_pieces": True}  # fmt: skip
        data = self.client.post("/tokenize", body, cancel)
        return [Token(int(t["id"]), _piece_bytes(t.get("piece"))) for t in data["tokens"]]

    def ids(self, text: str, cancel: threading.Event | None = None) -> list[int]:
        """Token ids of ``text`` with special tokens parsed (for FIM prompts)."""
        if not text:
            return []
        body = {"content": text, "add_special": False, "parse_special": True}
        return [int(t) for t in self.client.post("/tokenize", body, cancel)["tokens"]]

    def _step(self, prompt: list[int], force: int | None, n_probs: int, cancel) -> dict:
        body = {
            "prompt": prompt,
            "n_predict": 1,
            "n_probs": n_probs,
            "temperature": 0.0,
            "cache_prompt": True,
            "stream": False,
            **self.extra,
        }
        if force is not None:
            body["logit_bias"] = [[force, FORCE]]
        data = self.client.post("/completion", body, cancel)
        probs = data.get("completion_probabilities") or []
        if not probs:
            raise BackendError("the server returned no token probabilities")
        return probs[0]

    def _best_alternative(self, step: dict) -> tuple[str, float]:
        for alt in step.get("top_logprobs") or []:
            if int(alt.get("id", -1)) not in self.special:
                return _piece_bytes(alt.get("token", "")).decode("utf-8", "replace"), float(
                    alt["logprob"]
                )
        return "", float("-inf")

    def score(self, context: str, text: str, cancel: threading.Event) -> list[TokenScore]:
        clean = text.encode("utf-8", "replace").decode("utf-8")
        tokens = self.tokenize(clean, cancel)
        start = [self.start_id] if self.start_id is not None else self.ids("\n", cancel)
        ctx = (start + [t.id for t in self.tokenize(context, cancel)])[-max(1, self.window // 2) :]
        full = ctx + [t.id for t in tokens]
        offsets = _char_offsets(clean, [t.piece for t in tokens])
        out: list[TokenScore] = []
        for j, left in _positions(len(ctx), len(full), self.window):
            if cancel.is_set():
                raise Cancelled()
            step = self._step(full[left:j], full[j], TOP, cancel)
            if int(step.get("id", -1)) != full[j]:
                raise BackendError("the server did not take the forced token (logit_bias)")
            top_text, top_lp = self._best_alternative(step)
            begin, end = offsets[j - len(ctx)]
            out.append(TokenScore(begin, end, -float(step["logprob"]), top_text, top_lp))
        return out

    def members(self, prompt_text: str, k: int, cancel: threading.Event) -> list[tuple[str, float]]:
        """The ``k`` likeliest identifiers after ``prompt_text``, each followed greedily."""
        ids = self.ids(prompt_text, cancel)
        first = self._step(ids, None, 8 * k, cancel)
        found: dict[str, float] = {}
        for alt in first.get("top_logprobs") or []:
            if cancel.is_set():
                raise Cancelled()
            token = int(alt["id"])
            piece = _piece_bytes(alt.get("token", "")).decode("utf-8", "replace")
            if token in self.special or not piece or not _IDENT.match(piece).end():
                continue
            name, score = self._follow(ids, token, piece, float(alt["logprob"]), cancel)
            if name and name.isidentifier() and name not in found:
                found[name] = score
            if len(found) >= k:
                break
        return sorted(found.items(), key=lambda kv: -kv[1])

    def _follow(self, ids: list[int], token: int, piece: str, score: float, cancel):
        text = piece
        if _IDENT.match(text).end() < len(text):
            return _IDENT.match(text).group(0), score
        body = {"prompt": [*ids, token], "n_predict": 6, "n_probs": 1, "temperature": 0.0,
                "cache_prompt": True, "stream": False, **self.extra}  # fmt: skip
        data = self.client.post("/completion", body, cancel)
        for step in data.get("completion_probabilities") or []:
            if int(step.get("id", -1)) in self.special:
                break
            text += _piece_bytes(step.get("token", "")).decode("utf-8", "replace")
            score += float(step["logprob"])
            if _IDENT.match(text).end() < len(text):
                break
        return _IDENT.match(text).group(0), score


def _positions(n_ctx: int, n_full: int, window: int):
    """``(j, left)``: each scored position ``j`` and where its prompt starts, in the
    local scorer's windows (the first on top of the whole context, then windows of
    ``window`` tokens that each score their second half)."""
    pos = n_ctx
    while pos < n_full:
        left = max(0, pos - window // 2)
        end = min(n_full, left + window)
        start = 0 if left < n_ctx else left
        for j in range(pos, end):
            yield j, start
        pos = end


def _char_offsets(text: str, pieces: list[bytes]) -> list[tuple[int, int]]:
    """Character ``(start, end)`` of each token from its bytes (a token that covers part
    of a character covers that character)."""
    char_at: list[int] = []
    for i, ch in enumerate(text):
        char_at.extend([i] * len(ch.encode("utf-8")))
    char_at.append(len(text))  # one past the end
    last = len(char_at) - 1
    out, at = [], 0
    for piece in pieces:
        begin, at = min(at, last), min(at + len(piece), last)
        start = char_at[begin]
        out.append((start, char_at[at - 1] + 1 if at > begin else start))
    return out


class EchoScorer:
    """``/v1/completions`` with ``echo`` and ``logprobs`` (vLLM's prompt log-probabilities)."""

    def __init__(self, client: Client, model: str, special: frozenset[str]) -> None:
        self.client = client
        self.model = model
        self.special = special

    def score(self, context: str, text: str, cancel: threading.Event) -> list[TokenScore]:
        clean = text.encode("utf-8", "replace").decode("utf-8")
        body = {"model": self.model, "prompt": context + clean, "max_tokens": 1, "echo": True,
                "logprobs": TOP, "temperature": 0.0}  # fmt: skip
        choice = self.client.post("/v1/completions", body, cancel)["choices"][0]
        lp = choice.get("logprobs") or {}
        tokens, values = lp.get("tokens") or [], lp.get("token_logprobs") or []
        tops, offsets = lp.get("top_logprobs") or [], lp.get("text_offset") or []
        out: list[TokenScore] = []
        base = len(context)
        for i, (piece, value) in enumerate(zip(tokens, values, strict=False)):
            at = offsets[i] if i < len(offsets) else None
            if value is None or at is None or at < base or at - base >= len(clean):
                continue  # the context, the first token, or the one generated token
            alternatives = sorted(
                ((t, v) for t, v in (tops[i] if i < len(tops) and tops[i] else {}).items()
                 if t not in self.special),
                key=lambda kv: -kv[1],
            )  # fmt: skip
            top_text, top_lp = alternatives[0] if alternatives else ("", float("-inf"))
            start = at - base
            out.append(TokenScore(start, min(len(clean), start + len(piece)), -float(value),
                                  top_text, float(top_lp)))  # fmt: skip
        return out
