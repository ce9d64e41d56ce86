"""The completion pipeline's pure core: shape gating, windows, stop rules, cleaning, type-ahead."""

from __future__ import annotations

import pytest
import tree_sitter
from hypothesis import given
from hypothesis import strategies as st

from reason_lsp.features.completion import plan as C
from reason_lsp.features.completion.typeahead import TypeAhead
from reason_lsp.text import languages

PY = languages.load("python")


def parse(text: str) -> tree_sitter.Tree:
    return tree_sitter.Parser(PY).parse(text.encode())


def plan_at_end(text: str, **kw) -> C.Plan | None:
    return C.plan(text, len(text), parse(text), **kw)


@pytest.mark.parametrize(
    "text",
    ['def f():\n    s = "abc', "x = 1  # a comm", 's = """doc\nmore', "x = 'a' + 'b"],
)
def test_nothing_inside_strings_or_comments(text: str) -> None:
    assert plan_at_end(text) is None
    assert plan_at_end(text, explicit=True) is not None


def test_after_a_closed_string_completion_is_offered() -> None:
    assert plan_at_end('x = "abc" + ') is not None


def test_block_after_a_line_that_opens_one() -> None:
    p = plan_at_end("def f(x):\n    ")
    assert p is not None and p.mode == "block" and p.indent == "    "
    p = plan_at_end("class A:\n    def f(self):")
    assert p is not None and p.mode == "block" and p.indent == "        "


def test_one_line_mid_line() -> None:
    text = "def f(x):\n    return foo(x)\n"
    p = C.plan(text, text.index("foo(x)") + 4, parse(text))
    assert p is not None and p.mode == "line" and p.line_suffix == "x)"


def test_word_and_member_context() -> None:
    p = plan_at_end("import os\nos.pa")
    assert p is not None and p.word == "pa" and p.after_dot
    p = plan_at_end("x = valu")
    assert p is not None and p.word == "valu" and not p.after_dot


def test_line_stop_rule_cuts_at_newline() -> None:
    stop = C.stop_rule(plan_at_end("x = "))
    assert stop("1 + 2") is None
    assert stop("1 + 2\ny = 3") == 5


def test_block_stop_rule_ends_at_dedent() -> None:
    stop = C.stop_rule(plan_at_end("def f(x):\n    "))
    out = "y = x + 1\n    return y\nprint(f(2))\n"
    cut = stop(out)
    assert out[:cut] == "y = x + 1\n    return y"


def test_a_block_stops_before_it_repeats_the_code_after_the_cursor() -> None:
    text = "def f(x):\n    \n    return y\n"
    offset = text.index("\n    \n") + 5
    p = C.plan(text, offset, parse(text))
    assert p is not None and p.mode == "block" and C.next_line(p) == "return y"
    stop = C.stop_rule(p)
    out = "y = x + 1\n    return y\n"
    assert out[: stop(out)] == "y = x + 1"
    assert stop("y = x + 1\n    return") is None  # still being written
    assert stop("return y\n") == 0 and C.clean(p, "return y\n    z") is None
    assert C.clean(p, "y = x + 1\n    return y") == "y = x + 1"


def test_inside_a_block_that_goes_on_a_completion_is_one_statement() -> None:
    text = "def f(x):\n    if x:\n        \n        return y\n    return 0\n"
    offset = text.index("\n        \n") + 9
    p = C.plan(text, offset, parse(text))
    assert p is not None and p.mode == "block" and C.inserting(p)
    stop = C.stop_rule(p)
    two = "y = x + 1\n        z = y\n"
    assert two[: stop(two)] == "y = x + 1"
    nested = "for i in x:\n            y += i\n        z = y\n"
    assert nested[: stop(nested)] == "for i in x:\n            y += i"
    end = "def f(x):\n    \n\nprint(f(1))\n"  # the block ends after the cursor: a body
    p2 = C.plan(end, end.index("\n    \n") + 5, parse(end))
    assert p2 is not None and p2.mode == "block" and not C.inserting(p2)
    body = "y = x + 1\n    return y\nprint(f(2))\n"
    assert body[: C.stop_rule(p2)(body)] == "y = x + 1\n    return y"


