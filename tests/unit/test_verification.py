"""Verification and ranking: stub detection, example extraction, the check program, ranking.

The check program's own tests run it with the plain interpreter (it is just Python);
the sandboxed runs are in the tests marked to need ``reason_lsp.sandbox``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_python

from reason_lsp.engine import Sample
from reason_lsp.features.generation import pipeline as generation
from reason_lsp.verify import examples as verification
from reason_lsp.verify import program as checking
from reason_lsp.verify import runner, workspace_tests

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))

SOURCE = '''import math


def add(a, b):
    """Add two numbers.

    >>> add(2, 3)
    5
    >>> add(2, "x")
    Traceback (most recent call last):
    TypeError: unsupported operand type(s) for +: 'int' and 'str'
    """
    ...


def half(x):
    """Half of x.

    >>> half(4)  # doctest: +ELLIPSIS
    2...
    """
    raise NotImplementedError("later")


def docstring_only():
    """Nothing yet."""


def passes(): pass


@staticmethod
def done(x):
    return x
'''


def target(name: str, text: str = SOURCE) -> verification.Target:
    offset = text.index(f"def {name}") + 4
    found = verification.find_function(text, PARSER.parse(text.encode()), offset)
    assert found is not None and found.name == name
    return found


def run_plain(program: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30
    ).stdout


@pytest.mark.parametrize(
    ("name", "stub"),
    [("add", "ellipsis"), ("half", "NotImplementedError"), ("docstring_only", "docstring"),
     ("passes", "pass"), ("done", None)],
)  # fmt: skip
def test_stub_kinds(name: str, stub: str | None) -> None:
    assert target(name).stub == stub


def test_find_function_from_inside_the_body_and_on_a_decorator() -> None:
    tree = PARSER.parse(SOURCE.encode())
    assert verification.find_function(SOURCE, tree, SOURCE.index("...")).name == "add"
    assert verification.find_function(SOURCE, tree, SOURCE.index("@static")).name == "done"
    assert verification.find_function(SOURCE, tree, 0) is None


def test_insert_replaces_only_the_body() -> None:
    t = target("add")
    out = t.insert(SOURCE, "    return a + b\n")
    assert '    """\n    return a + b\n\n\ndef half' in out
    one_liner = target("passes")
    out = one_liner.insert(SOURCE, "    return 1")
    assert "def passes():\n    return 1\n" in out


def test_doctest_examples_with_lines_exceptions_and_flags() -> None:
    examples = verification.doctest_examples(target("add"))
    assert [e.source for e in examples] == ["add(2, 3)\n", 'add(2, "x")\n']
    lines = SOURCE.split("\n")
    assert lines[examples[0].line].strip() == ">>> add(2, 3)"
    assert lines[examples[1].line].strip() == '>>> add(2, "x")'
    assert examples[1].exc_msg.startswith("TypeError")
    (half,) = verification.doctest_examples(target("half"))
    assert half.flags & verification.doctest.ELLIPSIS


