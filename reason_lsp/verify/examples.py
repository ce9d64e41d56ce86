"""Verification's pure core: which function, and which examples check it.

Nothing here runs code. With a tree-sitter tree of a Python file it:

- finds the function at a position (:func:`find_function`) and whether its body
  is a stub: ``...``, ``pass``, ``raise NotImplementedError`` or a docstring only;
- extracts the docstring's doctests (``doctest.DocTestParser``,
  :func:`doctest_examples`); the workspace's tests are
  :mod:`reason_lsp.verify.workspace_tests`, prose examples :mod:`reason_lsp.verify.prose`;
- the program that runs them is :mod:`reason_lsp.verify.program`.
"""

from __future__ import annotations

import ast
import doctest
from dataclasses import dataclass
from pathlib import Path

import tree_sitter

from reason_lsp.text.positions import TextIndex, encode


@dataclass(frozen=True)
class Target:
    """A function definition and the span its body occupies (character offsets)."""

    name: str
    start: int  # the ``def`` keyword (or its first decorator)
    header_end: int  # where the body to write starts (after signature and docstring)
    body_end: int  # end of the function's last statement
    indent: str  # indentation of the body
    stub: str | None  # "ellipsis" | "pass" | "NotImplementedError" | "docstring" | None
    docstring: str | None
    docstring_line: int  # 0-based line of the docstring literal's opening quotes
    params: tuple[str, ...] = ()  # the names a call may pass by keyword

    def prompt_prefix(self, text: str) -> str:
        """The file up to the end of the signature and docstring, ending at a line start."""
        head = text[: self.header_end]
        return head if head.endswith("\n") else head + "\n"

    def suffix(self, text: str) -> str:
        return text[self.body_end :]

    def insert(self, text: str, body: str) -> str:
        """``text`` with the function's body replaced by ``body`` (indented lines)."""
        return self.prompt_prefix(text) + body.rstrip() + self.suffix(text)


@dataclass(frozen=True)
class Example:
    """One check: a doctest (source + expected output), an ``assert`` from a test, a
    whole test function (its definition and its call), or a call and the literal
    result the docstring's prose gives (:mod:`.prose`)."""

    kind: str  # "doctest" | "assert" | "test" (a whole test function) | "call"
    source: str
    want: str = ""
    exc_msg: str | None = None
    flags: int = 0
    line: int = 0  # 0-based line of the example in ``path`` (or in the document)
    path: str | None = None  # None: the document itself
    #: Written by the model (CodeT's assertions): it ranks candidates, never verifies one.
    generated: bool = False

    def label(self) -> str:
        if self.generated:
            return f"{self.source.strip()} (model-written)"
        where = f"{Path(self.path).name}:{self.line + 1}" if self.path else f"line {self.line + 1}"
        return f"{self.source.strip().splitlines()[0]} ({where})"


# ---- the function -------------------------------------------------------------------


def _text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _docstring_node(block: tree_sitter.Node | None) -> tree_sitter.Node | None:
    if block is None:
        return None
    first = next((c for c in block.named_children if c.type != "comment"), None)
    if first is not None and first.type == "expression_statement" and first.named_child_count:
        value = first.named_children[0]
        if value.type == "string":
            return first
    return None


def _stub_kind(statements: list[tree_sitter.Node]) -> str | None:
    if not statements:
        return "docstring"
    if len(statements) != 1:
        return None
    node = statements[0]
    if node.type == "pass_statement":
        return "pass"
    if node.type == "expression_statement" and [c.type for c in node.named_children] == [
        "ellipsis"
    ]:
        return "ellipsis"
    if node.type == "raise_statement" and node.named_child_count:
        raised = node.named_children[0]
        if raised.type == "call":
            raised = raised.child_by_field_name("function") or raised
        if _text(raised) == "NotImplementedError":
            return "NotImplementedError"
    return None


def docstring_value(node: tree_sitter.Node) -> str:
    """The string a docstring literal evaluates to (its raw content if it cannot be)."""
    raw = _text(node)
    try:
        value = ast.literal_eval(raw)
        if isinstance(value, str):
            return value
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    content = [c for c in node.children if c.type == "string_content"]
    return "".join(_text(c) for c in content)


