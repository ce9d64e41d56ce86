"""Single-token mutants for bench/bugs.py: where a function can be changed, and how.

Sites are found with tree-sitter inside function bodies, never in strings, comments
or annotations, on one line; the kind is the rarest so far among those the function
offers (so the kinds stay balanced), and a mutant is kept only when the mutated file
still parses (tree-sitter without errors, and ``ast.parse``). The kinds are listed in
bench/bugs.py's docstring.
"""

from __future__ import annotations

import ast
import itertools
import random
import warnings
from collections import Counter
from dataclasses import dataclass

import tree_sitter

from reason_lsp.features.unlikely import flags as unlikely

KINDS = ("comparison", "variable", "off-by-one", "swap-args", "and-or", "is-eq")
COMPARISON = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
IS_EQ = {"is": "==", "==": "is", "is not": "!=", "!=": "is not"}
AND_OR = {"and": "or", "or": "and"}
#: Goal from the issue: this AUC at no more than this many warnings per 1,000 clean lines.
MIN_LINES, MAX_LINES, MAX_REGION_CHARS, PER_FILE = 3, 80, 8000, 2

_QUIET = {"string", "comment", "concatenated_string"}
#: (parent type, field) pairs where an identifier is a name being bound, not read.
_BINDING_FIELDS = {
    ("attribute", "attribute"),
    ("keyword_argument", "name"),
    ("default_parameter", "name"),
    ("typed_default_parameter", "name"),
    ("function_definition", "name"),
    ("class_definition", "name"),
    ("named_expression", "name"),
}
_BINDING_PARENTS = {
    "parameters",
    "lambda_parameters",
    "typed_parameter",
    "list_splat_pattern",
    "dictionary_splat_pattern",
    "global_statement",
    "nonlocal_statement",
    "dotted_name",
    "aliased_import",
    "as_pattern_target",
    "keyword_pattern",
}
#: Statements whose ``left`` field binds names (never mutated, and the function's locals).
_TARGETS = {"assignment", "augmented_assignment", "for_statement", "for_in_clause"}


@dataclass(frozen=True)
class Edit:
    kind: str
    start: int  # byte offsets into the file
    end: int
    before: str
    after: str
    row: int  # 0-based line of the file


def apply(data: bytes, edit: Edit) -> bytes:
    return data[: edit.start] + edit.after.encode() + data[edit.end :]


def _text(node: tree_sitter.Node) -> str:
    return node.text.decode("utf-8", "replace") if node.text is not None else ""


def _field_is(node: tree_sitter.Node, field: str) -> bool:
    parent = node.parent
    other = parent.child_by_field_name(field) if parent is not None else None
    return other is not None and other.id == node.id


def _walk(node: tree_sitter.Node, quiet: bool = True):
    """All nodes below ``node``, skipping strings, comments and annotations."""
    stack = [node]
    while stack:
        n = stack.pop()
        if quiet and (n.type in _QUIET or n.type == "type"):
            continue
        yield n
        stack.extend(reversed(n.children))


def _in_target(node: tree_sitter.Node, stop: tree_sitter.Node) -> bool:
    """Whether ``node`` is (inside) a binding target: an assignment's left side and so on."""
    child, n = node, node.parent
    while n is not None and n.id != stop.id:
        if n.type in _TARGETS and _field_is(child, "left"):
            return True
        child, n = n, n.parent
    return False


def local_names(func: tree_sitter.Node) -> list[str]:
    """Parameters and names assigned in the function, in order of appearance."""
    names: dict[str, None] = {}
    params = func.child_by_field_name("parameters")
    for n in _walk(params) if params is not None else ():
        if n.type == "identifier" and not _field_is(n, "value") and n.parent.type != "type":
            names[_text(n)] = None
    body = func.child_by_field_name("body")
    for n in _walk(body) if body is not None else ():
        if n.type in _TARGETS and n.child_by_field_name("left") is not None:
            for m in _walk(n.child_by_field_name("left")):
                if m.type == "identifier" and m.parent.type not in ("attribute", "subscript"):
                    names[_text(m)] = None
        elif n.type == "named_expression" and n.child_by_field_name("name") is not None:
            names[_text(n.child_by_field_name("name"))] = None
    names.pop("self", None)
    names.pop("cls", None)
    return list(names)


def _is_read(node: tree_sitter.Node, body: tree_sitter.Node) -> bool:
    parent = node.parent
    if parent is None or parent.type in _BINDING_PARENTS:
        return False
    if any(parent.type == p and _field_is(node, f) for p, f in _BINDING_FIELDS):
        return False
    return not _in_target(node, body)