def test_examples_from_test_files(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_math.py").write_text(
        "from mod import add\n\n"
        "def test_add(tmp_path):  # a fixture: only its asserts can run\n"
        "    assert add(1, 1) == 2\n"
        "    x = 3\n"
        "    assert add(x, 1) == 4  # uses a local: cannot run beside the module\n"
        "    assert math.floor(add(0.5, 1)) == 1\n\n"
        "def helper():\n"
        "    assert add(0, 0) == 0  # not a test function\n"
    )
    (tmp_path / "other_test.py").write_text(
        "def test_it():\n    assert add(2, 2) == 4\n\n"
        "def test_setup():\n"
        "    pairs = [(1, 2), (3, 4)]\n"
        "    for a, b in pairs:\n"
        '        with memoryview(b"ab") as fh:\n'
        "            total = sum(add(a, n) for n in range(b))\n"
        "    assert total == add(9, 3) and (y := 1)\n\n"
        "@pytest.mark.parametrize('n', [1])\n"
        "def test_param(n):\n    assert add(n, 0) == n\n\n"
        "def test_imports():\n    import json\n    assert add(1, 0) == 1\n\n"
        "def test_unknown():\n    assert add(helper_from_elsewhere(), 1) == 2\n"
    )
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "test_skip.py").write_text("def test_x():\n    assert add(9, 9)\n")
    (tmp_path / "big_test.py").write_text("def test_y():\n    assert add(7, 7)\n" + "#" * 2000)
    found = workspace_tests.examples_from_tests(
        tmp_path, "add", {"math", "add"}, PARSER, max_bytes=1000
    )
    got = sorted((Path(e.path).name, e.line, e.kind, e.source) for e in found)
    assert got == [
        ("other_test.py", 0, "test", "def test_it():\n    assert add(2, 2) == 4\ntest_it()\n"),
        ("other_test.py", 3, "test", got[1][3]),
        ("other_test.py", 16, "assert", "assert add(1, 0) == 1"),
        ("test_math.py", 3, "assert", "assert add(1, 1) == 2"),
        ("test_math.py", 6, "assert", "assert math.floor(add(0.5, 1)) == 1"),
    ]
    assert got[1][3].startswith("def test_setup():") and got[1][3].endswith("\ntest_setup()\n")


def test_a_whole_test_function_runs_beside_the_candidate() -> None:
    test = verification.Example(
        "test", "def test_add():\n    x = 2\n    assert add(x, x) == 4\ntest_add()\n", path="t.py"
    )
    for body, passed in (("a + b", 1), ("a - b", 0)):
        program = checking.check_program(f"def add(a, b):\n    return {body}\n", [test])
        report = checking.parse_report(run_plain(program), [test])
        assert report.passed == passed
    assert "assertion failed" in report.results[0].error
    assert generation.describe([test]) == "1 test from t.py"
    assert generation.distinct_results([test]) == 1


def test_check_program_reports_each_example() -> None:
    t = target("add")
    test = verification.Example("assert", "assert add(1, 1) == 3", line=9, path="t.py")
    examples = [*verification.doctest_examples(t), test]
    body = "    print('noise')\n    return a + b"
    program = checking.check_program(t.insert(SOURCE, body), examples)
    report = checking.parse_report(run_plain(program), examples)
    assert [r.ok for r in report.results] == [False, True, False]
    assert report.results[0].got == "noise\n5\n"
    assert report.results[2].error == "assertion failed"
    assert "expected 5" in checking.failure_message(report.results[0])


def test_check_program_module_error_and_unfinished_examples() -> None:
    t = target("add")
    examples = verification.doctest_examples(t)
    broken = checking.check_program("import no_such_module_here\n", examples)
    report = checking.parse_report(run_plain(broken), examples)
    assert report.passed == 0 and "No module named" in report.module_error
    cut = checking.parse_report("", examples, stopped="timed out after 1 s")
    assert [r.error for r in cut.results] == ["timed out after 1 s"] * 2


def test_candidates_parse_filter_and_ranking() -> None:
    task = runner.prepare(SOURCE, PARSER.parse(SOURCE.encode()), SOURCE.index("..."), PARSER)
    samples = [
        Sample("    return a + b\n", -4.0, 4, "stop"),
        Sample("    return (a +\n", -0.1, 4, "stop"),  # does not parse
        Sample("    pass\n", -0.1, 2, "stop"),  # still a stub
        Sample("    return a - b", -1.0, 4, "stop"),
        Sample("    return a + b", -4.0, 4, "stop"),  # a duplicate
    ]
    candidates = generation.candidates_from(task, samples, PARSER)
    assert [(c.body, c.count) for c in candidates] == [
        ("    return a + b", 2), ("    return a - b", 1)
    ]  # fmt: skip
    good, bad = candidates
    good.report = checking.Report([checking.ExampleResult(e, True) for e in task.examples])
    bad.report = checking.Report([checking.ExampleResult(e, False) for e in task.examples])
    assert generation.rank([bad, good]) == [good, bad]  # tests first, log-probability second
    bad.report = good.report
    assert generation.rank([good, bad]) == [bad, good]


