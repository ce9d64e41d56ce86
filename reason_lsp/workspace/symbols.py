"""What one file holds, from its tree-sitter tree: definitions, imports, window tokens.

Pure and picklable, so the workspace build can run it in a worker process. A
definition is kept as byte offsets into the file (its signature and its first
docstring or comment line), not as text: the index of a 10,000-file workspace stays
small, and the text is read back only for the few definitions a prompt shows.

Definitions are functions, classes (and structs, interfaces, traits, ...), their
methods, and module-level names. Imports are Python's (absolute and relative), the
relative ones of JavaScript/TypeScript, and C/C++ ``#include "..."``; resolving them
to files is the index's job. Window tokens: the identifiers of each 60-line window
(every 30 lines), as 32-bit CRCs, for the similarity search.
"""

from __future__ import annotations

import keyword
import re
import sys
import zlib
from array import array
from dataclasses import dataclass
from typing import NamedTuple

import tree_sitter

from reason_lsp.text import languages

WINDOW_LINES = 60
WINDOW_STRIDE = 30

FUNCTION, CLASS, METHOD, VARIABLE = range(4)
PATH_IMPORT = -1
KIND_NAMES = ("function", "class", "method", "variable")
#: Ints per definition in :attr:`Facts.defs`.
FIELDS = 7  # kind, parent (index + 1, 0 = none), row, sig_start, sig_end, doc_start, doc_end

_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]+")
#: Words too common in code to say anything about similarity.
STOP_WORDS = frozenset(
    w.encode()
    for w in (
        *keyword.kwlist, "self", "cls", "const", "let", "var", "function", "fn", "func",
        "int", "void", "char", "public", "private", "protected", "static", "new", "this",
        "null", "true", "false", "nil", "mut", "pub", "impl", "struct", "string", "bool",
        "err", "ok", "len", "str", "isinstance", "args", "kwargs", "typeof", "undefined",
        "std", "unsigned", "long", "float", "double", "auto", "package", "export",
    )
)  # fmt: skip

_CLASS_TYPES = frozenset(
    {
        "class_definition", "class_declaration", "class_specifier", "struct_specifier",
        "struct_item", "enum_item", "trait_item", "impl_item", "interface_declaration",
        "enum_declaration", "record_declaration", "type_declaration", "abstract_class_declaration",
    }
)  # fmt: skip
_FUNCTION_TYPES = frozenset(
    {
        "function_definition", "function_declaration", "function_item", "method_declaration",
        "method_definition", "constructor_declaration", "generator_function_declaration",
        "function_signature_item", "method_signature",
    }
)  # fmt: skip
_CONTAINERS = frozenset(
    {
        "if_statement", "try_statement", "with_statement", "else_clause", "except_clause",
        "finally_clause", "block", "export_statement", "declaration_list", "namespace_definition",
        "preproc_ifdef", "preproc_if", "preproc_else", "linkage_specification", "program",
    }
)  # fmt: skip
_VARIABLE_TYPES = frozenset(
    {
        "lexical_declaration", "variable_declaration", "const_item", "static_item",
        "const_declaration", "declaration",
    }
)  # fmt: skip


class Import(NamedTuple):
    """One name an import binds: ``from {module} import {name} as {alias}`` (Python), with
    ``level`` leading dots; ``name`` is "" for ``import module as alias`` and "*" for a
    star import. For JavaScript and C, ``module`` is the quoted path and ``level`` is
    :data:`PATH_IMPORT`."""

    module: str
    name: str
    alias: str
    level: int = 0

    @classmethod
    def of(cls, module: str, name: str, alias: str, level: int = 0) -> Import:
        # Interned: a workspace repeats the same few module names thousands of times.
        return cls(sys.intern(module), sys.intern(name), sys.intern(alias), level)


@dataclass(slots=True)
class Facts:
    """Everything the index keeps of one file."""

    language: str
    lines: int
    names: tuple[str, ...]
    defs: array  # FIELDS ints per definition
    imports: tuple[Import, ...]
    windows: tuple[array, ...]  # token CRCs of the window starting at line i * WINDOW_STRIDE

    def definition(self, i: int) -> tuple[int, ...]:
        return tuple(self.defs[i * FIELDS : (i + 1) * FIELDS])

    def find(self, name: str, parent: int = 0) -> int:
        """Index of the definition ``name`` (top level, or a member of ``parent`` - 1)."""
        for i, n in enumerate(self.names):
            if n == name and self.defs[i * FIELDS + 1] == parent:
                return i
        return -1

    def members(self, parent: int) -> list[int]:
        return [i for i in range(len(self.names)) if self.defs[i * FIELDS + 1] == parent]


