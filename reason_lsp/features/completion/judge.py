"""Whether a completion breaks the code: the language's own judge.

Python gets CPython's own compiler (``compile(..., "exec")``, which also finds
``continue`` outside a loop and the like) on the smallest region that holds the
insertion: the top-level statement(s) around the cursor, from the
start of the first to the end of the line where the last one ends. It costs about a
millisecond, not a whole-file parse, and it catches what tree-sitter's tolerant parse
lets through: a block opener with no body, a statement indented into a ``try`` before
its ``except``, a dedent that orphans an ``else``.

The region must compile after the insertion, unless an unchanged problem above the
cursor line (which no completion could fix) is what stops it.

Other languages keep tree-sitter's verdict (:func:`plan.adds_syntax_error`).
"""

from __future__ import annotations

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
    """CPython's complaint about ``source`` (message, line), or None if it compiles.

    A full compile, not only the parse: ``continue`` outside a loop, ``return``
    outside a function and the like are errors the bytecode compiler finds."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like are not errors
            compile(source, "<completion>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return str(exc.msg), exc.lineno or 0
    except (ValueError, RecursionError, MemoryError):  # NUL bytes, absurd nesting
        return "unparsable", 0
    return None


def breaks_python(text: str, offset: int, completion: str, tree: tree_sitter.Tree | None) -> bool:
    """True when inserting ``completion`` at ``offset`` leaves a region CPython rejects.

    The region must compile afterwards. The one exception is a problem *above* the
    cursor line that was there before and is unchanged: the completion could not have
    fixed it. A problem at or below the cursor counts against the completion, even if
    it was there before: it did not finish what the line needs (a deleted block opener
    left its body orphaned, say), so showing it would leave broken code.
    """
    start, end = region(text, offset, tree)
    before = text[start:end]
    at = offset - start
    now = _problem(before[:at] + completion + before[at:])
    if now is None:
        return False
    was = _problem(before)
    cursor_line = before.count("\n", 0, at) + 1
    return not (was is not None and was == now and was[1] < cursor_line)


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
