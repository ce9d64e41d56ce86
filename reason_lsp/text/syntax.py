"""Syntax problems read off a tree-sitter tree (pure functions, byte offsets).

tree-sitter marks what it could not parse with ERROR nodes (tokens it skipped)
and MISSING nodes (zero-width tokens it invented to recover). This module turns
them into :class:`SyntaxProblem` values narrowed to the offending token, with a
message a person can act on:

* a MISSING node: ``missing ")"`` (or ``missing identifier`` for named nodes);
* an ERROR with an unbalanced bracket: ``"(" was never closed`` / ``unmatched ")"``;
* an ERROR holding nested ERRORs: the nested ones are reported instead;
* a Python block header without its colon: ``expected ":"``;
* an ERROR that stops at the end of a line: ``unexpected end of line after "+"``;
* otherwise: ``unexpected "else"`` on the token the parser could not place.

Positions stay in bytes here; :mod:`reason_lsp.text.diagnostics` converts them.
Later issues add other tree queries (completion context, enclosing function).
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter

MAX_PROBLEMS = 100
MAX_TOKENS = 20_000  # tokens examined per ERROR node (a huge one stays cheap)
MAX_NESTING = 32
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_PY_BLOCK_KEYWORDS = frozenset(
    [
        "if",
        "elif",
        "else",
        "for",
        "while",
        "def",
        "class",
        "with",
        "try",
        "except",
        "finally",
        "match",
        "case",
        "async",
    ]
)
_QUOTES = frozenset(("'", '"', "`", '"""', "'''"))


@dataclass(frozen=True)
class SyntaxProblem:
    start_byte: int
    end_byte: int
    message: str
    code: str  # "syntax-error" or "missing-token"


def _show(text: bytes, limit: int = 30) -> str:
    s = text.decode("utf-8", "replace").replace("\n", "\\n").replace("\r", "\\r")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _leaves(node: tree_sitter.Node, limit: int = MAX_TOKENS) -> list[tree_sitter.Node]:
    """The first ``limit`` leaf tokens under ``node`` in source order (iterative:
    error trees can be deeper than Python's recursion limit)."""
    out: list[tree_sitter.Node] = []
    stack = [node]
    while stack and len(out) < limit:
        current = stack.pop()
        if current.child_count == 0:
            out.append(current)
        else:
            stack.extend(reversed(current.children))
    return out


def _unbalanced(tokens: list[tree_sitter.Node]) -> tuple[tree_sitter.Node, str] | None:
    stack: list[tree_sitter.Node] = []
    for tok in tokens:
        if tok.is_missing or tok.child_count:
            continue
        kind = tok.type
        if kind in _OPEN:
            stack.append(tok)
        elif kind in _CLOSE:
            if stack and stack[-1].type == _CLOSE[kind]:
                stack.pop()
            else:
                return tok, f'unmatched "{kind}"'
    if stack:
        return stack[0], f'"{stack[0].type}" was never closed'
    return None


def _at_line_end(source: bytes, byte: int) -> bool:
    rest = source[byte : byte + 256].lstrip(b" \t")
    return not rest or rest[:1] in (b"\n", b"\r", b"#") or rest.startswith(b"//")


def _explain_error(
    node: tree_sitter.Node, source: bytes, language: str, depth: int = 0
) -> list[SyntaxProblem]:
    tokens = [t for t in _leaves(node) if not t.is_missing]
    if not tokens or node.start_byte == node.end_byte:
        where = node.start_byte
        if where >= len(source.rstrip()):
            return [SyntaxProblem(where, where, "unexpected end of file", "syntax-error")]
        return [SyntaxProblem(where, where, "invalid syntax", "syntax-error")]

    bracket = _unbalanced(tokens)
    if bracket is not None:
        tok, message = bracket
        return [SyntaxProblem(tok.start_byte, tok.end_byte, message, "syntax-error")]

    nested = [c for c in node.children if c.is_error or c.has_error]
    if nested and depth < MAX_NESTING:
        found: list[SyntaxProblem] = []
        for child in nested:
            found.extend(_problems_in(child, source, language, depth + 1))
        if found:
            return found

    first = tokens[0]
    if len(tokens) == 1:
        text = first.text or b""
        message = "unterminated string" if _show(text) in _QUOTES else f'unexpected "{_show(text)}"'
        return [SyntaxProblem(first.start_byte, first.end_byte, message, "syntax-error")]

    first_line = [t for t in tokens if t.start_point.row == first.start_point.row]
    last = first_line[-1]
    if (
        language == "python"
        and first.type in _PY_BLOCK_KEYWORDS
        and not any(t.type == ":" for t in first_line)
    ):
        return [SyntaxProblem(last.start_byte, last.end_byte, 'expected ":"', "syntax-error")]
    if last is not tokens[-1] or _at_line_end(source, last.end_byte):
        message = f'unexpected end of line after "{_show(last.text or b"")}"'
        return [SyntaxProblem(last.start_byte, last.end_byte, message, "syntax-error")]
    last = tokens[-1]
    message = f'unexpected "{_show(last.text or b"")}"'
    return [SyntaxProblem(last.start_byte, last.end_byte, message, "syntax-error")]


def _problems_in(
    node: tree_sitter.Node, source: bytes, language: str, depth: int = 0
) -> list[SyntaxProblem]:
    found: list[SyntaxProblem] = []
    stack = [node]
    while stack and len(found) < MAX_PROBLEMS:
        current = stack.pop()
        if current.is_error:
            found.extend(_explain_error(current, source, language, depth))
        elif current.is_missing:
            kind = current.type
            what = kind.replace("_", " ") if current.is_named else f'"{kind}"'
            start = current.start_byte
            found.append(SyntaxProblem(start, start, f"missing {what}", "missing-token"))
        elif current.has_error:
            children = [c for c in current.children if c.has_error or c.is_missing]
            stack.extend(reversed(children))
    return found


def syntax_problems(
    tree: tree_sitter.Tree, source: bytes, language: str = ""
) -> list[SyntaxProblem]:
    """All syntax problems in ``tree`` (parsed from ``source``), in order, at most 100."""
    root = tree.root_node
    if not root.has_error:
        return []
    seen: set[tuple[int, int, str]] = set()
    out: list[SyntaxProblem] = []
    for problem in _problems_in(root, source, language):
        key = (problem.start_byte, problem.end_byte, problem.message)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out[:MAX_PROBLEMS]
