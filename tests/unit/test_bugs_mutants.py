"""The mutant generator of ``bench/bugs.py``: each kind makes a parseable one-line change.

No model: the sites come from tree-sitter alone, so this is fast.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import tree_sitter

from reason_lsp.text import languages

_SPEC = importlib.util.spec_from_file_location(
    "bench_bugs", Path(__file__).resolve().parents[2] / "bench" / "bugs.py"
)
bugs = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = bugs  # dataclasses look their module up
_SPEC.loader.exec_module(bugs)

PARSER = tree_sitter.Parser(languages.load("python"))

SOURCE = '''\
def window(items, size, key=None):
    """Slide over items (n < 3 in a docstring is not code, nor is a and b)."""
    total = 0  # a comment is not code either: x < 1 or y
    for i in range(len(items)):
        if i < size and key is not None:
            total = max(total, i)
    return total
'''


def _sites(source: str) -> dict[str, list]:
    tree = PARSER.parse(source.encode())
    (func,) = bugs.functions(tree)
    return bugs.sites(func)


def _changed(source: str, edit) -> tuple[int, str]:
    """The one line the edit changes (0-based), after the edit; the mutant must parse."""
    mutated = bugs.apply(source.encode(), edit)
    assert bugs.parses(mutated, PARSER) is not None, edit
    old, new = source.split("\n"), mutated.decode().split("\n")
    assert len(old) == len(new)
    diff = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    assert diff == [edit.row], edit
    return edit.row, new[edit.row].strip()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("comparison", {(4, "if i <= size and key is not None:")}),
        ("is-eq", {(4, "if i < size and key != None:")}),
        ("and-or", {(4, "if i < size or key is not None:")}),
        ("off-by-one", {(2, "total = 1  # a comment is not code either: x < 1 or y")}),
        ("swap-args", {(5, "total = max(i, total)")}),
    ],
)
def test_each_kind_makes_one_parseable_line_change_at_its_site(kind, expected) -> None:
    edits = _sites(SOURCE)[kind]
    assert {_changed(SOURCE, e) for e in edits} == expected  # never in strings or comments


def test_variable_reads_become_other_locals_and_bindings_stay() -> None:
    edits = _sites(SOURCE)["variable"]
    locals_ = {"items", "size", "key", "total", "i"}
    assert {e.before for e in edits} == locals_
    assert all(e.after in locals_ and e.after != e.before for e in edits)
    changed = {_changed(SOURCE, e) for e in edits}
    # Bindings (parameters, assignment and loop targets) and builtins are never touched.
    assert {row for row, _ in changed} == {3, 4, 5, 6}
    assert (5, "total = max(size, i)") in changed
    assert (3, "for i in range(len(size)):") in changed
    assert not any(line.startswith(("size =", "for size", "items =")) for _, line in changed)
    assert not any("max" in (e.before, e.after) or "range" in e.after for e in edits)


def test_equality_and_identity_operators_swap_both_ways() -> None:
    source = "def f(a, b):\n    return a == b or a is b or a != b or a >= b\n"
    sites = _sites(source)
    lines = {k: {_changed(source, e)[1] for e in sites[k]} for k in ("comparison", "is-eq")}
    assert lines["comparison"] == {
        "return a != b or a is b or a != b or a >= b",
        "return a == b or a is b or a == b or a >= b",
        "return a == b or a is b or a != b or a > b",
    }
    assert lines["is-eq"] == {
        "return a is b or a is b or a != b or a >= b",
        "return a == b or a == b or a != b or a >= b",
        "return a == b or a is b or a is not b or a >= b",
    }


def test_off_by_one_from_zero_goes_up_and_multiline_calls_are_not_swapped() -> None:
    source = "def f(a, b):\n    g(a,\n      b)\n    return a[0] + a[10]\n"
    sites = _sites(source)
    assert sites["swap-args"] == []
    assert {_changed(source, e)[1] for e in sites["off-by-one"]} == {
        "return a[1] + a[10]",
        "return a[0] + a[11]",
        "return a[0] + a[9]",
    }


def test_sampling_is_deterministic_and_keeps_one_parseable_mutant_per_function() -> None:
    second = "\n\ndef other(x):\n    if x > 1:\n        return x - 1\n    return x\n"
    record = {"path": "m.py", "package": "pkg", "text": SOURCE + second}
    pool = bugs.candidates([record], PARSER)
    assert [s.func.start_point.row for s in pool] == [0, 9]
    first = bugs.choose(bugs.candidates([record], PARSER), 5, 3, PARSER)
    again = bugs.choose(bugs.candidates([record], PARSER), 5, 3, PARSER)
    assert [s.edit for s, _, _ in first] == [s.edit for s, _, _ in again]
    assert len(first) == 2 and len({s.edit.kind for s, _, _ in first}) == 2  # kinds balanced
    for sample, mutated, tree in first:
        assert tree is not None and bugs.apply(sample.text.encode(), sample.edit) == mutated


def test_auc_counts_ties_half() -> None:
    assert bugs.auc_pairs([1.0], [0.0, 1.0, 2.0]) == pytest.approx(0.5)
    assert bugs.auc_pairs([3.0, 0.0], [1.0]) == pytest.approx(0.5)
    assert bugs.auc_pairs([], [1.0]) is None
