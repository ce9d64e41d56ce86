""" "Unlikely code": which tokens the model finds improbable, as readable, fixable spans.

Pure functions over token scores (``reason_lsp.engine.TokenScore``) and the
tree-sitter tree; the model work happens elsewhere (``engine/scoring.py``) and the
LSP plumbing in ``unlikely_lsp.py``.

- :func:`regions` cuts a document into independently scored regions (top-level
  statements; methods of a class separately), each keyed by a hash of its text and
  the file's import header, so an edit re-scores only the region it touched.
- :func:`flags` keeps a token only when both hold: its surprisal is far beyond what
  the model shows on clean code (the calibrated threshold) and the model's top
  alternative is much likelier (``margin`` nats); strings and comments are ignored;
  at most one flag per line. Only whole words, numbers and operators are flagged,
  replaced by an alternative of the same kind (a name only by a name the region
  already uses), so the quick fix is always a sensible edit.

Calibration (``reason_lsp/training/calibrate.py``) sets the thresholds so clean
held-out code gets at most one warning per 300 lines; it is stored in the model
folder as ``calibration.json``.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from dataclasses import dataclass, replace
from pathlib import Path

import tree_sitter
from lsprotocol import types

from reason_lsp.text.diagnostics import SOURCE
from reason_lsp.text.documents import Snapshot
from reason_lsp.text.positions import encode

CODE = "unlikely-code"

CALIBRATION = "calibration.json"
_QUIET = ("string", "comment", "string_content", "escape_sequence")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Thresholds:
    warning: float = 8.0  # surprisal (nats) for a Warning
    information: float = 6.5  # surprisal for an Information
    margin: float = 2.5  # log p(top alternative) - log p(actual) at least this

    @classmethod
    def load(cls, model_dir: str | Path | None, override: float = 0.0) -> Thresholds:
        base = cls()
        path = Path(model_dir) / CALIBRATION if model_dir else None
        if path is not None and path.is_file():
            data = json.loads(path.read_text())
            base = cls(data["warning"], data["information"], data["margin"])
        if override > 0:  # the user's own surprisal threshold for warnings
            shift = override - base.warning
            base = cls(override, base.information + shift, base.margin)
        return base


@dataclass(frozen=True)
class Region:
    start: int  # character offsets into the document
    end: int
    key: str  # hash of (header, text): equal keys score the same


@dataclass(frozen=True)
class Flag:
    start: int  # character offsets, relative to the region
    end: int
    found: str
    expected: str
    surprisal: float
    severity: str  # "warning" | "information"

    @property
    def message(self) -> str:
        return f'unusual code: "{self.found}" here; the model expects "{self.expected}"'


def header_of(text: str, tree: tree_sitter.Tree | None) -> str:
    """The file's import statements: the context every region is scored after."""
    if tree is None:
        return ""
    data = encode(text)
    parts = [
        data[n.start_byte : n.end_byte].decode("utf-8", "replace")
        for n in tree.root_node.children
        if "import" in n.type
    ]
    return "\n".join(parts) + "\n\n" if parts else ""


def regions(text: str, tree: tree_sitter.Tree | None, header: str = "") -> list[Region]:
    """Top-level statements, and each method of a class on its own, with their keys."""
    if tree is None:
        return []
    data = encode(text)
    nodes: list[tree_sitter.Node] = []
    for node in tree.root_node.children:
        target = (
            node.child_by_field_name("definition") if node.type == "decorated_definition" else node
        )
        body = (
            target.child_by_field_name("body")
            if target is not None and target.type == "class_definition"
            else None
        )
        if body is not None and body.named_child_count > 1:
            nodes.extend(body.named_children)
        elif "import" not in node.type and node.type != "comment":
            nodes.append(node)
    out = []
    for node in nodes:
        # Characters, not bytes: regions are cut out of the Python string.
        start = len(data[: _line_start(data, node.start_byte)].decode("utf-8", "replace"))
        end = start + len(
            data[_line_start(data, node.start_byte) : node.end_byte].decode("utf-8", "replace")
        )
        chunk = text[start:end]
        key = hashlib.sha1(f"{header}\x00{chunk}".encode("utf-8", "replace")).hexdigest()
        out.append(Region(start, end, key))
    return out


def _line_start(data: bytes, byte: int) -> int:
    return data.rfind(b"\n", 0, byte) + 1


def _quiet_ranges(region_text: str, parser: tree_sitter.Parser | None) -> list[tuple[int, int]]:
    """Character ranges of strings and comments in the region."""
    if parser is None:
        return []
    data = encode(region_text)
    tree = parser.parse(data)
    found: list[tuple[int, int]] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in _QUIET or node.type.endswith("string"):
            a = len(data[: node.start_byte].decode("utf-8", "replace"))
            found.append(
                (a, a + len(data[node.start_byte : node.end_byte].decode("utf-8", "replace")))
            )
            continue
        stack.extend(node.children)
    return found


