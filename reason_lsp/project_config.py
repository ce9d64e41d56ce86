"""``[tool.reason-lsp]`` in a project's ``pyproject.toml``: one configuration for the editor and CI.

The table takes the server's setting keys (``reason_lsp.settings``: ``model``,
``diagnostics.threshold``, ``contextTokens``, ...; dotted or as sub-tables), so
``reason-lsp check`` in CI and the server in the editor run with the same values.
``[tool.reason-lsp.check]`` holds what only the command line uses: ``select``,
``ignore``, ``exclude``, ``strict``, ``cache-dir``.

:func:`load` finds and reads the table; its problems (a file that is not TOML, an
unknown key, a value of the wrong type) come back as sentences, never as
exceptions: the server shows them, ``check`` stops with a usage error.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from reason_lsp.settings import FIELDS, Settings, flatten, parse_settings

TABLE = "reason-lsp"
#: ``[tool.reason-lsp.check]`` keys and the type each one takes.
CHECK_KEYS: dict[str, type] = {
    "select": list,
    "ignore": list,
    "exclude": list,
    "strict": bool,
    "cache-dir": str,
}


@dataclass(frozen=True)
class ProjectConfig:
    """What one ``pyproject.toml`` says (empty when there is none, or no table)."""

    path: Path | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)  # server keys, flattened
    check: Mapping[str, Any] = field(default_factory=dict)  # [tool.reason-lsp.check]
    problems: tuple[str, ...] = ()

    @property
    def root(self) -> Path | None:
        return self.path.parent if self.path is not None else None

    def apply(self, base: Settings | None = None) -> tuple[Settings, list[str]]:
        """``base`` with the table's settings on top, and a sentence per rejected value."""
        settings, problems = parse_settings(dict(self.settings), base)
        where = self.path or "pyproject.toml"
        return settings, [f"{where}: {p}" for p in problems]


def find(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.reason-lsp]`` table, from ``start`` up."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _has_table(candidate):
            return candidate
    return None


def _has_table(path: Path) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True  # a broken file is reported by load(), not skipped
    return isinstance(data.get("tool"), dict) and TABLE in data["tool"]


def load(path: Path | None) -> ProjectConfig:
    """Read ``[tool.reason-lsp]`` from ``path`` (None, a missing file or no table: empty)."""
    if path is None or not path.is_file():
        return ProjectConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return ProjectConfig(path, problems=(f"{path}: cannot read it ({exc})",))
    except tomllib.TOMLDecodeError as exc:
        return ProjectConfig(path, problems=(f"{path}: not valid TOML ({exc})",))
    table = data.get("tool", {}).get(TABLE) if isinstance(data.get("tool"), dict) else None
    if table is None:
        return ProjectConfig(path)
    if not isinstance(table, dict):
        return ProjectConfig(path, problems=(f"{path}: [tool.{TABLE}] must be a table",))
    problems: list[str] = []
    check = table.get("check", {})
    if not isinstance(check, dict):
        problems.append(f"{path}: [tool.{TABLE}.check] must be a table")
        check = {}
    settings = flatten({k: v for k, v in table.items() if k != "check"})
    for key in settings:
        if key not in FIELDS:
            problems.append(f"{path}: unknown key {key!r} in [tool.{TABLE}]")
    checked: dict[str, Any] = {}
    for key, value in check.items():
        kind = CHECK_KEYS.get(key)
        if kind is None:
            problems.append(f"{path}: unknown key {key!r} in [tool.{TABLE}.check]")
        elif not isinstance(value, kind) or (
            kind is list and not all(isinstance(v, str) for v in value)
        ):
            what = "a list of strings" if kind is list else kind.__name__
            problems.append(f"{path}: [tool.{TABLE}.check] {key} must be {what}")
        else:
            checked[key] = value
    known = {k: v for k, v in settings.items() if k in FIELDS}
    return ProjectConfig(path, known, checked, tuple(problems))


def for_workspace(root_uri: str | None, root_path: str | None = None) -> ProjectConfig:
    """The table of the workspace root's ``pyproject.toml``, for the server."""
    folder = None
    if root_uri and urlparse(root_uri).scheme == "file":
        folder = Path(unquote(urlparse(root_uri).path))
    elif root_path:
        folder = Path(root_path)
    return load(folder / "pyproject.toml") if folder is not None else ProjectConfig()


def overlay(
    settings: Settings, root_uri: str | None, root_path: str | None = None
) -> tuple[Settings, list[str]]:
    """``settings`` (the client's) with the workspace root's table on top, and its problems.

    The project file wins because clients send every setting, defaults included (the
    VS Code extension does), so a value from the editor cannot be told from a default;
    the file is what the team and CI agreed on.
    """
    project = for_workspace(root_uri, root_path)
    settings, problems = project.apply(settings)
    return settings, [*project.problems, *problems]


def initial_settings(params: Any) -> tuple[Settings, list[str]]:
    """The server's settings at ``initialize``: ``initializationOptions``, then the
    workspace's ``[tool.reason-lsp]`` on top (:func:`overlay`)."""
    settings, problems = parse_settings(params.initialization_options)
    folders = getattr(params, "workspace_folders", None) or []
    root_uri = folders[0].uri if folders else getattr(params, "root_uri", None)
    settings, more = overlay(settings, root_uri, getattr(params, "root_path", None))
    return settings, [*problems, *more]
