"""Whether a completion breaks the code: the language's own judge.

Python gets CPython's parser (``compile(..., PyCF_ONLY_AST)``) on the smallest region
that holds the insertion: the top-level statement(s) around the cursor, from the
start of the first to the end of the line where the last one ends. It costs about a
millisecond, not a whole-file parse, and it catches what tree-sitter's tolerant parse
lets through: a block opener with no body, a statement indented into a ``try`` before
its ``except``, a dedent that orphans an ``else``.

* The region compiled before the insertion: it must compile after it.
* It did not (the user is mid-edit): the insertion may not add a new problem, so the
  region must compile afterwards or fail with the same message at the same place.

Other languages keep tree-sitter's verdict (:func:`plan.adds_syntax_error`).
"""

from __future__ import annotations

import ast
import warnings

import tree_sitter

from reason_lsp.features.completion import plan as planning
from reason_lsp.text.positions import encode

#: Python statements that end in ":" and need an indented body.
COMPOUND = frozenset((
    "if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class",
    "async", "match", "case",
))  # fmt: skip


def region(text: str, offset: int, tree: tree_sitter.Tree | None) -> tuple[int, int]:
    """Character span of the top-level statements around ``offset`` (whole lines)."""
    if tree is None:
        return 0, len(text)
    data = encode(text)
    byte = len(encode(text[:offset]))
    root = tree.root_node
    nodes = [n for n in root.children if n.start_byte <= byte <= n.end_byte]
    if not nodes:  # between statements: the neighbours on both sides
        before = [n for n in root.children if n.end_byte <= byte]
        after = [n for n in root.children if n.start_byte >= byte]
        nodes = before[-1:] + after[:1]
    if not nodes:
        return 0, len(text)
    start_b, end_b = nodes[0].start_byte, nodes[-1].end_byte
    start = len(data[:start_b].decode("utf-8", "replace"))
    end = len(data[:end_b].decode("utf-8", "replace"))
    start = text.rfind("\n", 0, min(start, offset)) + 1
    newline = text.find("\n", max(end, offset))
    return start, len(text) if newline < 0 else newline + 1


def _problem(source: str) -> tuple[str, int] | None:
    """CPython's complaint about ``source`` (message, line), or None if it compiles."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like are not errors
            compile(source, "<completion>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        return str(exc.msg), exc.lineno or 0
    except (ValueError, RecursionError, MemoryError):  # NUL bytes, absurd nesting
        return "unparsable", 0
    return None


def breaks_python(text: str, offset: int, completion: str, tree: tree_sitter.Tree | None) -> bool:
    """True when inserting ``completion`` at ``offset`` makes CPython reject the region."""
    start, end = region(text, offset, tree)
    before = text[start:end]
    at = offset - start
    after = before[:at] + completion + before[at:]
    was = _problem(before)
    now = _problem(after)
    if now is None:
        return False
    if was is None:
        return True
    # Mid-edit: the same complaint at the same place (lines after the insertion shift).
    shift = completion.count("\n")
    cursor_line = before.count("\n", 0, at) + 1
    was_line = was[1] + shift if was[1] > cursor_line else was[1]
    return (now[0], now[1]) != (was[0], was_line)


def breaks(
    language: str | None,
    text: str,
    offset: int,
    completion: str,
    tree: tree_sitter.Tree | None,
    parser: tree_sitter.Parser | None,
) -> bool:
    """The judge for ``language``: CPython for Python, tree-sitter for the others."""
    if language == "python":
        return breaks_python(text, offset, completion, tree)
    if tree is None or parser is None:
        return False
    return planning.adds_syntax_error(text, offset, completion, tree, parser)


def opens_block(language: str | None, line: str) -> bool:
    """Does this (last) line of a completion open a block that needs a body?"""
    code = line.split("#", 1)[0].rstrip() if language == "python" else line.rstrip()
    if language == "python":
        words = code.split(None, 1)
        return code.endswith(":") and bool(words) and words[0].rstrip(":") in COMPOUND
    return code.endswith("{")
