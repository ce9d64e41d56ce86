"""Unlikely-code flags: regions, flag aggregation, and the sandbox check of a quick fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import tree_sitter
from tiny_model import MEMO

from reason_lsp.engine import TokenScore
from reason_lsp.features.unlikely import flags as unlikely
from reason_lsp.text import languages

PARSER = tree_sitter.Parser(languages.load("python"))


def parse(text: str) -> tree_sitter.Tree:
    return PARSER.parse(text.encode())


def test_regions_are_top_level_statements_and_methods_keyed_by_text() -> None:
    tree = parse(MEMO)
    header = unlikely.header_of(MEMO, tree)
    assert header == "import math\n\n"
    found = unlikely.regions(MEMO, tree, header)
    texts = [MEMO[r.start : r.end] for r in found]
    assert texts[0].startswith("def area(radius):")
    assert any(t.startswith("    def scaled(self, factor):") for t in texts)  # a method alone
    edited = MEMO.replace("return 2 * math.pi * radius", "return 3 * math.pi * radius")
    again = unlikely.regions(edited, parse(edited), header)
    changed = [a for a, b in zip(found, again, strict=True) if a.key != b.key]
    assert len(changed) == 1 and "circumference" in MEMO[changed[0].start : changed[0].end]


def score(text: str, at: str, surprisal: float, top: str, top_lp: float = -0.1) -> TokenScore:
    start = text.index(at)
    return TokenScore(start, start + len(at), surprisal, top, top_lp)


def test_a_flag_needs_high_surprisal_and_a_much_likelier_alternative() -> None:
    text = "if n <= limit:\n    total = total + 1\n"
    t = unlikely.Thresholds(warning=8.0, information=6.0, margin=2.5)
    flagged = unlikely.flags(text, [score(text, " <=", 9.0, " <")], t, PARSER)
    assert [(f.found, f.expected, f.severity) for f in flagged] == [("<=", "<", "warning")]
    assert flagged[0].message == 'unusual code: "<=" here; the model expects "<"'
    assert unlikely.flags(text, [score(text, " <=", 5.0, " <")], t, PARSER) == []  # not surprising
    assert unlikely.flags(text, [score(text, " <=", 9.0, " <", -8.0)], t, PARSER) == []  # no margin
    info = unlikely.flags(text, [score(text, " <=", 7.0, " <")], t, PARSER)
    assert info[0].severity == "information"


def test_only_whole_words_with_alternatives_of_their_kind_in_scope() -> None:
    text = "total = totel + 1\nsize = count * 2\n"
    t = unlikely.Thresholds()
    assert unlikely.flags(text, [score(text, "el", 9.0, "al")], t, PARSER) == []  # a piece
    assert unlikely.flags(text, [score(text, " count", 9.0, " +")], t, PARSER) == []  # kind
    assert unlikely.flags(text, [score(text, " count", 9.0, " number")], t, PARSER) == []  # scope
    found = unlikely.flags(text, [score(text, " count", 9.0, " size")], t, PARSER)
    assert [(f.found, f.expected) for f in found] == [("count", "size")]


def test_strings_and_comments_are_ignored_and_one_flag_per_line() -> None:
    text = 'x = "hello wrld"  # a commnet\ny = a + b\n'
    scores = [score(text, "wrld", 12.0, "world"), score(text, "commnet", 12.0, "comment")]
    scores += [score(text, " a", 9.0, " b"), score(text, " b", 11.0, " a")]
    flagged = unlikely.flags(text, scores, unlikely.Thresholds(), PARSER)
    assert [(f.found, f.expected) for f in flagged] == [("b", "a")]


def test_user_threshold_moves_both_levels(tmp_path: Path) -> None:
    (tmp_path / unlikely.CALIBRATION).write_text(
        '{"warning": 9.0, "information": 7.0, "margin": 3.0}'
    )
    assert unlikely.Thresholds.load(tmp_path) == unlikely.Thresholds(9.0, 7.0, 3.0)
    assert unlikely.Thresholds.load(tmp_path, override=12.0) == unlikely.Thresholds(12.0, 10.0, 3.0)


# -- end to end on the memorizing model ---------------------------------------------------

URI = "file:///tmp/reason_lsp_unlikely/circle.py"
MUTANT = MEMO.replace("math.pi * radius ** 2", "math.pi * radius ** 3")


SMALLER = '''def smaller(a, b):
    """The smaller of a and b.

    >>> smaller(2, 3)
    2
    >>> smaller(5, 1)
    1
    """
    return a if a <= b else b


def plain(a, b):
    return a if a <= b else b
'''


@pytest.mark.parametrize(
    ("which", "replacement", "verdict"),
    [("smaller", "<", True), ("smaller", ">", False), ("plain", ">", None)],
)
def test_quick_fix_is_checked_against_the_functions_examples_in_the_sandbox(
    which: str, replacement: str, verdict: bool | None
) -> None:
    from reason_lsp.features.unlikely.lsp import verify_replacement
    from reason_lsp.settings import Settings

    body = SMALLER.index("return", SMALLER.index(f"def {which}"))
    start = SMALLER.index("<=", body)
    result = verify_replacement(SMALLER, start, start + 2, replacement, Settings())
    assert result is verdict
