"""The workspace index on a small made-up repository: which files, definitions, imports
resolved to files, .gitignore and default excludes, updates on change and delete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reason_lsp.workspace import build, declarations, walk
from reason_lsp.workspace.index import Target, WorkspaceIndex
from reason_lsp.workspace.symbols import KIND_NAMES, extract
from reason_lsp.workspace.symbols import Import as Imp

SHAPES = '''"""Shapes."""
import math


class Circle(Shape):
    """A round shape."""

    def __init__(self, radius: float) -> None:
        self.radius = radius

    @property
    def area(self) -> float:
        return math.pi * self.radius**2

    def _secret(self):
        pass


def unit_circle(
    scale: float = 1.0,
) -> Circle:
    """The circle of radius one.

    More text that is not shown."""
    return Circle(scale)


RADIUS_LIMIT: int = 10
'''

FILES = {
    ".gitignore": "generated/\n*_pb2.py\n",
    "pkg/__init__.py": "from .shapes import Circle\n",
    "pkg/shapes.py": SHAPES,
    "pkg/util/__init__.py": "",
    "pkg/util/mathx.py": 'def clamp(x, lo, hi):\n    """Clamp x into [lo, hi]."""\n    return x\n',
    "app.py": (
        "from pkg import Circle\n"
        "from pkg.util.mathx import clamp\n"
        "import pkg.util.mathx as mx\n"
        "from os import path\n"
        "\n"
        "c = Circle(clamp(2, 0, 1))\n"
    ),
    "pkg/rel.py": "from . import shapes\nfrom .util import mathx\nfrom ..outside import x\n",
    "web/util.ts": "// Adds two numbers.\nexport function add(a: number, b: number): number {\n"
    "  return a + b;\n}\n",
    "web/main.ts": 'import { add } from "./util";\nconsole.log(add(1, 2));\n',
    "generated/big.py": "def generated(): pass\n",
    "pkg/messages_pb2.py": "X = 1\n",
    "node_modules/lib/index.js": "function vendored() {}\n",
    "env2/lib/site.py": "def in_a_venv(): pass\n",
    "env2/pyvenv.cfg": "home = /usr\n",
    "build/out.py": "def built(): pass\n",
    "tools/build/__init__.py": "def package_named_build(): pass\n",
    "README.md": "# not code\n",
}


def make_repo(root: Path, files: dict[str, str] = FILES) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def test_walk_respects_gitignore_default_excludes_and_caps(repo: Path) -> None:
    found = [f.rel for f in walk.walk(repo)]
    assert sorted(found) == sorted(
        [
            "app.py", "pkg/__init__.py", "pkg/shapes.py", "pkg/rel.py", "pkg/util/__init__.py",
            "pkg/util/mathx.py", "web/util.ts", "web/main.ts", "tools/build/__init__.py",
        ]
    )  # fmt: skip
    assert len(list(walk.walk(repo, walk.Limits(max_files=3)))) == 3
    small = [f.rel for f in walk.walk(repo, walk.Limits(max_file_bytes=200))]
    assert "pkg/shapes.py" not in small and "app.py" in small
    assert walk.is_indexed(repo, "pkg/new.py")
    assert not walk.is_indexed(repo, "generated/new.py")
    assert not walk.is_indexed(repo, "node_modules/x/y.js")
    assert not walk.is_indexed(repo, "pkg/other_pb2.py")
    assert not walk.is_indexed(repo, "notes.txt")


def test_nested_gitignore_applies_to_its_own_folder(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {"a/.gitignore": "local.py\n", "a/local.py": "", "b/local.py": "", "a/kept.py": ""},
    )
    assert sorted(f.rel for f in walk.walk(root)) == ["a/kept.py", "b/local.py"]


def definitions(text: str, language: str = "python") -> list[tuple[str, str, int]]:
    facts = extract(text.encode(), language)
    return [
        (name, KIND_NAMES[facts.defs[i * 7]], facts.defs[i * 7 + 1])
        for i, name in enumerate(facts.names)
    ]


def test_definitions_with_kind_parent_signature_and_docstring() -> None:
    assert definitions(SHAPES) == [
        ("Circle", "class", 0),
        ("__init__", "method", 1),
        ("area", "method", 1),
        ("_secret", "method", 1),
        ("unit_circle", "function", 0),
        ("RADIUS_LIMIT", "variable", 0),
    ]
    data = SHAPES.encode()
    facts = extract(data, "python")
    assert declarations.render(data, facts, facts.find("unit_circle")) == (
        'def unit_circle(scale: float = 1.0) -> Circle:\n    """The circle of radius one."""'
    )
    assert declarations.render(data, facts, facts.find("Circle")) == (
        "class Circle(Shape):\n"
        '    """A round shape."""\n'
        "    def __init__(self, radius: float) -> None: ...\n"
        "    @property\n"
        "    def area(self) -> float: ..."
    )
    assert declarations.render(data, facts, facts.find("RADIUS_LIMIT")) == "RADIUS_LIMIT: int = 10"
    row = facts.defs[facts.find("unit_circle") * 7 + 2]
    assert SHAPES.split("\n")[row].startswith("def unit_circle(")


def test_definitions_in_other_languages() -> None:
    ts = FILES["web/util.ts"]
    assert definitions(ts, "typescript") == [("add", "function", 0)]
    facts = extract(ts.encode(), "typescript")
    assert declarations.render(ts.encode(), facts, 0) == (
        "// Adds two numbers.\nfunction add(a: number, b: number): number"
    )  # the comment above ``export`` documents the function
    c = "/* Area. */\nstatic int area(int w, int h) { return w * h; }\nstruct point { int x; };\n"
    assert definitions(c, "c") == [("area", "function", 0), ("point", "class", 0)]
    facts = extract(c.encode(), "c")
    assert declarations.render(c.encode(), facts, 0) == "// Area.\nstatic int area(int w, int h)"


def test_imports_resolve_to_workspace_files(repo: Path) -> None:
    index = build.build(repo)
    assert index.resolve("app.py", Imp("pkg", "Circle", "Circle")) == Target(
        "pkg/shapes.py", index.files["pkg/shapes.py"].facts.find("Circle")
    )  # through pkg/__init__.py's re-export
    clamp = index.resolve("app.py", Imp("pkg.util.mathx", "clamp", "clamp"))
    assert clamp == Target("pkg/util/mathx.py", 0)
    assert index.resolve("app.py", Imp("pkg.util.mathx", "", "mx")) == Target("pkg/util/mathx.py")
    assert index.resolve("app.py", Imp("os", "path", "path")) is None
    assert index.resolve("pkg/rel.py", Imp("", "shapes", "shapes", 1)) == Target("pkg/shapes.py")
    assert index.resolve("pkg/rel.py", Imp("util", "mathx", "mathx", 1)) == Target(
        "pkg/util/mathx.py"
    )
    assert index.resolve("pkg/rel.py", Imp("outside", "x", "x", 2)) is None
    assert index.resolve("web/main.ts", Imp("./util", "*", "", -1)) == Target("web/util.ts")
    assert index.resolve("app.py", Imp("pkg", "nothing_here", "n")) is None


def test_a_root_that_is_a_package_resolves_its_own_absolute_imports(repo: Path) -> None:
    index = build.build(repo / "pkg")
    assert index.prefix == "pkg"
    found = index.resolve("rel.py", Imp("pkg.shapes", "unit_circle", "unit_circle"))
    assert found is not None and found.rel == "shapes.py"


def test_changes_and_deletes_update_definitions_imports_and_search(repo: Path) -> None:
    index = build.build(repo)
    assert index.search({*_tokens("frobnicate_widget widget_registry")}) == []
    text = "def frobnicate_widget(widget_registry):\n    return widget_registry\n"
    index.add("pkg/util/mathx.py", extract(text.encode(), "python"), (1, 1))
    assert index.resolve("app.py", Imp("pkg.util.mathx", "clamp", "clamp")) is None
    hits = index.search(_tokens("frobnicate_widget widget_registry"))
    assert [rel for rel, _, _ in hits] == ["pkg/util/mathx.py"]
    assert index.defining("frobnicate_widget") == ["pkg/util/mathx.py"]
    assert index.defining("clamp") == []
    assert index.remove("pkg/util/mathx.py")
    assert index.search(_tokens("frobnicate_widget widget_registry")) == []
    assert index.defining("frobnicate_widget") == []
    assert index.resolve("app.py", Imp("pkg.util.mathx", "", "mx")) is None


def test_a_reader_reindexes_a_file_changed_on_disk(repo: Path) -> None:
    index = build.build(repo)
    reader = build.Reader(index)
    path = repo / "pkg/util/mathx.py"
    path.write_text("def saturate(x):\n    return x\n")
    os.utime(path, ns=(1, 1))  # a new stamp even within the clock's resolution
    got = reader.read("pkg/util/mathx.py")
    assert got is not None
    entry, data = got
    assert data.startswith(b"def saturate") and entry.facts.names == ("saturate",)
    assert index.defining("saturate") == ["pkg/util/mathx.py"]
    path.unlink()
    assert reader.read("pkg/util/mathx.py") is None


def test_the_worker_protocol_ships_the_same_index(repo: Path) -> None:
    import multiprocessing

    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=build.serve, args=(child,))
    process.start()
    parent.send((str(repo), walk.Limits()))
    shipped = WorkspaceIndex(repo)
    while True:
        kind, payload = parent.recv()
        if kind == "files":
            for item in payload:
                shipped.adopt(item)
        elif kind == "windows":
            shipped.install(payload)
            break
    process.join(10)
    local = build.build(repo)
    assert sorted(shipped.files) == sorted(local.files)
    query = _tokens("radius Circle unit_circle scale")
    assert shipped.search(query) == local.search(query)
    assert shipped.defining("clamp") == ["pkg/util/mathx.py"]


def _tokens(text: str) -> set[int]:
    from reason_lsp.workspace.symbols import token_set

    return token_set(text.encode())
