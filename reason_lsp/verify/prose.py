"""Examples a docstring states in prose, not as doctests: which calls, which results.

People write a function's examples in many shapes besides ``>>>``; these are read,
each as one :class:`~reason_lsp.verify.examples.Example` of kind ``"call"`` (a call
expression and the literal it should equal, compared with float tolerance by
:mod:`reason_lsp.verify.program`):

- a call, an arrow or a verb, a result: ``f(1, 2) == 3``, ``f(x) ==> y``,
  ``f(x) => y``, ``f(x) -> y``, ``f(x) ➞ y``, ``f(x) # => y``, ``f(x) returns y``,
  ``f(x) should return y``, ``f(x) = y``;
- ``Input: a = 1, b = [2]`` (or ``Input: [2]``) and, below it, ``Output: 3``;
- ``For a = [1, 2] the output should be 3``.

Only literals are taken (numbers, strings, containers, ``True``/``False``/``None``,
arithmetic on them): a result written in words, or an argument naming a variable,
makes no example. Keyword arguments must name the function's parameters. Nothing
here runs anything.
"""

from __future__ import annotations

import ast
import re

from reason_lsp.verify.examples import Example, Target

MAX_EXAMPLES = 20
MAX_LINE = 400

_ARROW = re.compile(
    r"\s*(?:==>|=>|->|➞|→|==|=|#\s*=+>|#\s*->|returns?|should\s+(?:return|be)|gives|is)\s*"
)
_INPUT = re.compile(r"^\s*(?:[-*]\s*)?input\s*:\s*(.+?)\s*$", re.IGNORECASE)
_OUTPUT = re.compile(r"^\s*(?:[-*]\s*)?output\s*:\s*(.+?)\s*$", re.IGNORECASE)
_FOR = re.compile(r"\bfor\s+(.+?),?\s+the\s+output\s+should\s+be\s+(.+?)\s*$", re.IGNORECASE)
_LITERAL_NODES = (
    ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp,
    ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
    ast.Pow, ast.Load, ast.expr_context,
)  # fmt: skip


def _literal(node: ast.AST) -> bool:
    return all(isinstance(n, _LITERAL_NODES) for n in ast.walk(node))


def _value(text: str) -> str | None:
    """The longest leading piece of ``text`` that is a literal ("24 # sum of…" → "24")."""
    text = text.strip()
    ends = [len(text)] + [i for i in range(len(text) - 1, 0, -1) if text[i] in " ,;.#("]
    for end in ends:
        piece = text[:end].strip().rstrip(".,;")
        if not piece:
            continue
        try:
            tree = ast.parse(piece, mode="eval")
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        if _literal(tree.body):
            return ast.unparse(tree.body)  # without a trailing comment
    return None


def _call(name: str, args: str, params: tuple[str, ...]) -> str | None:
    """``name(args)`` when it parses, passes literals only and names real parameters."""
    source = f"{name}({args.strip()})"
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        return None
    if any(k.arg is None or k.arg not in params for k in call.keywords):
        return None
    if not all(_literal(a) for a in [*call.args, *(k.value for k in call.keywords)]):
        return None
    return source


def _closing(line: str, start: int) -> int | None:
    """Index just past the parenthesis that closes the one at ``start`` (quotes respected)."""
    depth, quote, i = 0, "", start
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _inline(line: str, name: str, params: tuple[str, ...]) -> tuple[str, str] | None:
    """``f(x) ==> y`` on one line: (call, result)."""
    for match in re.finditer(rf"(?<![\w.]){re.escape(name)}\s*\(", line):
        end = _closing(line, match.end() - 1)
        if end is None:
            continue
        arrow = _ARROW.match(line, end)
        if arrow is None or arrow.end() == end:
            continue
        call = _call(name, line[match.end() : end - 1], params)
        rest = line[arrow.end() :]
        # "1 + 9 + 0 = 10": the last one is the result; a string result may hold "=".
        if "=" in rest and "==" not in rest and not rest.lstrip().startswith(("'", '"')):
            rest = rest.rsplit("=", 1)[1]
        value = _value(rest)
        if call is not None and value is not None:
            return call, value
    return None


def prose_examples(target: Target) -> list[Example]:
    """The prose examples of the function's docstring, with their document lines."""
    doc = target.docstring
    if not doc or not target.name:
        return []
    params = target.params
    lines = doc.split("\n")
    out: list[Example] = []
    seen: set[tuple[str, str]] = set()

    def add(call: str | None, value: str | None, line: int) -> None:
        if call is None or value is None or (call, value) in seen:
            return
        seen.add((call, value))
        out.append(Example("call", call, value, line=target.docstring_line + line))

    for i, line in enumerate(lines):
        if len(line) > MAX_LINE or line.lstrip().startswith((">>>", "...")):
            continue
        if found := _inline(line, target.name, params):
            add(*found, i)
        elif match := _INPUT.match(line):
            below = next((s for s in lines[i + 1 : i + 4] if s.strip()), "")
            if result := _OUTPUT.match(below):
                add(_call(target.name, match.group(1), params), _value(result.group(1)), i)
        elif match := _FOR.search(line):
            add(_call(target.name, match.group(1), params), _value(match.group(2)), i)
        if len(out) >= MAX_EXAMPLES:
            break
    return out
