"""Repository-level training examples: the files of one distribution and how they import each other.

A repository example puts pieces of other files of the same distribution in front of
the current file, in the layout the server's prompts use
(:func:`reason_lsp.engine.fim.repository_text`: ``<file_sep>path\\ncode\\n`` per file,
then ``<file_sep>path\\n`` before the current file), so the model learns to copy from
context it will be shown at inference. Related files come first: the files the
current one imports and the files that import it, resolved from ``import`` and
``from ... import`` lines to paths of the same distribution; siblings in the same
folder fill what budget is left. Each piece is either the file's declarations
(``def``/``class`` signatures and the first docstring line, what the server's index
offers) or a window of at most 60 lines (the snippet size of the server's retrieval).
Pure Python, no torch.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

#: Lines per snippet, as the server's similar-snippet retrieval cuts them.
SNIPPET_LINES = 60
#: Pieces of other files per example, at most (Copilot keeps 4 neighbouring snippets).
MAX_PIECES = 4
#: Share of pieces rendered as declarations rather than as a snippet.
DECLARATION_RATE = 0.4

_NAME = r"[\w.]+(?:[ \t]+as[ \t]+\w+)?"
_IMPORT = re.compile(rf"^[ \t]*import[ \t]+({_NAME}(?:[ \t]*,[ \t]*{_NAME})*)", re.M)
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+\(?[ \t]*([\w \t,]*)", re.M)
_DEF = re.compile(r"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+\w")


@dataclass(frozen=True)
class Doc:
    """One source file: its path inside its distribution, the distribution, the text."""

    path: str
    package: str
    text: str


def module_name(path: str) -> str | None:
    """``pkg/sub/mod.py`` -> ``pkg.sub.mod``; ``pkg/__init__.py`` -> ``pkg``."""
    p = PurePosixPath(path.replace("\\", "/"))
    if p.suffix != ".py":
        return None
    parts = list(p.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or None


def imported_names(path: str, text: str) -> list[str]:
    """Absolute dotted names a file may import (``from a import b`` gives ``a.b`` and ``a``)."""
    own = module_name(path) or ""
    package = own.split(".") if path.endswith("__init__.py") else own.split(".")[:-1]
    names: list[str] = []
    for match in _IMPORT.finditer(text):
        for part in match.group(1).split(","):
            names.append(part.split()[0])
    for match in _FROM.finditer(text):
        dots, base, imported = match.groups()
        if dots:
            keep = len(package) - (len(dots) - 1)
            if keep < 0:
                continue
            base = ".".join([*package[:keep], *([base] if base else [])])
        if not base:
            continue
        for part in imported.split(","):
            word = part.split()[0] if part.split() else ""
            if word.isidentifier():
                names.append(f"{base}.{word}")
        names.append(base)
    return names


def declarations(text: str) -> str:
    """The ``def``/``class`` signatures of a file (continued up to their colon), each with
    the first line of its docstring, indentation kept so methods stay under classes."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _DEF.match(lines[i]):
            i += 1
            continue
        start = i
        while i < len(lines) - 1 and i - start < 6 and not lines[i].rstrip().endswith(":"):
            i += 1
        out.extend(lines[start : i + 1])
        i += 1
        if i < len(lines) and lines[i].strip()[:3] in ('"""', "'''", 'r""'):
            out.append(lines[i])
            i += 1
    return "\n".join(out) + ("\n" if out else "")


def snippet(text: str, budget: int, rng: random.Random, from_start: bool = False) -> str:
    """At most :data:`SNIPPET_LINES` whole lines of ``text`` and ``budget`` characters."""
    lines = text.splitlines(keepends=True)
    first = 0 if from_start or len(lines) <= SNIPPET_LINES else rng.randrange(len(lines))
    taken: list[str] = []
    size = 0
    for line in lines[first : first + SNIPPET_LINES]:
        if size + len(line) > budget:
            break
        taken.append(line)
        size += len(line)
    return "".join(taken)


class Repository:
    """The distributions of a corpus: files by package, and the import graph inside each."""

    def __init__(self, docs: list[Doc]) -> None:
        self.docs = docs
        by_module: dict[tuple[str, str], int] = {}
        folders: dict[tuple[str, str], list[int]] = {}
        for i, doc in enumerate(docs):
            if not doc.package:
                continue
            name = module_name(doc.path)
            if name is not None:
                by_module.setdefault((doc.package, name), i)
            folder = str(PurePosixPath(doc.path).parent)
            folders.setdefault((doc.package, folder), []).append(i)
        imports: list[list[int]] = [[] for _ in docs]
        importers: list[list[int]] = [[] for _ in docs]
        for i, doc in enumerate(docs):
            if not doc.package:
                continue
            for name in imported_names(doc.path, doc.text):
                j = by_module.get((doc.package, name))
                if j is not None and j != i and j not in imports[i]:
                    imports[i].append(j)
                    importers[j].append(i)
        self.imports = imports
        self.importers = importers
        self._folders = folders

    def related(self, i: int) -> list[int]:
        """Files ``i`` imports, then files importing ``i`` (each once)."""
        seen = dict.fromkeys(self.imports[i] + self.importers[i])
        return list(seen)

    def siblings(self, i: int) -> list[int]:
        doc = self.docs[i]
        if not doc.package:
            return []
        folder = str(PurePosixPath(doc.path).parent)
        return [j for j in self._folders.get((doc.package, folder), []) if j != i]

    def context(self, i: int, budget: int, rng: random.Random) -> list[tuple[str, str]]:
        """Pieces of related files for file ``i`` as ``(path, text)``, at most ``budget``
        characters rendered, the most related last (next to the current file)."""
        related = self.related(i)
        rng.shuffle(related)
        others = [j for j in self.siblings(i) if j not in related]
        rng.shuffle(others)
        pieces: list[tuple[str, str]] = []
        left = budget
        for j in (related + others)[: MAX_PIECES * 2]:
            if len(pieces) >= MAX_PIECES or left < 200:
                break
            doc = self.docs[j]
            head = len(doc.path) + 12  # "<file_sep>path\n" and the closing newline
            if rng.random() < DECLARATION_RATE:
                text = _cut(declarations(doc.text), left - head)
            else:
                text = snippet(doc.text, left - head, rng, from_start=rng.random() < 0.3)
            if not text.strip():
                continue
            pieces.append((doc.path, text))
            left -= head + len(text)
        pieces.reverse()
        return pieces


def _cut(text: str, budget: int) -> str:
    """``text`` cut to at most ``budget`` characters at a line end."""
    if len(text) <= budget:
        return text
    end = text.rfind("\n", 0, budget)
    return text[: end + 1] if end >= 0 else ""
