"""Which tree-sitter grammar a document gets.

Maps an LSP ``languageId`` (VS Code and Neovim use the same names) or, failing
that, a file extension to a loaded :class:`tree_sitter.Language`. Grammars come
from the tree-sitter organisation's own wheels (``tree-sitter-python`` and so
on), which ship compiled parsers and need no network at run time.

An unknown language, or a grammar package that is not installed, gives ``None``:
the document then has no tree and no syntax diagnostics, and nothing crashes.
"""

from __future__ import annotations

import importlib
import logging
import posixpath
import threading
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote, urlparse

import tree_sitter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grammar:
    """Where a language's grammar lives: module and the function returning its pointer."""

    name: str
    module: str
    function: str = "language"


GRAMMARS: dict[str, Grammar] = {
    "python": Grammar("python", "tree_sitter_python"),
    "javascript": Grammar("javascript", "tree_sitter_javascript"),
    "typescript": Grammar("typescript", "tree_sitter_typescript", "language_typescript"),
    "tsx": Grammar("tsx", "tree_sitter_typescript", "language_tsx"),
    "rust": Grammar("rust", "tree_sitter_rust"),
    "go": Grammar("go", "tree_sitter_go"),
    "c": Grammar("c", "tree_sitter_c"),
    "cpp": Grammar("cpp", "tree_sitter_cpp"),
    "java": Grammar("java", "tree_sitter_java"),
}

# LSP languageId -> grammar name.
LANGUAGE_IDS: dict[str, str] = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "rust": "rust",
    "go": "go",
    "c": "c",
    "cpp": "cpp",
    "java": "java",
}

EXTENSIONS: dict[str, str] = {
    **dict.fromkeys((".py", ".pyi", ".pyw"), "python"),
    **dict.fromkeys((".js", ".mjs", ".cjs", ".jsx"), "javascript"),
    **dict.fromkeys((".ts", ".mts", ".cts"), "typescript"),
    ".tsx": "tsx",
    ".rs": "rust",
    ".go": "go",
    ".c": "c",
    ".h": "c",
    **dict.fromkeys((".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++"), "cpp"),
    ".java": "java",
}


@cache
def load(name: str) -> tree_sitter.Language | None:
    """The tree-sitter Language for a grammar name, or None if unavailable."""
    grammar = GRAMMARS.get(name)
    if grammar is None:
        return None
    try:
        module = importlib.import_module(grammar.module)
        return tree_sitter.Language(getattr(module, grammar.function)())
    except Exception:  # missing wheel, ABI mismatch: no tree, but no crash either
        log.warning("grammar %r is unavailable", name, exc_info=True)
        return None


def grammar_name(language_id: str | None = None, path: str | None = None) -> str | None:
    """Grammar name from a languageId, falling back to the path's extension."""
    if language_id and language_id.lower() in LANGUAGE_IDS:
        return LANGUAGE_IDS[language_id.lower()]
    if path:
        if "://" in path:
            path = unquote(urlparse(path).path)
        ext = posixpath.splitext(path.replace("\\", "/"))[1].lower()
        return EXTENSIONS.get(ext)
    return None


def resolve(
    language_id: str | None = None, path: str | None = None
) -> tuple[str, tree_sitter.Language] | None:
    """``(grammar name, Language)`` for a document, or None when unsupported."""
    name = grammar_name(language_id, path)
    if name is None:
        return None
    language = load(name)
    return None if language is None else (name, language)


_threads = threading.local()


def parser_for(name: str | None) -> tree_sitter.Parser | None:
    """A parser for grammar ``name`` that belongs to the calling thread.

    A tree-sitter parser keeps state between calls and is not safe to share across
    threads, so background work (the sandbox checks, scoring) gets its own instead of
    borrowing the event loop's document parsers.
    """
    if name is None:
        return None
    parsers: dict[str, tree_sitter.Parser] | None = getattr(_threads, "parsers", None)
    if parsers is None:
        parsers = _threads.parsers = {}
    parser = parsers.get(name)
    if parser is None:
        language = load(name)
        if language is None:
            return None
        parser = parsers[name] = tree_sitter.Parser(language)
    return parser
