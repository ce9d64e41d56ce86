"""What a model server is and can do, found out by asking it once when the engine starts.

:func:`probe` returns a :class:`Dialect`: the engine (llama.cpp's ``llama-server``,
vLLM, Ollama, or any OpenAI-compatible server), the served model, its context size,
the FIM convention to build prompts with, whether the API's ``suffix`` field may be
used, and how log-probabilities can be had (or why not).

FIM: the ``openai.fim`` setting wins; on ``auto`` the convention is the one whose
markers the server's tokenizer knows as single tokens (``/tokenize``), the model
name's family deciding between conventions that share markers (ours and StarCoder's),
else the family alone, else none (prefix-only prompts). ``suffix`` is used only when
the setting says ``server``, or no convention is known and the server visibly puts
the suffix into the prompt (its prompt token count grows): llama-server refuses the
field and llama-cpp-python fills it with the wrong ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reason_lsp.engine import fim
from reason_lsp.engine.client import BackendError, Client

LLAMA_CPP, VLLM, OLLAMA, OPENAI = "llama.cpp", "vllm", "ollama", "openai"


@dataclass(frozen=True)
class Dialect:
    kind: str
    model: str
    n_ctx: int = 0  # 0 = unknown
    fim: fim.FimFormat | None = None
    fim_source: str = "none"  # "setting" | "tokens" | "name" | "none"
    use_suffix: bool = False
    #: "native" (llama.cpp teacher forcing), "echo" (prompt log-probabilities), or "".
    scoring: str = ""
    no_scoring_reason: str = ""
    #: Log-probabilities of generated tokens in streamed completions.
    token_logprobs: bool = False
    special_ids: frozenset[int] = frozenset()
    start_id: int | None = None
    #: Fields added to every completion request (greedy means no repetition penalty).
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        fim_text = self.fim.name if self.fim else ("server suffix" if self.use_suffix else "none")
        logprobs = self.scoring or "none"
        return f"{self.kind}, model {self.model!r}, FIM {fim_text}, log-probabilities {logprobs}"


def _try(fn, *args, **kwargs) -> Any:
    try:
        return fn(*args, **kwargs)
    except BackendError:
        return None


def probe(client: Client, wanted_model: str = "", fim_setting: str = "auto") -> Dialect:
    """Ask the server what it is; raises ``BackendDown`` when it cannot be reached."""
    models = client.get("/v1/models")
    data = models.get("data", []) if isinstance(models, dict) else []
    ids = [m.get("id", "") for m in data if isinstance(m, dict)]
    model = wanted_model or (ids[0] if ids else "")
    kind, n_ctx = _kind(client, data)
    tokens = _single_token_checker(client, kind, model)
    fmt, source = _fim_format(fim_setting, model, tokens)
    special = _special_ids(client, kind, fmt) if kind == LLAMA_CPP else frozenset()
    start = _start_id(client, kind, fmt)
    extra = {"repeat_penalty": 1.0, "cache_prompt": True} if kind == LLAMA_CPP else {}
    use_suffix = fim_setting == "server" or (
        fim_setting == "auto" and fmt is None and _suffix_honoured(client, model)
    )
    scoring, reason = _scoring(client, kind, model, extra)
    token_logprobs = _generation_logprobs(client, model, extra)
    return Dialect(kind, model, n_ctx, fmt, source, use_suffix, scoring, reason,
                   token_logprobs, special, start, extra)  # fmt: skip


def _kind(client: Client, models: list[dict[str, Any]]) -> tuple[str, int]:
    props = _try(client.get, "/props")
    if isinstance(props, dict) and {"default_generation_settings", "build_info"} & set(props):
        settings = props.get("default_generation_settings") or {}
        return LLAMA_CPP, int(settings.get("n_ctx") or props.get("n_ctx") or 0)
    first = models[0] if models else {}
    if first.get("owned_by") == "vllm":
        return VLLM, int(first.get("max_model_len") or 0)
    if isinstance(_try(client.get, "/api/version"), dict):
        return OLLAMA, 0
    return OPENAI, 0


def _single_token_checker(client: Client, kind: str, model: str):
    """A function telling whether a text is one token of the served model (None when
    the server has no tokenizer endpoint)."""
    if kind == LLAMA_CPP:

        def count(text: str) -> int | None:
            body = {"content": text, "add_special": False, "parse_special": True}
            found = _try(client.post, "/tokenize", body, retries=0)
            return len(found["tokens"]) if isinstance(found, dict) else None

    elif kind == VLLM:

        def count(text: str) -> int | None:
            body = {"model": model, "prompt": text, "add_special_tokens": False}
            found = _try(client.post, "/tokenize", body, retries=0)
            return len(found.get("tokens", [])) if isinstance(found, dict) else None

    else:
        return None

    def single(*texts: str) -> bool | None:
        counts = [count(t) for t in texts]
        return None if None in counts else all(c == 1 for c in counts)

    return single


def _fim_format(setting: str, model: str, single) -> tuple[fim.FimFormat | None, str]:
    if setting in ("none", "server"):
        return None, "setting"
    if setting != "auto":
        return fim.by_name(setting), "setting"
    named = fim.for_model_name(model)
    if single is None:
        return (named, "name") if named else (None, "none")
    if named is not None and single(named.prefix, named.suffix, named.middle):
        return named, "tokens"
    for fmt in fim.KNOWN_FORMATS:
        if single(fmt.prefix, fmt.suffix, fmt.middle):
            return fmt, "tokens"
    return None, "none"


def _special_ids(client: Client, kind: str, fmt: fim.FimFormat | None) -> frozenset[int]:
    texts = [fim.EOS] + ([fmt.prefix, fmt.suffix, fmt.middle, fmt.eos] if fmt else [])
    if fmt is not None:
        texts += [t for t in (fmt.pad, fmt.file_separator) if t]
    found: set[int] = set()
    for text in dict.fromkeys(texts):
        body = {"content": text, "add_special": False, "parse_special": True}
        got = _try(client.post, "/tokenize", body, retries=0)
        if isinstance(got, dict) and len(got.get("tokens", [])) == 1:
            found.add(int(got["tokens"][0]))
    return frozenset(found)


def _start_id(client: Client, kind: str, fmt: fim.FimFormat | None) -> int | None:
    """The end-of-text token that starts a scored file, as the local scorer uses."""
    if kind != LLAMA_CPP:
        return None
    eos = fmt.eos if fmt else fim.EOS
    body = {"content": eos, "add_special": False, "parse_special": True}
    got = _try(client.post, "/tokenize", body, retries=0)
    if isinstance(got, dict) and len(got.get("tokens", [])) == 1:
        return int(got["tokens"][0])
    return None


def _suffix_honoured(client: Client, model: str) -> bool:
    def prompt_tokens(extra: dict[str, Any]) -> int | None:
        body = {"model": model, "prompt": "x", "max_tokens": 1, "temperature": 0.0, **extra}
        got = _try(client.post, "/v1/completions", body, retries=0)
        usage = got.get("usage") if isinstance(got, dict) else None
        return usage.get("prompt_tokens") if isinstance(usage, dict) else None

    plain = prompt_tokens({})
    with_suffix = prompt_tokens({"suffix": "\n" + "y = 1\n" * 8})
    return plain is not None and with_suffix is not None and with_suffix > plain + 4


def _scoring(client: Client, kind: str, model: str, extra: dict[str, Any]) -> tuple[str, str]:
    if kind == LLAMA_CPP:
        ids = _try(client.post, "/tokenize", {"content": "def f", "add_special": False}, retries=0)
        if isinstance(ids, dict) and len(ids.get("tokens", [])) >= 2:
            toks = [int(t) for t in ids["tokens"]]
            body = {"prompt": toks[:1], "n_predict": 1, "n_probs": 2, "temperature": 0.0,
                    "logit_bias": [[toks[1], 1000.0]], "stream": False, **extra}  # fmt: skip
            got = _try(client.post, "/completion", body, retries=0)
            probs = got.get("completion_probabilities") if isinstance(got, dict) else None
            if probs and int(probs[0].get("id", -1)) == toks[1] and "logprob" in probs[0]:
                return "native", ""
        return "", "this llama.cpp server gives no token probabilities on /completion"
    body = {"model": model, "prompt": "def f(x):\n    return x", "max_tokens": 1,
            "echo": True, "logprobs": 2, "temperature": 0.0}  # fmt: skip
    got = _try(client.post, "/v1/completions", body, retries=0)
    try:
        values = got["choices"][0]["logprobs"]["token_logprobs"]
    except (TypeError, KeyError, IndexError):
        return "", f"the {kind} server does not return prompt log-probabilities (echo)"
    if not values or values[0] is not None or len(values) < 3:
        # llama-cpp-python answers with values shifted by one position: not trusted.
        return "", f"the {kind} server's echoed log-probabilities are not aligned to the prompt"
    return "echo", ""


def _generation_logprobs(client: Client, model: str, extra: dict[str, Any]) -> bool:
    body = {"model": model, "prompt": "def", "max_tokens": 2, "logprobs": 1,
            "temperature": 0.0, **extra}  # fmt: skip
    got = _try(client.post, "/v1/completions", body, retries=0)
    try:
        return bool(token_logprobs_of(got["choices"][0]))
    except (TypeError, KeyError, IndexError):
        return False


def token_logprobs_of(choice: dict[str, Any]) -> list[tuple[str, float]]:
    """``(token text, log-probability)`` of the generated tokens in one choice, from the
    OpenAI shape (``token_logprobs``) or llama-server's (``content[]``)."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return []
    if isinstance(lp.get("content"), list):
        return [(str(t.get("token", "")), float(t["logprob"])) for t in lp["content"]
                if isinstance(t, dict) and t.get("logprob") is not None]  # fmt: skip
    tokens, values = lp.get("tokens") or [], lp.get("token_logprobs") or []
    return [(str(t), float(v)) for t, v in zip(tokens, values, strict=False) if v is not None]
