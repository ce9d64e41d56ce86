"""The fill-in-the-middle format: special tokens, prompt orders and the model-folder record.

One format, one place: the training code builds its examples with these functions
and the engine builds its prompts with the same ones, so what the model was trained
on and what the server sends it cannot drift apart. Pure Python, no torch.

Orders (Bavarian et al. 2022, "Efficient Training of Language Models to Fill in
the Middle"):

- PSM: ``<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>{middle}<|endoftext|>``
- SPM (the paper's joint variant):
  ``<fim_prefix><fim_suffix>{suffix}<fim_middle>{prefix}{middle}<|endoftext|>``

In SPM the prefix comes last and is continued directly by the middle, so while the
user types the growing prefix stays at the end of the prompt and the key/value
cache of everything before it (the suffix) survives each keystroke.

Tokenizer note for prompt builders: the byte-level pre-tokenizer attaches the last
space of an indent to the next word (``"    return"`` becomes ``"   "`` +
``" return"``), so a prompt that ends in spaces or mid-word ends on a token the
model rarely saw there. The engine backs off that last token and constrains the
first generated token to start with the removed text (token healing).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import regex

EOS = "<|endoftext|>"
FIM_PREFIX = "<fim_prefix>"
FIM_MIDDLE = "<fim_middle>"
FIM_SUFFIX = "<fim_suffix>"
FIM_PAD = "<fim_pad>"
FILE_SEP = "<file_sep>"

#: Special tokens of our own tokenizer, in id order (ids 0..5).
SPECIAL_TOKENS: tuple[str, ...] = (EOS, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD, FILE_SEP)

FIM_RECORD = "fim.json"

#: The GPT-2 pre-tokenizer's chunks; a token never spans two of them.
_CHUNK = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


@dataclass(frozen=True)
class FimFormat:
    """How one model family spells fill-in-the-middle."""

    name: str
    prefix: str
    suffix: str
    middle: str
    eos: str = EOS
    pad: str | None = None
    file_separator: str | None = None
    orders: tuple[str, ...] = ("psm",)
    extra_stops: tuple[str, ...] = field(default_factory=tuple)

    @property
    def supports_spm(self) -> bool:
        return "spm" in self.orders

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["orders"] = list(self.orders)
        data["extra_stops"] = list(self.extra_stops)
        return data


#: Our own models: StarCoder token names, trained in both PSM and SPM order.
REASON = FimFormat(
    name="reason",
    prefix=FIM_PREFIX,
    suffix=FIM_SUFFIX,
    middle=FIM_MIDDLE,
    eos=EOS,
    pad=FIM_PAD,
    file_separator=FILE_SEP,
    orders=("psm", "spm"),
)

#: A FIM fine-tune of a model whose tokenizer has no FIM tokens (SmolLM2's) reuses three
#: GitHub-issue markers that source code never contains, so the vocabulary, the GGUF
#: export and llama.cpp serving stay as they are. SPM only: the engine prompts in SPM
#: when a format has it, so that is the order the fine-tune trains. Never detected
#: from a vocabulary (the untuned model has these tokens too): only a folder's record
#: names it.
REUSED_ISSUE_TOKENS = FimFormat(
    name="reused-issue-tokens",
    prefix="<issue_start>",
    suffix="<issue_comment>",
    middle="<issue_closed>",
    eos=EOS,
    file_separator=FILE_SEP,
    orders=("spm",),
)

#: Known conventions of public code models, tried in this order by :func:`detect`.
KNOWN_FORMATS: tuple[FimFormat, ...] = (
    FimFormat(
        "starcoder",
        "<fim_prefix>",
        "<fim_suffix>",
        "<fim_middle>",
        EOS,
        "<fim_pad>",
        "<file_sep>",
    ),
    FimFormat(
        "qwen2.5-coder",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        "<|endoftext|>",
        "<|fim_pad|>",
        "<|file_sep|>",
        extra_stops=("<|im_end|>", "<|repo_name|>"),
    ),
    FimFormat(
        "deepseek-coder",
        "<｜fim▁begin｜>",
        "<｜fim▁hole｜>",
        "<｜fim▁end｜>",
        "<｜end▁of▁sentence｜>",
    ),
    FimFormat("codellama", "▁<PRE>", "▁<SUF>", "▁<MID>", "</s>", extra_stops=("▁<EOT>",)),
    FimFormat("codellama", "<PRE>", "<SUF>", "<MID>", "</s>", extra_stops=("<EOT>",)),
)


def detect(vocab: Iterable[str], model_dir: str | Path | None = None) -> FimFormat | None:
    """The FIM format of a model, from its folder's record or its tokenizer's vocabulary.

    ``vocab`` is every token string the tokenizer knows (added tokens included).
    Returns None when the model has no FIM tokens: callers fall back to prefix-only
    prompts.
    """
    if model_dir is not None:
        recorded = read_record(model_dir)
        if recorded is not None:
            return recorded
    tokens = set(vocab)
    for fmt in KNOWN_FORMATS:
        if {fmt.prefix, fmt.suffix, fmt.middle} <= tokens:
            return fmt
    return None


def write_record(model_dir: str | Path, fmt: FimFormat = REASON) -> Path:
    path = Path(model_dir) / FIM_RECORD
    path.write_text(json.dumps(fmt.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def read_record(model_dir: str | Path) -> FimFormat | None:
    path = Path(model_dir) / FIM_RECORD
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    data["orders"] = tuple(data.get("orders", ("psm",)))
    data["extra_stops"] = tuple(data.get("extra_stops", ()))
    return FimFormat(**data)


def back_off(
    ids: list[int], text: str, decode: Callable[[list[int]], str]
) -> tuple[list[int], str]:
    """Remove the tokens of the prompt's last word; return (ids, removed text).

    Tokens never cross a pre-tokenizer chunk (" word", a run of spaces, ...), so a
    prompt that ends inside a chunk ends on a token split the model never saw. The
    engine removes the whole last chunk and constrains the first generated tokens to
    spell it out, so the model picks its natural split; FIM-tuning cuts its examples
    the same way, so the middle it learns starts where the engine's does.
    """
    chunks = _CHUNK.findall(text[-64:])
    want = len(chunks[-1]) if chunks else 0
    heal = ""
    while ids and len(heal) < want and len(heal) < 48:
        piece = decode([ids[-1]])
        if not piece or "\ufffd" in piece:
            break
        heal, ids = piece + heal, ids[:-1]
    return ids, heal


def psm_text(fmt: FimFormat, prefix: str, suffix: str) -> str:
    """PSM prompt as text; the model continues with the middle."""
    return f"{fmt.prefix}{prefix}{fmt.suffix}{suffix}{fmt.middle}"


def spm_text(fmt: FimFormat, prefix: str, suffix: str) -> str:
    """SPM prompt as text (joint variant); the prefix is last so its cache survives typing."""
    return f"{fmt.prefix}{fmt.suffix}{suffix}{fmt.middle}{prefix}"


def spm_ids(fmt_ids: dict[str, int], suffix_ids: list[int], prefix_ids: list[int]) -> list[int]:
    """SPM token ids from separately tokenized parts (``fmt_ids`` maps role -> token id)."""
    return [fmt_ids["prefix"], fmt_ids["suffix"], *suffix_ids, fmt_ids["middle"], *prefix_ids]


def psm_ids(fmt_ids: dict[str, int], prefix_ids: list[int], suffix_ids: list[int]) -> list[int]:
    """PSM token ids from separately tokenized parts."""
    return [fmt_ids["prefix"], *prefix_ids, fmt_ids["suffix"], *suffix_ids, fmt_ids["middle"]]


def repository_text(fmt: FimFormat | None, files: Iterable[tuple[str, str]], path: str) -> str:
    """Other files of the repository, then the current file's marker, in the layout of
    StarCoder2 and Qwen2.5-Coder (``<file_sep>path\ncode``) when the model has a file
    separator, else as a comment line naming each file. Empty without files."""
    files = list(files)
    if not files:
        return ""
    sep = fmt.file_separator if fmt is not None else None
    if sep:
        parts = [f"{sep}{p}\n{text.rstrip()}\n" for p, text in files]
        return "".join(parts) + f"{sep}{path}\n"
    parts = [f"# {p}\n{text.rstrip()}\n\n" for p, text in files]
    return "".join(parts) + (f"# {path}\n" if path else "")


def by_name(name: str) -> FimFormat | None:
    """The convention called ``name`` ("reason", "starcoder", "qwen2.5-coder", ...)."""
    for own in (REASON, REUSED_ISSUE_TOKENS):
        if name == own.name:
            return own
    return next((f for f in KNOWN_FORMATS if f.name == name), None)


#: Substrings of a served model's name and the convention its family uses.
_FAMILIES = (
    ("reason-code", "reason"),
    ("qwen2.5-coder", "qwen2.5-coder"),
    ("qwen2.5coder", "qwen2.5-coder"),
    ("qwen3-coder", "qwen2.5-coder"),
    ("starcoder", "starcoder"),
    ("deepseek-coder", "deepseek-coder"),
    ("codellama", "codellama"),
    ("code-llama", "codellama"),
)


def for_model_name(model: str) -> FimFormat | None:
    """The FIM convention of a model known only by name (a server's model id, such as
    ``qwen2.5-coder:1.5b`` or ``bigcode/starcoder2-3b``); None when the name says nothing."""
    lowered = model.lower().replace("_", "-")
    for needle, name in _FAMILIES:
        if needle in lowered:
            return by_name(name)
    return None


def prompt_text(fmt: FimFormat | None, left: str, suffix: str) -> str:
    """The prompt as text for a server that tokenizes it: SPM when the model was trained
    on it, else PSM; the prefix alone without a format or without a suffix."""
    if fmt is None or not suffix.strip():
        return left
    return spm_text(fmt, left, suffix) if fmt.supports_spm else psm_text(fmt, left, suffix)


def stop_strings(fmt: FimFormat | None) -> list[str]:
    """Texts that end a completion: end of text, FIM markers, a file separator."""
    if fmt is None:
        return [EOS]
    found = [fmt.eos, *fmt.extra_stops, fmt.file_separator, fmt.prefix, fmt.suffix, fmt.middle]
    return list(dict.fromkeys(s for s in found if s))
