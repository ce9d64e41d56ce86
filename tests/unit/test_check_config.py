"""`[tool.reason-lsp]` in pyproject.toml: read the same way by `check` and the server, with
the command line on top for `check`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from lsprotocol import types

from reason_lsp import project_config
from reason_lsp.cli import check

TABLE = """
[project]
name = "demo"

[tool.reason-lsp]
model = "none"
contextTokens = 900
diagnostics.threshold = 14.5

[tool.reason-lsp.sandbox]
timeout = 3.0

[tool.reason-lsp.check]
select = ["syntax-error", "unlikely-code"]
ignore = ["missing-token"]
exclude = ["tests/data/"]
strict = true
cache-dir = "build/lint-cache"
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_table_takes_the_server_keys_dotted_or_as_tables(tmp_path: Path) -> None:
    config = project_config.load(write(tmp_path, TABLE))
    assert config.problems == ()
    settings, problems = config.apply()
    assert problems == []
    assert (settings.model, settings.context_tokens) == ("none", 900)
    assert (settings.diagnostics_threshold, settings.sandbox_timeout) == (14.5, 3.0)
    assert config.check == {
        "select": ["syntax-error", "unlikely-code"],
        "ignore": ["missing-token"],
        "exclude": ["tests/data/"],
        "strict": True,
        "cache-dir": "build/lint-cache",
    }


def test_the_nearest_pyproject_with_the_table_is_found_upwards(tmp_path: Path) -> None:
    write(tmp_path, TABLE)
    inner = tmp_path / "sub" / "pkg"
    inner.mkdir(parents=True)
    write(tmp_path / "sub", '[project]\nname = "no table here"\n')
    assert project_config.find(inner) == tmp_path / "pyproject.toml"
    assert project_config.load(None) == project_config.ProjectConfig()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[tool.reason-lsp\n", "not valid TOML"),
        ('[tool.reason-lsp]\nmodle = "x"\n', "unknown key 'modle'"),
        ('[tool.reason-lsp.check]\nselect = "syntax-error"\n', "select must be a list"),
        ("[tool.reason-lsp.check]\nfix = true\n", "unknown key 'fix'"),
        ("[tool.reason-lsp]\ncheck = 3\n", "must be a table"),
    ],
)
def test_problems_are_sentences_not_exceptions(tmp_path: Path, text: str, expected: str) -> None:
    config = project_config.load(write(tmp_path, text))
    assert any(expected in p for p in config.problems), config.problems


def test_a_bad_value_falls_back_with_a_message_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[tool.reason-lsp]\ncontextTokens = "many"\n')
    settings, problems = project_config.load(path).apply()
    assert settings.context_tokens == 1024
    assert problems and problems[0].startswith(f"{path}: reasonLsp.contextTokens")


def test_the_server_puts_the_workspace_table_over_the_client_settings(tmp_path: Path) -> None:
    write(tmp_path, TABLE)
    params = types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        root_uri=tmp_path.as_uri(),
        initialization_options={"reasonLsp": {"contextTokens": 2048, "maxNewTokens": 32}},
    )
    settings, problems = project_config.initial_settings(params)
    assert problems == []
    assert settings.context_tokens == 900  # the project's value
    assert settings.max_new_tokens == 32  # the client's, where the project says nothing
    folders = types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        workspace_folders=[types.WorkspaceFolder(tmp_path.as_uri(), "demo")],
    )
    assert project_config.initial_settings(folders)[0].context_tokens == 900
    bare = types.InitializeParams(capabilities=types.ClientCapabilities())
    assert project_config.initial_settings(bare) == (project_config.Settings(), [])


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    check.add_arguments(parser)
    return parser.parse_args(argv)


def test_check_options_come_from_the_table_and_the_command_line_wins(tmp_path: Path) -> None:
    write(tmp_path, TABLE)
    options = check.resolve_options(parse(["."]), tmp_path)
    assert options.settings.model == "none"
    assert options.select == ["syntax-error", "unlikely-code"]
    assert options.ignore == ["missing-token"]
    assert options.exclude == ["tests/data/"]
    assert options.strict is True
    assert options.cache_dir == tmp_path / "build" / "lint-cache"
    argv = [".", "--model", "m", "--select", "missing-token", "--ignore", "syntax-error",
            "--exclude", "x/", "--threshold", "20", "--no-cache", "--no-model"]  # fmt: skip
    options = check.resolve_options(parse(argv), tmp_path)
    assert options.settings.model == "m" and options.settings.diagnostics_threshold == 20
    assert options.settings.diagnostics_model is False
    assert (options.select, options.ignore, options.exclude) == (
        ["missing-token"], ["syntax-error"], ["x/"],
    )  # fmt: skip
    assert options.cache_dir is None


def test_the_cache_folder_defaults_beside_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(check.CACHE_ENV, raising=False)
    assert check.resolve_options(parse(["."]), tmp_path).cache_dir == tmp_path / ".reason-lsp-cache"
    monkeypatch.setenv(check.CACHE_ENV, str(tmp_path / "env-cache"))
    assert check.resolve_options(parse(["."]), tmp_path).cache_dir == tmp_path / "env-cache"
    given = parse([".", "--cache-dir", str(tmp_path / "given")])
    assert check.resolve_options(given, tmp_path).cache_dir == tmp_path / "given"


@pytest.mark.parametrize(
    "argv",
    [
        [".", "--select", "E501"],
        [".", "--ignore", "syntax-error,nope"],
        [".", "--format", "sarif", "--position-encoding", "utf-8"],
        [".", "--threshold", "-1"],
        [".", "--config", "/nonexistent/pyproject.toml"],
    ],
)
def test_usage_errors(tmp_path: Path, argv: list[str]) -> None:
    with pytest.raises(check.UsageError):
        check.resolve_options(parse(argv), tmp_path)


def test_a_broken_configuration_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path, '[tool.reason-lsp]\nmodle = "x"\n')
    with pytest.raises(check.UsageError, match="unknown key 'modle'"):
        check.resolve_options(parse(["."]), tmp_path)