def test_no_examples_is_unverified_and_picks_by_logprob() -> None:
    text = "def f(x):\n    ...\n"
    task = runner.prepare(text, PARSER.parse(text.encode()), 4, PARSER)
    samples = [Sample("    return x * 2", -6.0, 3, "stop"), Sample("    return x", -1.0, 2, "stop")]
    candidates = generation.candidates_from(task, samples, PARSER)
    outcome = generation.choose(task, candidates, 2, runner.Policy())
    assert not outcome.verified and outcome.best.body == "    return x"
    assert outcome.summary.startswith("unverified: no examples for f")


def test_body_stop_rule_ends_at_dedent() -> None:
    stop = generation.body_stop("    ")
    text = "    y = 1\n    return y\n\ndef g():\n"
    assert text[: stop(text)] == "    y = 1\n    return y\n\n"
    assert stop("    y = 1\n    ret") is None


def test_body_stop_rule_ends_a_loop_after_whole_repetitions() -> None:
    stop = generation.body_stop("    ")
    pairs = "".join(f"    if n == {k}:\n        return False\n" for k in range(1, 9))
    cut = pairs[: stop(pairs)]
    assert cut == "".join(f"    if n == {k}:\n        return False\n" for k in range(1, 4))
    same = "    x += 1\n" * 6
    assert same[: stop(same)] == "    x += 1\n" * 3
    varied = "    a = 1\n    b = 2\n    c = [1]\n    d = 4\n    return a\n"
    assert stop(varied) is None


def test_prepare_refuses_non_stubs_and_missing_functions() -> None:
    tree = PARSER.parse(SOURCE.encode())
    with pytest.raises(runner.TargetError, match="already has a body"):
        runner.prepare(SOURCE, tree, SOURCE.index("return x"), PARSER)
    with pytest.raises(runner.TargetError, match="no function"):
        runner.prepare(SOURCE, tree, 0, PARSER)


needs_sandbox = pytest.mark.skipif(
    runner.sandbox_missing() is not None, reason="reason_lsp.sandbox is not available"
)


@needs_sandbox
def test_choose_runs_candidates_in_the_sandbox() -> None:
    from reason_lsp import sandbox

    task = runner.prepare(SOURCE, PARSER.parse(SOURCE.encode()), SOURCE.index("..."), PARSER)
    samples = [
        Sample("    return a - b", -0.5, 4, "stop"),
        Sample("    while True:\n        pass", -0.1, 5, "stop"),
        Sample("    return a + b", -3.0, 4, "stop"),
    ]
    candidates = generation.candidates_from(task, samples, PARSER)
    policy = runner.Policy(limits=sandbox.Limits(timeout_s=1.5, cpu_s=2))
    outcome = generation.choose(task, candidates, 3, policy)
    assert outcome.verified and outcome.best.body == "    return a + b"
    assert outcome.against == "2 doctests"
    assert outcome.summary == "verified against 2 doctests: 1/3 candidates passed all"
    looping = next(c for c in candidates if "while" in c.body)
    assert looping.passed == 0 and "timed out" in looping.report.results[0].error


@needs_sandbox
def test_a_body_that_fails_one_example_is_never_marked_verified() -> None:
    from reason_lsp import sandbox

    task = runner.prepare(SOURCE, PARSER.parse(SOURCE.encode()), SOURCE.index("..."), PARSER)
    samples = [  # both pass add(2, 3); neither raises the TypeError the second one expects
        Sample("    return 5", -0.5, 4, "stop"),
        Sample("    return int(a) + 3", -0.9, 4, "stop"),
    ]
    candidates = generation.candidates_from(task, samples, PARSER)
    outcome = generation.choose(task, candidates, 2, runner.Policy(limits=sandbox.Limits()))
    assert not outcome.verified
    assert (outcome.best.body, outcome.passed, outcome.total) == ("    return 5", 1, 2)
    assert outcome.summary.startswith("unverified: no candidate passed all of 2 doctests")


