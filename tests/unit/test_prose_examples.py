"""Examples stated in a docstring's prose: what is read, what is refused, how they run."""

from __future__ import annotations

import subprocess
import sys

import tree_sitter
import tree_sitter_python
from hypothesis import given
from hypothesis import strategies as st

from reason_lsp.features.generation import pipeline as generation
from reason_lsp.verify import examples as verification
from reason_lsp.verify import program as checking
from reason_lsp.verify import prose, runner

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))


def source(docstring: str, signature: str = "f(a, b=0)") -> str:
    return f'def {signature}:\n    """{docstring}\n    """\n    ...\n'


def target(docstring: str, signature: str = "f(a, b=0)") -> verification.Target:
    text = source(docstring, signature)
    found = verification.find_function(text, PARSER.parse(text.encode()), 4)
    assert found is not None
    return found


def pairs(docstring: str, signature: str = "f(a, b=0)") -> list[tuple[str, str]]:
    return [(e.source, e.want) for e in prose.prose_examples(target(docstring, signature))]


def test_arrows_and_verbs_between_a_call_and_its_result() -> None:
    doc = """Examples:
    f(1) == 2
    * f([1, 2]) ==> [3]
    f('a', b=2) => "ab"
    f(-1) -> -2
    f(0) ➞ True
    f("x.txt") # => 'Yes' (a comment after the result)
    f(3) returns 6
    f(4) should return 8.5.
    """
    assert pairs(doc) == [
        ("f(1)", "2"), ("f([1, 2])", "[3]"), ("f('a', b=2)", "'ab'"), ("f(-1)", "-2"),
        ("f(0)", "True"), ('f("x.txt")', "'Yes'"), ("f(3)", "6"), ("f(4)", "8.5"),
    ]  # fmt: skip


def test_input_output_blocks_and_the_output_should_be() -> None:
    doc = """Example 1:
        Input: a = [111, 21, 3], b = 2
        Output: 24 # sum of 21 + 3

    For a = [1,2,3] the output should be 14
    Input: [4, 2]
    Output: [2, 1]
    """
    assert pairs(doc) == [("f(a = [111, 21, 3], b = 2)", "24"), ("f(a = [1,2,3])", "14"),
                          ("f([4, 2])", "[2, 1]")]  # fmt: skip


def test_results_in_words_variables_unknown_keywords_and_other_functions_make_none() -> None:
    doc = """Returns f(n) = n * (n + 1) / 2 for any n.
    f(2) is the sum of the first two numbers
    f(x) == 3
    f(c=1) == 2
    g(1) == 2
    self.f(1) == 2
    >>> f(1)
    2
    Arithmetic is fine: f(4) == 1 + 9 + 0 = 10
    A string result may hold an equals sign: f(3) -> "a=b"
    """
    assert pairs(doc) == [("f(4)", "10"), ("f(3)", "'a=b'")]


@given(st.text(max_size=200))
def test_any_docstring_text_is_read_without_error(text: str) -> None:
    examples = prose.prose_examples(target(text.replace('"""', "").replace("\\", "")))
    assert all(e.kind == "call" and e.source.startswith("f(") for e in examples)


def test_check_program_compares_values_with_float_tolerance() -> None:
    doc = "f(1, 2) == 0.3\n    f(0) == [0.1, 2]\n    f(5) == (5,)"
    t = target(doc)
    examples = runner.own_examples(t)
    assert len(examples) == 3
    body = "    if a == 0:\n        return [0.1 + 1e-12, 2]\n    return 0.1 + 0.2 if b else [a]"
    text = t.insert(source(doc), body)
    program = checking.check_program(text, examples)
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                         timeout=30).stdout  # fmt: skip
    report = checking.parse_report(out, examples)
    assert [r.ok for r in report.results] == [True, True, False]  # a list is not a tuple
    assert report.results[2].got == "[5]"
    assert "expected (5,), got [5]" in checking.failure_message(report.results[2])
    assert generation.describe(examples) == "3 docstring examples"