def test_an_opener_above_code_indented_deeper_gets_no_body_of_its_own() -> None:
    text = "def f(x):\n    for i in x:\n        \n            return i\n    return 0\n"
    offset = text.index("\n        \n") + 9
    p = C.plan(text, offset, parse(text))
    assert p is not None and p.mode == "block"
    out = "if i > 0:\n            return i\n"
    assert out[: C.stop_rule(p)(out)] == "if i > 0:"
    assert C.body_follows(p, "        if i > 0:")
    assert not C.body_follows(p, "            if i > 0:")


def test_a_line_that_is_the_next_line_again_is_dropped() -> None:
    text = "total = 0\n\nprint(total)\n"
    p = C.plan(text, len("total = 0\n"), parse(text))
    assert p is not None and p.mode == "line"
    assert C.clean(p, "print(total)") is None
    assert C.clean(p, "total += 1") == "total += 1"


def test_clean_strips_overlap_and_balances_brackets_against_the_suffix() -> None:
    text = "def f(x):\n    return foo(x)\n"
    offset = text.index("foo(x)") + 5
    p = C.plan(text, offset, parse(text))
    parser = tree_sitter.Parser(PY)
    assert C.clean(p, ", 1)", text, offset, parse(text), parser) == ", 1"
    assert C.clean(p, ", 1))", text, offset, parse(text), parser) == ", 1"


def test_clean_drops_a_completion_that_adds_a_syntax_error() -> None:
    text = "def f(x):\n    return \n"
    offset = text.index("return ") + 7
    p = C.plan(text, offset, parse(text))
    parser = tree_sitter.Parser(PY)
    assert C.clean(p, "x + 1", text, offset, parse(text), parser) == "x + 1"
    assert C.clean(p, "x + ) 1 (", text, offset, parse(text), parser) is None


@pytest.mark.parametrize(
    "junk", ["", "   ", "),flflflflflflflflfl", "a a a a a a a a", "x\nx\nx\nx"]
)
def test_clean_drops_empty_and_repetitive_output(junk: str) -> None:
    assert C.clean(plan_at_end("def f():\n    "), junk) is None


def test_window_start_moves_in_coarse_steps_so_the_cache_survives_typing() -> None:
    body = "".join(f"value_{i} = compute({i})\n" for i in range(2000))
    starts = set()
    for extra in range(0, 400, 7):
        text = body + "x" * extra
        p = C.plan(text, len(text), None, context_tokens=512)
        starts.add(len(text) - len(p.prefix))
    assert len(starts) == 1


def test_header_keeps_imports_and_definitions_that_fell_out_of_the_window() -> None:
    text = (
        "import os\nfrom pathlib import Path\n\n\ndef helper(a, b):\n    return a\n\n"
        + "".join(f"v{i} = {i}\n" for i in range(3000))
        + "def g():\n    return helper("
    )
    p = plan_at_end(text, context_tokens=256)
    assert "import os" in p.header and "from pathlib import Path" in p.header
    assert "def helper(a, b):" in p.header
    assert "import os" not in p.prefix


def test_type_ahead_serves_the_rest_of_the_suggestion() -> None:
    text = "def f(x):\n    "
    memo = TypeAhead.remember(text, len(text), "return x + 1")
    typed = text + "ret"
    assert memo.rest(typed, len(typed)) == "urn x + 1"
    assert memo.rest(text + "rex", len(text) + 3) is None  # typed something else
    assert memo.rest(text + "return x + 1", len(text) + 12) is None  # nothing left


@given(
    st.text(alphabet="abc ():\n\t\"'#.😀中", max_size=200), st.integers(min_value=0, max_value=250)
)
def test_plan_never_crashes_and_splits_the_text_at_the_cursor(text: str, offset: int) -> None:
    p = C.plan(text, offset, parse(text), explicit=True)
    at = min(offset, len(text))
    assert p is not None
    assert text[:at].endswith(p.prefix) and text[at:].startswith(p.suffix)


@given(st.integers(1, 8192), st.integers(1, 512), st.one_of(st.none(), st.integers(64, 32768)))
def test_prompt_budget_stays_within_the_models_window(
    context_tokens: int, max_new: int, window: int | None
) -> None:
    from reason_lsp.engine import EngineInfo
    from reason_lsp.features.completion.pipeline import prompt_tokens

    info = EngineInfo("m", "cpu", "float32", None, "local", window=window)
    budget = prompt_tokens(context_tokens, max_new, info)
    assert budget <= context_tokens
    if window is not None and window - max_new - 4 >= 16:
        assert budget + max_new + 4 <= window
    if window is None or context_tokens + max_new + 4 <= window:
        assert budget == context_tokens