CONSTANT = '''def triples(n):
    """Count the triples.

    Input: n = 5
    Output: 1
    """
    ...
'''


@needs_sandbox
def test_examples_a_constant_passes_rank_but_do_not_verify() -> None:
    from reason_lsp import sandbox

    task = runner.prepare(CONSTANT, PARSER.parse(CONSTANT.encode()), 4, PARSER)
    assert [(e.kind, e.source, e.want) for e in task.examples] == [("call", "triples(n = 5)", "1")]
    samples = [Sample("    return 2", -0.1, 4, "stop"), Sample("    return 1", -0.9, 4, "stop")]
    candidates = generation.candidates_from(task, samples, PARSER)
    outcome = generation.choose(task, candidates, 2, runner.Policy(limits=sandbox.Limits()))
    assert outcome.best.body == "    return 1" and outcome.passed == 1
    assert not outcome.verified
    assert "a body returning one constant could too" in outcome.summary
    assert outcome.against == "1 docstring example"


NO_EXAMPLES = '''def double(x):
    """Twice x."""
'''


@needs_sandbox
def test_without_examples_model_written_asserts_rank_by_agreement_and_never_verify() -> None:
    from reason_lsp import sandbox
    from reason_lsp.features.generation import codet

    tree = PARSER.parse(NO_EXAMPLES.encode())
    task = runner.prepare(NO_EXAMPLES, tree, NO_EXAMPLES.index("Twice"), PARSER)
    assert task.examples == []
    written = [  # the rest of "assert double(" as the model would write it
        Sample("2) == 4", -1.0, 4, "stop"),
        Sample("0) == 0", -1.0, 4, "stop"),
        Sample("2) == 4", -1.0, 4, "stop"),  # a duplicate
        Sample("3) == 7", -1.0, 4, "stop"),  # a wrong guess
        Sample("3)", -1.0, 2, "stop"),  # no comparison: not a check
        Sample("3) == (", -1.0, 4, "stop"),  # does not parse
        Sample("4) == 8 and", -1.0, 64, "length"),  # cut off
    ]
    asserts = codet.assertions(task, written)
    assert [a.source for a in asserts] == [
        "assert double(2) == 4", "assert double(0) == 0", "assert double(3) == 7",
    ]  # fmt: skip
    assert all(a.generated and "(model-written)" in a.label() for a in asserts)
    bodies = [  # the likeliest is wrong; two samples agree on the right one
        Sample("    return x + 2", -0.1, 4, "stop"),
        Sample("    return x * 2", -0.9, 4, "stop"),
        Sample("    return x * 2", -0.9, 4, "stop"),
        Sample("    return 2 * x", -1.5, 4, "stop"),
    ]
    candidates = generation.candidates_from(task, bodies, PARSER)
    outcome = generation.choose(
        task, candidates, 4, runner.Policy(limits=sandbox.Limits()), generated=asserts
    )
    assert outcome.best.body == "    return x * 2"  # 3 samples pass the same 2 asserts
    assert not outcome.verified and (outcome.passed, outcome.total) == (0, 0)
    assert "model-written" in outcome.against and "not verification" in outcome.against
    assert "3 samples that pass the same 2" in outcome.summary


def test_completion_task_only_for_completions_that_finish_a_function_with_doctests() -> None:
    typing = SOURCE.replace("    ...\n", "    return \n", 1)
    at = typing.index("return ") + len("return ")
    task = runner.completion_task(typing, at, "a + b")
    assert task is not None and task.target.name == "add" and len(task.examples) == 2
    assert "return a + b\n" in task.text
    middle = SOURCE.replace("    ...\n", "    x = \n    return x\n", 1)
    at = middle.index("x = ") + 4
    assert runner.completion_task(middle, at, "a + b") is None  # the body goes on
    plain = "def f(x):\n    return "
    assert runner.completion_task(plain, len(plain), "x") is None  # no doctests
