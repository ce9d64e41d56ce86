"""Repository context: snippet ranking (the window sharing most tokens wins, at most one
per file, near files first), declarations of what the cursor uses, and the budget."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from test_workspace_index import make_repo

from reason_lsp.text import languages
from reason_lsp.workspace import build, retrieval
from reason_lsp.workspace.symbols import extract, token_set


def filler(tag: str, lines: int) -> str:
    return "".join(f"{tag}_a = {tag}_b + {i}\n" for i in range(lines))


#: Each library file: 70 lines of unrelated code, then a window about orders.
ORDERS = "def total_order_price(order_items, discount_rate):\n" + "".join(
    f"    subtotal_{i} = order_items[{i}].unit_price * order_items[{i}].quantity\n"
    for i in range(8)
)
TAX = 'def tax_rate(region):\n    """Tax of a region."""\n    return 0.2\n'
FILES = {
    "lib/billing.py": TAX + filler("billing", 70) + ORDERS + filler("tail", 30),
    # The same window twice in one file: still one snippet from it.
    "lib/twice.py": ORDERS + filler("mid", 70) + ORDERS.replace("discount_rate", "rebate"),
    "lib/weather.py": filler("weather", 120),
    "lib/shipping.py": "def ship(order_items):\n    return [i.quantity for i in order_items]\n",
}
CURSOR_DOC = (
    "from lib.billing import total_order_price, tax_rate\n"
    "import lib.shipping as shipping\n"
    "\n"
    "def checkout(order_items, discount_rate):\n"
    "    subtotal_0 = order_items[0].unit_price * order_items[0].quantity\n"
    "    total = total_order_price(order_items, discount_rate) * tax_rate(region)\n"
    "    shipping."
)


def setup(tmp_path: Path, doc: str = CURSOR_DOC):
    root = make_repo(tmp_path / "repo", {**FILES, "app.py": doc})
    index = build.build(root)
    reader = build.Reader(index)
    tree = languages.parser_for("python").parse(doc.encode())
    facts = extract(doc.encode(), "python", tree, windows=False)
    document = retrieval.Document("app.py", doc, len(doc), facts, tree)
    return index, reader, document


def test_the_window_sharing_most_tokens_wins_and_one_per_file(tmp_path: Path) -> None:
    index, reader, doc = setup(tmp_path)
    query = token_set(doc.text.encode())
    found = retrieval.Retriever().snippets(index, reader, query, "app.py")
    rels = [s.rel for s in found]
    assert len(rels) == len(set(rels))  # at most one per file
    assert "app.py" not in rels  # never the document itself
    assert rels[0] in ("lib/billing.py", "lib/twice.py")
    best = found[0]
    assert "def total_order_price(order_items, discount_rate):" in best.lines
    assert "lib/weather.py" not in rels  # nothing in common: under the threshold
    scores = [s.score for s in found]
    assert scores == sorted(scores, reverse=True)


def test_near_files_come_first(tmp_path: Path) -> None:
    index, reader, doc = setup(tmp_path)
    query = token_set(doc.text.encode())
    found = retrieval.Retriever().snippets(index, reader, query, "app.py", near=["lib/shipping.py"])
    assert found[0].rel == "lib/shipping.py"
    assert found[0].score < max(s.score for s in found[1:])  # first although less similar


def test_jaccard() -> None:
    assert retrieval.jaccard({1, 2, 3}, {2, 3, 4}) == 0.5
    assert retrieval.jaccard(set(), {1}) == 0.0


def test_context_holds_declarations_and_snippets_in_order(tmp_path: Path) -> None:
    index, reader, doc = setup(tmp_path)
    pieces = retrieval.gather(index, reader, retrieval.Retriever(), doc, 3000)
    kinds = [p.kind for p in pieces]
    assert "snippet" in kinds and "declarations" in kinds
    assert kinds == sorted(kinds, key=lambda k: k == "declarations")  # snippets first
    declared = {p.path: p.text for p in pieces if p.kind == "declarations"}
    # The snippets chosen show total_order_price and ship (shipping.py is small): only
    # tax_rate, far from billing.py's similar window, is left to declare.
    assert declared == {"lib/billing.py": 'def tax_rate(region):\n    """Tax of a region."""'}
    snippets = {p.path: p.text for p in pieces if p.kind == "snippet"}
    assert "def total_order_price(order_items, discount_rate):" in snippets["lib/billing.py"]
    assert "def ship(order_items):" in snippets["lib/shipping.py"]
    assert retrieval.cost(pieces) <= 3000


def test_without_snippets_only_declarations(tmp_path: Path) -> None:
    index, reader, doc = setup(tmp_path)
    pieces = retrieval.gather(index, reader, retrieval.Retriever(), doc, 3000, snippets=False)
    assert {p.kind for p in pieces} == {"declarations"}
    assert {p.path for p in pieces} == {"lib/billing.py", "lib/shipping.py"}
    declared = {p.path: p.text for p in pieces}
    assert declared["lib/billing.py"] == (  # in source order
        'def tax_rate(region):\n    """Tax of a region."""\n'
        "def total_order_price(order_items, discount_rate): ..."
    )
    # `shipping.` at the cursor: the module's outline.
    assert declared["lib/shipping.py"] == "def ship(order_items): ..."
    assert [p.path for p in pieces][-1] == "lib/shipping.py"  # the closest name is last


def test_snippets_are_reused_while_the_cursor_stays_near(tmp_path: Path) -> None:
    index, reader, doc = setup(tmp_path)
    retriever = retrieval.Retriever()
    first = retrieval.gather(index, reader, retriever, doc, 3000, key="app")
    moved = doc.text + "\n    discount_rate = 0\n    "
    doc2 = retrieval.Document("app.py", moved, len(moved), doc.facts, None)
    again = retrieval.gather(index, reader, retriever, doc2, 3000, key="app")
    assert [p for p in again if p.kind == "snippet"] == [p for p in first if p.kind == "snippet"]


@settings(max_examples=40, deadline=None)
@given(budget=st.integers(min_value=0, max_value=4000), snippets=st.booleans())
def test_the_budget_is_respected(tmp_path_factory, budget: int, snippets: bool) -> None:
    index, reader, doc = _shared(tmp_path_factory)
    pieces = retrieval.gather(index, reader, retrieval.Retriever(), doc, budget, snippets=snippets)
    assert retrieval.cost(pieces) <= budget
    assert all(p.text.strip() for p in pieces)


_SHARED: dict[str, object] = {}


def _shared(factory):
    if "setup" not in _SHARED:
        _SHARED["setup"] = setup(factory.mktemp("budget"))
    return _SHARED["setup"]


def test_a_long_window_is_cut_to_the_lines_that_share_most() -> None:
    lines = tuple(f"unrelated_{i} = {i}" for i in range(40)) + ("order_items discount_rate",) * 3
    query = token_set(b"order_items discount_rate")
    span = retrieval.fit(lines, query, 200)
    assert span is not None
    start, end = span
    assert end == len(lines) and sum(len(line) + 1 for line in lines[start:end]) <= 200
    assert retrieval.fit(lines, query, 30) is None  # fewer than MIN_LINES fit
