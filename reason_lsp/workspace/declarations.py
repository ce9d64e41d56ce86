"""Declarations for a prompt: what the names near the cursor are, from other files.

For Python, a name near the cursor that an import of the document binds is followed
to the workspace file that defines it (``from m import f`` -> ``f`` in ``m.py``;
``mod.attr`` after ``import mod`` -> ``attr`` in ``mod``; ``mod.`` at the cursor -> the
module's outline), and so are the base classes of the class the cursor is in. For the
other languages, whose names often cross files without an import, a name defined at
the top level of one to three other files is taken from there.

Each declaration is rendered as a stub: the signature (whitespace collapsed) and the
first line of its docstring or comment; a class lists its members, a module its
top-level definitions. Closest names are chosen first while the budget lasts; in the
prompt, a file's stubs keep their source order so the block does not reshuffle while
the user types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import tree_sitter

from reason_lsp.workspace.build import Reader
from reason_lsp.workspace.index import Target, WorkspaceIndex
from reason_lsp.workspace.symbols import CLASS, FIELDS, VARIABLE, Facts

MAX_MEMBERS = 24
MAX_OUTLINE = 32
SIGNATURE_CHARS = 200
MEMBER_CHARS = 120
DOC_CHARS = 100
#: A base class of the enclosing class counts as this far from the cursor.
BASE_DISTANCE = 10_000

_CHAIN = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\.?")


@dataclass(frozen=True)
class Wanted:
    """A definition to show: a file and the qualified name in it (() = the module)."""

    rel: str
    qualname: tuple[str, ...]
    distance: int


@dataclass(frozen=True)
class Block:
    rel: str
    row: int  # where the definition starts in its file (source order; snippet overlap)
    text: str
    distance: int


def names_near(text: str, start: int, end: int, offset: int) -> list[tuple[str, int]]:
    """Dotted names in ``text[start:end]`` with their distance to ``offset``, closest first;
    a name typed up to a ``.`` keeps the dot."""
    found = [(m.group(), abs(offset - m.end())) for m in _CHAIN.finditer(text, start, end)]
    return sorted(found, key=lambda item: item[1])


def wanted(
    index: WorkspaceIndex,
    rel: str,
    facts: Facts,
    names: list[tuple[str, int]],
    bases: Iterable[str] = (),
) -> list[Wanted]:
    """The definitions the names near the cursor (closest first) refer to."""
    out: dict[tuple[str, tuple[str, ...]], int] = {}

    def keep(target_rel: str, qualname: tuple[str, ...], distance: int) -> None:
        if target_rel != rel and (target_rel, qualname) not in out:
            out[(target_rel, qualname)] = distance

    if facts.language == "python":
        bindings = {imp.alias: imp for imp in facts.imports if imp.alias}
        resolved: dict[str, Target | None] = {}
        chains = [*names, *((b, BASE_DISTANCE + i) for i, b in enumerate(bases))]
        for chain, distance in chains:
            parts = chain.rstrip(".").split(".")
            for k in range(len(parts), 0, -1):
                alias = ".".join(parts[:k])
                if alias in bindings:
                    break
            else:
                continue
            if alias not in resolved:
                resolved[alias] = index.resolve(rel, bindings[alias])
            target = resolved[alias]
            if target is None:
                continue
            attrs = parts[k:]
            if target.definition < 0 and attrs:  # module.attr
                member = index.member(target.rel, attrs[0])
                if member is not None:
                    target = member
            keep(target.rel, qualname_of(index, target), distance)
    else:
        for chain, distance in names:
            for name in chain.rstrip(".").split("."):
                defining = [f for f in index.defining(name) if f != rel]
                if 1 <= len(defining) <= 3:
                    for target_rel in defining:
                        keep(target_rel, (name,), distance)
    ranked = sorted(out.items(), key=lambda item: item[1])
    return [Wanted(r, q, d) for (r, q), d in ranked]


def qualname_of(index: WorkspaceIndex, target: Target) -> tuple[str, ...]:
    if target.definition < 0:
        return ()
    facts = index.files[target.rel].facts
    name = facts.names[target.definition]
    parent = facts.defs[target.definition * FIELDS + 1]
    return (facts.names[parent - 1], name) if parent else (name,)


def enclosing_bases(tree: tree_sitter.Tree | None, byte: int) -> list[str]:
    """The base classes (as written) of the Python class around ``byte``."""
    if tree is None:
        return []
    node: tree_sitter.Node | None = tree.root_node.descendant_for_byte_range(byte, byte)
    while node is not None and node.type != "class_definition":
        node = node.parent
    if node is None:
        return []
    bases = node.child_by_field_name("superclasses")
    if bases is None:
        return []
    return [
        (b.text or b"").decode("utf-8", "replace")
        for b in bases.named_children
        if b.type in ("identifier", "attribute")
    ]


def blocks(reader: Reader, want: list[Wanted], budget: int) -> list[Block]:
    """Stubs for ``want`` (closest first) within ``budget`` characters."""
    out: list[Block] = []
    used = 0
    files: set[str] = set()
    for item in want:
        left = budget - used - (0 if item.rel in files else len(item.rel) + 12) - 1
        if left <= 0:
            break
        got = reader.read(item.rel)
        if got is None:
            continue
        entry, data = got
        facts = entry.facts
        if item.qualname:
            i = facts.find(item.qualname[0])
            if i < 0:
                continue
            text, row = render(data, facts, i, limit=left), facts.defs[i * FIELDS + 2]
        else:
            text, row = outline(data, facts, left), 0
        if not text or len(text) > left:
            continue
        used += len(text) + 1 + (0 if item.rel in files else len(item.rel) + 12)
        files.add(item.rel)
        out.append(Block(item.rel, row, text, item.distance))
    return out


def render(
    data: bytes, facts: Facts, i: int, indent: str = "", members: bool = True, limit: int = 10**9
) -> str:
    """One definition as a stub; a class with as many of its public members as fit in
    ``limit`` characters (``__init__`` first)."""
    kind, _parent, _row, start, end, doc_start, doc_end = facts.definition(i)
    python = facts.language == "python"
    member = bool(indent)
    decorators, signature = split_signature(
        data[start:end].decode("utf-8", "replace"), MEMBER_CHARS if member else SIGNATURE_CHARS
    )
    # A member shows its signature only: more members fit, and the class says what it is.
    doc = doc_line(data[doc_start:doc_end].decode("utf-8", "replace")) if doc_end else ""
    doc = "" if member else doc
    inner = indent + "    "
    lines = [indent + d for d in decorators[:2]]
    if not python:
        if doc:
            lines.append(f"{indent}// {doc}")
        lines.append(indent + signature)
    elif kind == VARIABLE:
        lines.append(indent + signature)
    else:
        signature = signature if signature.endswith(":") else signature + ":"
        lines.append(indent + signature)
        if doc:
            lines.append(f'{inner}"""{doc}"""')
    head = len(lines)
    if kind == CLASS and members:
        size = sum(len(line) + 1 for line in lines)
        for m in _public(facts, facts.members(i + 1))[:MAX_MEMBERS]:
            stub = render(data, facts, m, inner, members=False)
            if size + len(stub) + 1 > limit:
                break
            lines.append(stub)
            size += len(stub) + 1
    if python and kind != VARIABLE and len(lines) == head and not doc:
        lines[-1] += " ..."
    return "\n".join(lines)


def _public(facts: Facts, members: list[int]) -> list[int]:
    names = facts.names
    init = [m for m in members if names[m] == "__init__"]
    return init + [m for m in members if not names[m].startswith("_")]


def outline(data: bytes, facts: Facts, limit: int = 10**9) -> str:
    """A module's public top-level definitions, classes without their members, as many
    as fit in ``limit`` characters."""
    lines: list[str] = []
    size = 0
    for i in _public(facts, facts.members(0))[:MAX_OUTLINE]:
        stub = render(data, facts, i, members=False)
        if size + len(stub) + 1 > limit:
            break
        lines.append(stub)
        size += len(stub) + 1
    return "\n".join(lines)


def split_signature(text: str, cap: int = 200) -> tuple[list[str], str]:
    """Decorator lines, and the signature on one line (whitespace collapsed, capped)."""
    decorators = []
    lines = text.strip().split("\n")
    while len(lines) > 1 and lines[0].lstrip().startswith("@"):
        decorators.append(" ".join(lines.pop(0).split()))
    signature = " ".join(" ".join(lines).split())
    signature = re.sub(r"([(\[{]) ", r"\1", signature)
    signature = re.sub(r",? ([)\]}])", r"\1", signature)
    if len(signature) > cap:
        signature = signature[: cap - 3].rstrip() + "..."
    return decorators, signature


def doc_line(text: str) -> str:
    """The first line of a docstring or comment, without its quotes or comment marks."""
    text = text.strip()
    text = re.sub(r"^[rRbBuUfF]*('''|\"\"\"|'|\")", "", text)
    text = re.sub(r"^(///?|/\*+|#+|--)", "", text)
    for line in text.split("\n"):
        line = line.strip().strip("*").strip().rstrip("'\"").strip()
        line = re.sub(r"\*+/$", "", line).strip()
        if line:
            return line[:DOC_CHARS]
    return ""
