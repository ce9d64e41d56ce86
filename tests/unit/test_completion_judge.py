"""The completion judge (CPython for Python), block openers, strings, and the gate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reason_lsp.features.completion import gate, judge, pipeline
from reason_lsp.text import languages

PARSER = languages.parser_for("python")


def breaks(text: str, offset: int, completion: str) -> bool:
    tree = PARSER.parse(text.encode())
    return judge.breaks("python", text, offset, completion, tree, PARSER)


BODY = "def f(x):\n    \n    return 1\n"
AT = BODY.index("\n    \n") + 5  # after the blank line's indentation


def test_a_block_opener_without_its_body_is_rejected_and_with_it_passes() -> None:
    assert breaks(BODY, AT, "if x:")
    assert not breaks(BODY, AT, "if x:\n        return 2")
    assert not breaks(BODY, AT, "y = x + 1")


def test_a_statement_that_cuts_a_try_from_its_except_is_rejected() -> None:
    text = "try:\n    a = 1\n\nexcept ValueError:\n    pass\n"
    at = text.index("\n\n") + 1  # column 0 of the blank line inside the try
    assert breaks(text, at, "b = 2")
    assert not breaks(text, at, "    b = 2")


def test_mid_edit_a_completion_must_leave_the_region_compiling() -> None:
    text = "def f(x):\n    y = g(x,"
    assert not breaks(text, len(text), " 1)")  # it now compiles
    assert breaks(text, len(text), " 1")  # the line is still unfinished
    assert breaks(text, len(text), " 1)\n    if y:")  # an opener without a body


def test_a_problem_above_the_cursor_is_not_the_completions_fault() -> None:
    text = "def f(x):\n    return x +\n    "
    assert not breaks(text, len(text), "y = 1")


def test_a_comment_where_a_block_opener_was_deleted_is_rejected() -> None:
    text = "def f(items):\n    total = 0\n    \n        print(item)\n"
    at = text.index("    \n") + 4
    assert breaks(text, at, "# print every item")
    assert not breaks(text, at, "for item in items:")


def test_the_compiler_not_only_the_parser_judges() -> None:
    text = "def f(items):\n    \n    return 1\n"
    at = text.index("    \n") + 4
    assert breaks(text, at, "continue")  # parses, but is not in a loop


def test_the_region_is_the_top_level_statements_around_the_cursor() -> None:
    text = "import os\n\n\ndef f():\n    return 1\n\n\nx = (\n"
    start, end = judge.region(text, text.index("return"), PARSER.parse(text.encode()))
    assert text[start:end] == "def f():\n    return 1\n"


def test_block_openers_by_language() -> None:
    assert judge.opens_block("python", "    for x in y:  # loop")
    assert judge.opens_block("python", "else:")
    assert not judge.opens_block("python", "x = {'a':")
    assert not judge.opens_block("python", "f = lambda x:")
    assert judge.opens_block("rust", "fn main() {")
    assert not judge.opens_block("rust", "let x = 1;")


def test_other_languages_keep_tree_sitter_as_their_judge() -> None:
    parser = languages.parser_for("rust")
    text = "fn main() {\n    \n}\n"
    at = text.index("    ") + 4
    tree = parser.parse(text.encode())
    assert not judge.breaks("rust", text, at, "let x = 1;", tree, parser)
    assert judge.breaks("rust", text, at, "let x = (;", tree, parser)


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [('x = "ab', '"'), ("x = 'a", "'"), ('def f():\n    """Doc', '"""'), ("x = 1", None)],
)
def test_the_string_the_cursor_is_in(text: str, delimiter: str | None) -> None:
    tree = PARSER.parse(text.encode())
    assert pipeline.string_delimiter(text, len(text), tree) == delimiter


def test_a_completion_inside_a_string_stays_inside_it() -> None:
    assert pipeline.inside_string('cd"\nprint(1)', '"') == "cd"
    assert pipeline.inside_string('more words.\n    """\n    x = 1', '"""') == "more words."
    assert pipeline.inside_string("first\nsecond", "'") == "first"


def test_gate_threshold_explicit_and_override() -> None:
    g = gate.Gate((1.0, 0.0, 0.0), 0.0, automatic=0.4, invoked=0.2)
    sure = gate.Confidence.of([-0.01, -0.02])
    unsure = gate.Confidence.of([-2.0, -3.0])
    assert g.allows(sure, explicit=False) and not g.allows(unsure, explicit=False)
    assert g.threshold(explicit=True) == 0.2
    assert g.allows(unsure, explicit=False, override=0.0)  # 0: show everything
    assert g.allows(None, explicit=False)  # no probabilities (remote): not gated
    assert gate.Gate().allows(unsure, explicit=False)  # uncalibrated model: not gated


@given(st.lists(st.floats(-8, 0), min_size=1, max_size=20))
def test_confidence_features(logprobs: list[float]) -> None:
    c = gate.Confidence.of(logprobs)
    assert c is not None and c.minimum <= c.mean + 1e-9 and c.first == logprobs[0]


def test_fit_ranks_likelier_suggestions_higher_and_threshold_meets_precision() -> None:
    rows = [((-0.1 * k, -0.2 * k, -0.1 * k), k < 10) for k in range(40)]
    fitted = gate.fit(rows)
    probs = [fitted.probability(gate.Confidence(*f, tokens=3)) for f, _ in rows]
    assert probs[0] > probs[20] > probs[39]
    scored = list(zip(probs, [ok for _, ok in rows], strict=True))
    threshold = gate.choose_threshold(scored, precision=0.9)
    shown = [ok for p, ok in scored if p >= threshold]
    assert sum(shown) / len(shown) >= 0.9 and len(shown) >= 9
