"""Examples from the workspace's test files: whole test functions, else their single asserts.

The tests for a function live in ``test_*.py`` / ``*_test.py`` files and import it
from its module; the check program runs examples beside a candidate module instead
(:mod:`reason_lsp.verify.program`), so an example may use only the module's own
names and builtins. A test function that calls the function, takes no fixtures, has
no decorators (``parametrize`` needs pytest) and no imports, and uses only those
names and names it binds itself (``x = make(); assert f(x) == 2``), runs whole: its
definition, then its call. Any other test function gives the asserts that use only
allowed names, one example each. Nothing here runs code.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import tree_sitter

from reason_lsp.verify.examples import Example, _identifiers, _text

MAX_TEST_FILES = 200
MAX_TEST_FILE_BYTES = 256_000
MAX_TEST_CHARS = 4000
_SKIP_DIRS = {"node_modules", "__pycache__", "venv", "site-packages", "build", "dist"}
#: Nodes whose ``left`` field binds names, and those that bind through other fields.
_BINDS_LEFT = ("assignment", "augmented_assignment", "for_statement", "for_in_clause")
_BINDS = {"as_pattern": "alias", "named_expression": "name", "lambda": "parameters"}


def test_files(root: Path, max_files: int = MAX_TEST_FILES) -> list[Path]:
    """The test files under ``root`` (hidden and vendored folders skipped), sorted."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(files):
            if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
                found.append(Path(folder) / name)
                if len(found) >= max_files:
                    return found
    return found


def bound_names(function: tree_sitter.Node) -> set[str]:
    """Names a function body binds: assignment and loop targets, ``as`` aliases, walrus
    targets, lambda parameters, nested definitions."""
    out: set[str] = set()
    stack = [function.child_by_field_name("body")]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if node.type in _BINDS_LEFT:
            left = node.child_by_field_name("left")
            out |= {_text(n) for n in _identifiers(left)} if left is not None else set()
        elif node.type in _BINDS:
            part = node.child_by_field_name(_BINDS[node.type])
            out |= {_text(n) for n in _identifiers(part)} if part is not None else set()
        elif node.type in ("function_definition", "class_definition"):
            name = node.child_by_field_name("name")
            out |= {_text(name)} if name is not None else set()
        stack.extend(node.children)
    return out


def _runs_whole(function: tree_sitter.Node, name: str, allowed: set[str]) -> bool:
    params = function.child_by_field_name("parameters")
    if params is None or params.named_child_count or function.start_point[1] != 0:
        return False
    if function.parent is not None and function.parent.type == "decorated_definition":
        return False
    if function.end_byte - function.start_byte > MAX_TEST_CHARS:
        return False
    body = function.child_by_field_name("body")
    stack = [body] if body is not None else []
    while stack:
        node = stack.pop()
        if "import" in node.type:
            return False
        stack.extend(node.children)
    used = {_text(n) for n in _identifiers(body)} if body is not None else set()
    return name in used and used <= allowed | bound_names(function)


def examples_from_tests(
    root: Path | None,
    name: str,
    known: set[str],
    parser: tree_sitter.Parser,
    *,
    max_files: int = MAX_TEST_FILES,
    max_bytes: int = MAX_TEST_FILE_BYTES,
) -> list[Example]:
    """Test functions under ``root`` that call ``name`` (kind "test"), else their
    ``assert``s that call it (kind "assert"), using only builtins and the module's own
    names (``known``), so they run beside the module."""
    if root is None or not root.is_dir() or not name:
        return []
    allowed = known | set(dir(builtins)) | {name}
    out: list[Example] = []
    for path in test_files(root, max_files):
        try:
            if path.stat().st_size > max_bytes:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if name.encode() not in data:
            continue
        stack = [parser.parse(data).root_node]
        while stack:
            node = stack.pop()
            if node.type == "function_definition":
                fname = node.child_by_field_name("name")
                if fname is None or not _text(fname).startswith("test"):
                    continue
                if _runs_whole(node, name, allowed):
                    source = f"{_text(node)}\n{_text(fname)}()\n"
                    out.append(Example("test", source, line=node.start_point[0], path=str(path)))
                    continue
            if node.type == "assert_statement":
                used = {_text(n) for n in _identifiers(node)}
                if name in used and used <= allowed:
                    out.append(Example("assert", _text(node), line=node.start_point[0],
                                       path=str(path)))  # fmt: skip
                continue
            stack.extend(reversed(node.children))
    return out