def _word_around(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow [start, end) to the identifier or operator run it is part of."""
    is_word = lambda ch: ch.isalnum() or ch == "_"  # noqa: E731
    is_op = lambda ch: ch in "<>=!+-*/%&|^~"  # noqa: E731
    core = text[start:end].strip()
    if not core:
        return start, end
    start += len(text[start:end]) - len(text[start:end].lstrip())
    end = start + len(core)
    kind = is_word if is_word(core[0]) else is_op if is_op(core[0]) else None
    if kind is None:
        return start, end
    while start > 0 and kind(text[start - 1]):
        start -= 1
    while end < len(text) and kind(text[end]):
        end += 1
    return start, end


def _kind(text: str) -> str:
    if text.isdigit() or (text[:1].isdigit() and text.replace(".", "").isalnum()):
        return "number"
    if text.isidentifier():
        return "keyword" if keyword.iskeyword(text) else "name"
    if all(ch in "<>=!+-*/%&|^~@" for ch in text):
        return "operator"
    return "other"


def candidates(region_text: str, scores, margin: float, parser=None) -> list[tuple[object, Flag]]:
    """Tokens the model would replace by a likelier one of the same kind, as unrated flags.

    A candidate is a whole word, number or operator (never a piece of one: splicing an
    alternative into a word gives nonsense), outside strings and comments, whose
    alternative is of the same kind, and, for a name, a name already used in the region
    or a keyword: the model is not asked to invent identifiers.
    """
    quiet = _quiet_ranges(region_text, parser)
    names = set(_NAME.findall(region_text))
    out = []
    for s in _merge_split_words(region_text, list(scores)):
        if s.top_logprob + s.surprisal < margin:  # log p(top) - log p(actual)
            continue
        token = region_text[s.start : s.end]
        core, expected = token.strip(), s.top_text.strip()
        if not core or not expected or core == expected or "\n" in s.top_text:
            continue
        t0 = s.start + len(token) - len(token.lstrip())
        t1 = t0 + len(core)
        if any(a < t1 and t0 < b for a, b in quiet):
            continue
        if _word_around(region_text, t0, t1) != (t0, t1):
            continue  # a piece of a longer word or operator
        kinds = (_kind(core), _kind(expected))
        if kinds[0] != kinds[1] and {"name", "keyword"} != set(kinds):
            continue
        if kinds[1] == "name" and expected not in names:
            continue
        out.append((s, Flag(t0, t1, core, expected, s.surprisal, "")))
    return out


def flags(region_text: str, scores, thresholds: Thresholds, parser=None) -> list[Flag]:
    """The tokens of one region worth a diagnostic, at most one per line."""
    best_per_line: dict[int, Flag] = {}
    for s, flag in candidates(region_text, scores, thresholds.margin, parser):
        if s.surprisal < thresholds.information:
            continue
        severity = "warning" if s.surprisal >= thresholds.warning else "information"
        flag = replace(flag, severity=severity)
        line = region_text.count("\n", 0, flag.start)
        if line not in best_per_line or best_per_line[line].surprisal < flag.surprisal:
            best_per_line[line] = flag
    return sorted(best_per_line.values(), key=lambda f: f.start)


def _merge_split_words(text: str, scores: list) -> list:
    """Move a surprise on a lone space onto the word after it.

    When the written word has no token of its own with the space (" 3" is not in the
    vocabulary but " 2" is), the text splits as " " + "3" and the model's surprise
    lands on the space, whose alternative is " 2": the anomaly is the word.
    """
    out = []
    skip = -1
    for i, s in enumerate(scores):
        if i == skip:
            continue
        token = text[s.start : s.end]
        nxt = scores[i + 1] if i + 1 < len(scores) else None
        if (
            nxt is not None
            and token.strip() == ""
            and "\n" not in token
            and s.top_text.startswith(token)
            and s.top_text.strip()
            and text[nxt.start : nxt.end].strip()
        ):
            # The written word costs both tokens; its alternative is the space's top choice.
            merged = replace(s, start=nxt.start, end=nxt.end, top_text=s.top_text[len(token) :])
            out.append(replace(merged, surprisal=s.surprisal + nxt.surprisal))
            skip = i + 1
            continue
        out.append(s)
    return out


def line_scores(region_text: str, scores, parser=None, margin: float = 0.0) -> dict[int, float]:
    """Per line of the region: the highest surprisal among its candidates (what flags rate)."""
    out: dict[int, float] = {}
    for s, flag in candidates(region_text, scores, margin, parser):
        line = region_text.count("\n", 0, flag.start)
        out[line] = max(out.get(line, 0.0), s.surprisal)
    return out


def to_diagnostic(snapshot: Snapshot, region: Region, flag: Flag) -> types.Diagnostic:
    start, end = region.start + flag.start, region.start + flag.end
    severity = (
        types.DiagnosticSeverity.Warning
        if flag.severity == "warning"
        else types.DiagnosticSeverity.Information
    )
    return types.Diagnostic(
        range=snapshot.index.range_at(start, end, snapshot.encoding),
        message=flag.message,
        severity=severity,
        source=SOURCE,
        code=CODE,
        data={"replacement": flag.expected, "surprisal": round(flag.surprisal, 2)},
    )
