"""Held-out positions for the completion benchmarks: typing sessions and blanked lines.

A typing session opens a held-out file cut at the start of a random line inside a
function body (after its indentation, as an editor's auto-indent leaves it) and
types the next characters one by one; a newline and the next line's indentation are
one keystroke. A blanked line is the whole file with the rest of one such line
removed after its indentation, for one invoked completion there.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import tree_sitter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reason_lsp.text import languages  # noqa: E402

CORPUS = ROOT / "data" / "corpus"
CORPUS_FILES = ("valid_thirdparty.jsonl", "valid_stdlib.jsonl")


@dataclass
class Session:
    path: str
    text: str  # the whole original file
    start: int  # offset where typing starts (after the indentation of a body line)
    keystrokes: list[str]  # what is typed, one change each


def python_parser() -> tree_sitter.Parser:
    language = languages.load("python")
    if language is None:
        sys.exit("the tree-sitter Python grammar is not installed")
    return tree_sitter.Parser(language)


def body_lines(text: str, parser: tree_sitter.Parser) -> list[int]:
    """Rows that start a statement inside a function body (docstrings left out)."""
    data = text.encode("utf-8")
    tree = parser.parse(data)
    rows: set[int] = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            body = node.child_by_field_name("body")
            if body is not None:
                for stmt in _statements(body):
                    if (
                        stmt.type == "expression_statement"
                        and stmt.named_children
                        and (stmt.named_children[0].type == "string")
                    ):
                        continue
                    rows.add(stmt.start_point.row)
        stack.extend(node.children)
    lines = text.split("\n")
    return sorted(
        r for r in rows if r > 0 and len(lines[r].strip()) >= 4 and lines[r].strip()[0] != "#"
    )


def _statements(block: tree_sitter.Node):
    for child in block.named_children:
        if child.type == "comment":
            continue
        yield child
        if child.type.endswith(("statement", "clause")) or child.type == "block":
            for sub in child.named_children:
                if sub.type in ("block", "else_clause", "elif_clause", "except_clause"):
                    yield from _statements(sub)


def keystrokes(text: str, start: int, chars: int) -> list[str]:
    """The next ``chars`` characters from ``start``; a newline carries the next indentation."""
    out: list[str] = []
    i, typed = start, 0
    while i < len(text) and typed < chars:
        ch = text[i]
        if ch == "\n":
            j = i + 1
            while j < len(text) and text[j] in " \t":
                j += 1
            out.append(text[i:j])
            i = j
        else:
            out.append(ch)
            i += 1
        typed += 1
    return out


def load_records(names: tuple[str, ...] = CORPUS_FILES) -> list[dict]:
    files = [CORPUS / name for name in names if (CORPUS / name).is_file()]
    if not files:
        sys.exit(
            f"no held-out code: {CORPUS}/valid_*.jsonl is missing. Build the corpus with "
            "`reason-lsp build-corpus` (see README), then run this again."
        )
    records = []
    for path in files:
        with path.open(encoding="utf-8") as f:
            records.extend(json.loads(line) for line in f if line.strip())
    return [r for r in records if r["path"].endswith(".py") and 200 < len(r["text"]) < 200_000]


def load_sessions(
    count: int, chars: int, seed: int, names: tuple[str, ...] = CORPUS_FILES
) -> list[Session]:
    records = load_records(names)
    rng = random.Random(seed)
    parser = python_parser()
    sessions: list[Session] = []
    for record in rng.sample(records, len(records)):
        if len(sessions) >= count:
            break
        text = record["text"]
        rows = body_lines(text, parser)
        if not rows:
            continue
        row = rng.choice(rows)
        line_start = sum(len(line) + 1 for line in text.split("\n")[:row])
        line = text.split("\n")[row]
        start = line_start + len(line) - len(line.lstrip(" \t"))
        sessions.append(
            Session(
                f"{record['package']}:{record['path']}", text, start, keystrokes(text, start, chars)
            )
        )
    return sessions


@dataclass
class Blank:
    path: str
    text: str  # the file with the rest of one line removed
    offset: int  # the cursor: after that line's indentation
    truth: str  # what was removed (the rest of the line)
    original: str  # the whole file


def load_blanks(count: int, seed: int, names: tuple[str, ...] = ("valid_thirdparty.jsonl",)):
    """``count`` blanked lines, one per file, in files CPython compiles."""
    records = load_records(names)
    rng = random.Random(f"{seed}:blanks")
    parser = python_parser()
    out: list[Blank] = []
    for record in rng.sample(records, len(records)):
        if len(out) >= count:
            break
        text = record["text"]
        try:
            compile(text, record["path"], "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue
        rows = body_lines(text, parser)
        if not rows:
            continue
        row = rng.choice(rows)
        lines = text.split("\n")
        line = lines[row]
        start = sum(len(x) + 1 for x in lines[:row]) + len(line) - len(line.lstrip(" \t"))
        end = start + len(line.strip())
        out.append(Blank(record["path"], text[:start] + text[end:], start, text[start:end], text))
    return out


def first_line_accepted(shown: str, following: str) -> bool:
    """The user typed the suggestion's first line next: all of it, or 10 characters or more."""
    first = shown.split("\n", 1)[0]
    if not first:
        return False
    n = 0
    while n < len(first) and n < len(following) and first[n] == following[n]:
        n += 1
    return n == len(first) or n >= 10


def compiles(source: str) -> bool:
    try:
        compile(source, "<bench>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True