def target_of(node: tree_sitter.Node, text: str, index: TextIndex) -> Target:
    """Describe one ``function_definition`` node."""
    block = node.child_by_field_name("body")
    doc = _docstring_node(block)
    statements = [
        c for c in (block.named_children if block else []) if c.type != "comment" and c != doc
    ]
    if doc is not None:
        end = index.offset_at_byte(doc.end_byte)
        newline = text.find("\n", end)
        header_end = len(text) if newline < 0 else newline + 1
    else:
        colon = next((c for c in node.children if c.type == ":"), None)
        end_byte = colon.end_byte if colon is not None else (block or node).start_byte
        header_end = index.offset_at_byte(end_byte)
        newline = text.find("\n", header_end)
        rest = text[header_end : newline if newline >= 0 else len(text)]
        if not rest.strip() or rest.strip().startswith("#"):
            header_end = len(text) if newline < 0 else newline + 1
    first = block.named_children[0] if block is not None and block.named_child_count else None
    if first is not None and first.start_point[0] > node.start_point[0]:
        line = index.line_text(first.start_point[0])
        indent = line[: len(line) - len(line.lstrip(" \t"))]
    else:
        outer = index.line_text(node.start_point[0])
        indent = outer[: len(outer) - len(outer.lstrip(" \t"))] + "    "
    params = node.child_by_field_name("parameters")
    start_node = node.parent if node.parent and node.parent.type == "decorated_definition" else node
    name = node.child_by_field_name("name")
    doc_string = doc.named_children[0] if doc is not None else None
    return Target(
        name=_text(name) if name is not None else "",
        start=index.offset_at_byte(start_node.start_byte),
        header_end=header_end,
        body_end=max(header_end, index.offset_at_byte(node.end_byte)),
        indent=indent,
        stub=_stub_kind(statements),
        docstring=docstring_value(doc_string) if doc_string is not None else None,
        docstring_line=doc_string.start_point[0] if doc_string is not None else 0,
        params=tuple(_parameter_names(params)) if params is not None else (),
    )


def _parameter_names(parameters: tree_sitter.Node) -> list[str]:
    names = []
    for child in parameters.named_children:
        if child.type == "identifier":
            names.append(_text(child))
        elif child.type in ("typed_parameter", "default_parameter", "typed_default_parameter"):
            first = child.child_by_field_name("name") or (
                child.named_children[0] if child.named_child_count else None
            )
            if first is not None and first.type == "identifier":
                names.append(_text(first))
    return names


def find_function(text: str, tree: tree_sitter.Tree | None, offset: int) -> Target | None:
    """The innermost function whose definition (decorators included) spans ``offset``."""
    if tree is None:
        return None
    index = TextIndex(text)
    byte = len(encode(text[: max(0, min(offset, len(text)))]))
    node = tree.root_node.descendant_for_byte_range(byte, byte)
    if node is not None and node.type == "module":
        # At the end of a line after a function, the cursor is outside any node.
        node = tree.root_node.descendant_for_byte_range(max(0, byte - 1), max(0, byte - 1))
    while node is not None:
        if node.type == "function_definition":
            return target_of(node, text, index)
        if node.type == "decorated_definition":
            inner = node.child_by_field_name("definition")
            if inner is not None and inner.type == "function_definition":
                return target_of(inner, text, index)
        node = node.parent
    return None


# ---- examples -----------------------------------------------------------------------


def doctest_examples(target: Target) -> list[Example]:
    """The ``>>>`` examples of the function's docstring, with their document lines."""
    if not target.docstring or ">>>" not in target.docstring:
        return []
    try:
        found = doctest.DocTestParser().get_examples(target.docstring, target.name)
    except ValueError:  # inconsistent indentation and the like
        return []
    out = []
    for ex in found:
        flags = 0
        for flag, on in ex.options.items():
            flags = flags | flag if on else flags & ~flag
        out.append(
            Example("doctest", ex.source, ex.want, ex.exc_msg, flags,
                    target.docstring_line + ex.lineno)
        )  # fmt: skip
    return out


def module_names(tree: tree_sitter.Tree) -> set[str]:
    """Names a module defines at top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in tree.root_node.named_children:
        if node.type == "decorated_definition":
            node = node.child_by_field_name("definition") or node
        if node.type in ("function_definition", "class_definition"):
            name = node.child_by_field_name("name")
            if name is not None:
                names.add(_text(name))
        elif node.type == "expression_statement" and node.named_child_count:
            left = node.named_children[0].child_by_field_name("left")
            if left is not None:
                names |= {_text(n) for n in _identifiers(left)}
        elif "import" in node.type:
            for child in node.named_children:
                if child.type == "aliased_import":
                    alias = child.child_by_field_name("alias")
                    names.add(_text(alias) if alias is not None else "")
                elif child.type == "dotted_name" and child.named_child_count:
                    names.add(_text(child.named_children[0]))
    return names


def _identifiers(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    """Identifier nodes that are names (not ``x.attr`` fields or ``f(key=...)`` keys)."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if n.type == "identifier":
            out.append(n)
            continue
        for i, child in enumerate(n.children):
            field_name = n.field_name_for_child(i)
            if (n.type == "attribute" and field_name == "attribute") or (
                n.type == "keyword_argument" and field_name == "name"
            ):
                continue
            stack.append(child)
    return out