def token_set(data: bytes) -> set[int]:
    """The identifiers of ``data`` (two characters or more, stop words left out), as CRCs."""
    crc = zlib.crc32
    return {crc(w) for w in set(_WORD.findall(data)) if w not in STOP_WORDS}


def window_starts(lines: int, stride: int = WINDOW_STRIDE) -> range:
    return range(0, max(1, lines - WINDOW_LINES + stride), stride)


def window_tokens(data: bytes, stride: int = WINDOW_STRIDE) -> tuple[tuple[array, ...], int]:
    """Token sets of the windows starting every ``stride`` lines (each tokenized once as
    ``stride``-line chunks, then united), and the line count."""
    lines = data.split(b"\n")
    chunks = [token_set(b"\n".join(lines[i : i + stride])) for i in range(0, len(lines), stride)]
    per = WINDOW_LINES // stride
    windows = []
    for start in window_starts(len(lines), stride):
        k = start // stride
        merged = set().union(*chunks[k : k + per]) if chunks else set()
        windows.append(array("I", merged))
    return tuple(windows), len(lines)


def extract(
    data: bytes,
    language: str | None,
    tree: tree_sitter.Tree | None = None,
    windows: bool = True,
) -> Facts:
    """The facts of one file (``tree`` may be given when the caller has it already;
    ``windows=False`` leaves the window tokens out, for a document being edited)."""
    tokens, lines = window_tokens(data) if windows else ((), data.count(b"\n") + 1)
    collector = _Collector(data)
    if tree is None and language is not None:
        parser = languages.parser_for(language)
        tree = parser.parse(data) if parser is not None else None
    if tree is not None:
        if language == "python":
            collector.python_block(tree.root_node, 0)
        else:
            collector.generic_block(tree.root_node, 0, language or "")
    return Facts(
        language or "",
        lines,
        tuple(collector.names),
        collector.defs,
        tuple(collector.imports),
        tokens,
    )