def sites(func: tree_sitter.Node) -> dict[str, list[Edit]]:
    """Every single-line mutation of the function's body, by kind (no parse check)."""
    body = func.child_by_field_name("body")
    out: dict[str, list[Edit]] = {k: [] for k in KINDS}
    if body is None:
        return out
    locals_ = local_names(func)

    def edit(kind: str, node: tree_sitter.Node, after: str) -> None:
        out[kind].append(
            Edit(kind, node.start_byte, node.end_byte, _text(node), after, node.start_point.row)
        )

    for n in _walk(body):
        if n.type == "comparison_operator":
            for op in n.children_by_field_name("operators"):
                if op.type in COMPARISON:
                    edit("comparison", op, COMPARISON[op.type])
                if op.type in IS_EQ:
                    edit("is-eq", op, IS_EQ[op.type])
        elif n.type == "boolean_operator":
            op = n.child_by_field_name("operator")
            if op is not None and op.type in AND_OR:
                edit("and-or", op, AND_OR[op.type])
        elif n.type == "integer":
            text = _text(n)
            if text.isdigit() and (text == "0" or not text.startswith("0")):
                value = int(text)
                for new in (value + 1, value - 1) if value > 0 else (1,):
                    edit("off-by-one", n, str(new))
        elif n.type == "identifier" and _text(n) in locals_ and _is_read(n, body):
            for other in locals_:
                if other != _text(n):
                    edit("variable", n, other)
        elif n.type == "argument_list" and n.parent is not None and n.parent.type == "call":
            args = [
                a
                for a in n.named_children
                if a.type not in ("keyword_argument", "list_splat", "dictionary_splat", "comment")
            ]
            for a, b in itertools.pairwise(args):
                same_line = a.start_point.row == b.end_point.row
                if same_line and _text(a) != _text(b):
                    between = n.text[a.end_byte - n.start_byte : b.start_byte - n.start_byte]
                    swapped = _text(b) + between.decode("utf-8", "replace") + _text(a)
                    out["swap-args"].append(
                        Edit(
                            "swap-args",
                            a.start_byte,
                            b.end_byte,
                            _text(a) + between.decode("utf-8", "replace") + _text(b),
                            swapped,
                            a.start_point.row,
                        )
                    )
    for kind in KINDS:  # single-line edits only
        out[kind] = [e for e in out[kind] if e.before != e.after and "\n" not in e.before]
    return out


def parses(data: bytes, parser: tree_sitter.Parser) -> tree_sitter.Tree | None:
    """The tree when both tree-sitter (no error nodes) and ``ast`` accept the source."""
    tree = parser.parse(data)
    if tree.root_node.has_error:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(data)
    except (SyntaxError, ValueError):
        return None
    return tree


def functions(tree: tree_sitter.Tree) -> list[tree_sitter.Node]:
    """Function definitions not nested in another function."""
    found = []
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "function_definition":
            found.append(n)
            continue
        stack.extend(reversed(n.children))
    return found


def code_rows(node: tree_sitter.Node) -> set[int]:
    """Lines holding a token outside strings and comments."""
    return {n.start_point.row for n in _walk(node) if n.child_count == 0}


def pyflakes_messages(text: str) -> Counter:
    from pyflakes import checker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(text)
    found = checker.Checker(tree, filename="<bench>")
    return Counter((m.lineno, m.message % m.message_args) for m in found.messages)


@dataclass
class Sample:
    path: str
    package: str
    text: str  # the clean file
    tree: tree_sitter.Tree
    func: tree_sitter.Node
    region_index: int
    edit: Edit | None = None


def candidates(records: list[dict], parser: tree_sitter.Parser) -> list[Sample]:
    out = []
    for rec in records:
        text = rec["text"].encode("utf-8", "replace").decode("utf-8")
        tree = parses(text.encode(), parser)
        if tree is None:
            continue
        header = unlikely.header_of(text, tree)
        spans = [
            (text.count("\n", 0, r.start), text.count("\n", 0, r.end), r.end - r.start)
            for r in unlikely.regions(text, tree, header)
        ]
        for func in functions(tree):
            a, b = func.start_point.row, func.end_point.row
            if not MIN_LINES <= b - a + 1 <= MAX_LINES:
                continue
            index = next((i for i, (s, e, _) in enumerate(spans) if s <= a and b <= e), None)
            if index is None or spans[index][2] > MAX_REGION_CHARS:
                continue
            out.append(Sample(rec["path"], rec["package"], text, tree, func, index))
    return out


def choose(
    pool: list[Sample], n: int, seed: int, parser: tree_sitter.Parser
) -> list[tuple[Sample, bytes, tree_sitter.Tree]]:
    """Up to ``n`` samples, each with one parseable mutant, kinds kept balanced."""
    rng = random.Random(seed)
    pool = list(pool)
    rng.shuffle(pool)
    per_file: Counter = Counter()
    counts: Counter = Counter()
    chosen = []
    for sample in pool:
        if len(chosen) >= n:
            break
        if per_file[sample.path] >= PER_FILE:
            continue
        by_kind = sites(sample.func)
        kinds = sorted((k for k in KINDS if by_kind[k]), key=lambda k: (counts[k], rng.random()))
        data = sample.text.encode()
        for kind in kinds:
            options = list(by_kind[kind])
            rng.shuffle(options)
            for edit in options[:6]:
                mutated = apply(data, edit)
                tree = parses(mutated, parser)
                if tree is not None:
                    break
            else:
                continue
            sample.edit = edit
            chosen.append((sample, mutated, tree))
            counts[kind] += 1
            per_file[sample.path] += 1
            break
    return chosen