class _Collector:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.names: list[str] = []
        self.defs = array("I")
        self.imports: list[Import] = []

    def text(self, node: tree_sitter.Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def add(
        self,
        name: str,
        kind: int,
        parent: int,
        node: tree_sitter.Node,
        sig_end: int,
        doc: tree_sitter.Node | None,
    ) -> int:
        doc_span = (doc.start_byte, doc.end_byte) if doc is not None else (0, 0)
        self.names.append(sys.intern(name))  # names repeat across files
        self.defs.extend((kind, parent, node.start_point.row, node.start_byte, sig_end, *doc_span))
        return len(self.names)  # this definition's number as a parent

    # -- Python ---------------------------------------------------------------------

    def python_block(self, block: tree_sitter.Node, parent: int) -> None:
        for node in block.named_children:
            inner = node.child_by_field_name("definition") or node
            if inner.type in ("function_definition", "class_definition"):
                self.python_definition(inner, parent, node)
            elif parent == 0 and node.type in ("import_statement", "import_from_statement"):
                self.python_import(node)
            elif node.type == "expression_statement" and node.named_children:
                self.python_assignment(node, parent)
            elif parent == 0 and node.type in _CONTAINERS:  # if TYPE_CHECKING:, try: ...
                for block in _blocks(node):
                    self.python_block(block, 0)

    def python_definition(
        self, node: tree_sitter.Node, parent: int, outer: tree_sitter.Node
    ) -> None:
        """A function or class; ``outer`` is the decorated definition around it, if any
        (the signature starts at its decorators: ``@property`` changes how it is used)."""
        name = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        if name is None or body is None:
            return
        is_class = node.type == "class_definition"
        kind = CLASS if is_class else (METHOD if parent else FUNCTION)
        first = body.named_children[0] if body.named_children else None
        doc = None
        if (
            first is not None
            and first.type == "expression_statement"
            and first.named_children
            and first.named_children[0].type == "string"
        ):
            doc = first.named_children[0]
        number = self.add(self.text(name), kind, parent, outer, body.start_byte, doc)
        if is_class and parent == 0:
            self.python_block(body, number)

    def python_assignment(self, node: tree_sitter.Node, parent: int) -> None:
        target = node.named_children[0]
        if target.type != "assignment":
            return
        left = target.child_by_field_name("left")
        if left is None or left.type != "identifier":
            return
        end = node.end_byte
        newline = self.data.find(b"\n", node.start_byte, end)
        self.add(self.text(left), VARIABLE, parent, node, end if newline < 0 else newline, None)

    def python_import(self, node: tree_sitter.Node) -> None:
        if node.type == "import_statement":
            for item in node.children_by_field_name("name"):
                if item.type == "aliased_import":
                    module = self.text(item.child_by_field_name("name"))
                    alias = self.text(item.child_by_field_name("alias"))
                    self.imports.append(Import.of(module, "", alias))
                else:
                    module = self.text(item)
                    self.imports.append(Import.of(module, "", module))
            return
        source = node.child_by_field_name("module_name")
        if source is None:
            return
        level, module = 0, ""
        if source.type == "relative_import":
            for part in source.named_children:
                if part.type == "import_prefix":
                    level = self.text(part).count(".")
                else:
                    module = self.text(part)
        else:
            module = self.text(source)
        if any(child.type == "wildcard_import" for child in node.children):
            self.imports.append(Import.of(module, "*", "", level))
        for item in node.children_by_field_name("name"):
            if item.type == "aliased_import":
                name = self.text(item.child_by_field_name("name"))
                alias = self.text(item.child_by_field_name("alias"))
            else:
                name = alias = self.text(item)
            self.imports.append(Import.of(module, name, alias, level))

    # -- other languages ----------------------------------------------------------------

    def generic_block(
        self,
        block: tree_sitter.Node,
        parent: int,
        language: str,
        previous: tree_sitter.Node | None = None,
    ) -> None:
        for node in block.named_children:
            doc = previous if previous is not None and previous.type == "comment" else None
            previous = node
            kind = (
                CLASS if node.type in _CLASS_TYPES
                else (METHOD if parent else FUNCTION) if node.type in _FUNCTION_TYPES
                else VARIABLE if node.type in _VARIABLE_TYPES and parent == 0
                else None
            )  # fmt: skip
            if kind is not None:
                self.generic_definition(node, kind, parent, doc, language)
            elif node.type in ("import_statement", "preproc_include") and parent == 0:
                self.generic_import(node)
            elif node.type in _CONTAINERS and parent == 0:
                self.generic_block(node, 0, language, doc)  # export: the comment above it

    def generic_definition(
        self,
        node: tree_sitter.Node,
        kind: int,
        parent: int,
        doc: tree_sitter.Node | None,
        language: str,
    ) -> None:
        name = _name_of(node)
        body = node.child_by_field_name("body")
        if name is None:
            if kind == VARIABLE or node.type == "type_declaration":
                for child in node.named_children:  # const x = ..., type T struct {...}
                    inner = _name_of(child)
                    if inner is not None:
                        end = self.data.find(b"\n", child.start_byte, child.end_byte)
                        end = child.end_byte if end < 0 else end
                        self.add(self.text(inner), kind, parent, node, end, doc)
            return
        sig_end = body.start_byte if body is not None else node.end_byte
        number = self.add(self.text(name), kind, parent, node, sig_end, doc)
        if kind == CLASS and parent == 0 and body is not None:
            self.generic_block(body, number, language)

    def generic_import(self, node: tree_sitter.Node) -> None:
        source = node.child_by_field_name("source") or node.child_by_field_name("path")
        if source is None or source.type not in ("string", "string_literal"):
            return
        path = self.text(source).strip("\"'`")
        if path.startswith(".") or node.type == "preproc_include":
            self.imports.append(Import.of(path, "*", "", PATH_IMPORT))


def _blocks(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    """The blocks of a compound statement, its ``else``/``except``/... clauses included."""
    found = []
    for child in node.named_children:
        if child.type == "block":
            found.append(child)
        elif child.type.endswith("_clause"):
            found.extend(_blocks(child))
    return found


def _name_of(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The defined name: the ``name`` field, else the identifier inside the declarator."""
    name = node.child_by_field_name("name")
    if name is not None:
        return name
    declarator = node.child_by_field_name("declarator") or node.child_by_field_name("type")
    while declarator is not None:
        if declarator.type in ("identifier", "field_identifier", "type_identifier"):
            return declarator
        inner = declarator.child_by_field_name("declarator") or declarator.child_by_field_name(
            "name"
        )
        if inner is None:
            ids = [c for c in declarator.named_children if c.type.endswith("identifier")]
            return ids[0] if ids else None
        declarator = inner
    return None
