"""Unit tests of reason_lsp.text.positions: LSP <-> str <-> bytes <-> points."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol.types import Position

from reason_lsp.text.positions import (
    UTF8,
    UTF16,
    UTF32,
    TextIndex,
    column_from_units,
    encode,
    point_after,
    units,
)

TEXT = 'a = "😋"\r\nb = "日本"\rc = "é"\nd\n'  # emoji, CJK, CRLF, lone CR, combining-free é


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [(UTF16, 5), (UTF8, 7), (UTF32, 4)],  # closing quote of x="😋", as in the LSP spec issue #376
)
def test_units_of_emoji_line(encoding: str, expected: int) -> None:
    line = 'x="😋"'
    assert column_from_units(line, expected, encoding) == 4
    assert units(line[:4], encoding) == expected


def test_lsp_line_breaks_are_only_cr_lf_crlf() -> None:
    index = TextIndex("a\u2028b\x0cc\r\nd\re\nf")
    assert index.line_count == 4
    assert [index.line_text(i) for i in range(4)] == ["a\u2028b\x0cc", "d", "e", "f"]


def test_round_trip_positions() -> None:
    index = TextIndex(TEXT)
    for offset in range(len(TEXT) + 1):
        for enc in (UTF8, UTF16, UTF32):
            pos = index.position_at(offset, enc)
            back = index.offset_at(pos, enc)
            # Offsets inside a CRLF map to the end of the line's content.
            assert back == offset or TEXT[back : offset + 1] in ("\r", "\r\n")


def test_clamping() -> None:
    index = TextIndex(TEXT)
    assert index.offset_at(Position(0, 1000)) == TEXT.index("\r")
    assert index.offset_at(Position(99, 3)) == len(TEXT)
    assert index.offset_at(Position(0, 5), UTF16) == 5  # half a surrogate pair rounds up
    assert index.offset_at(Position(0, 6), UTF8) == 6  # inside the UTF-8 sequence rounds up
    assert index.position_at(10_000) == Position(4, 0)
    assert index.position_at(-5) == Position(0, 0)


def test_bytes_and_points() -> None:
    index = TextIndex(TEXT)
    data = encode(TEXT)
    for offset in range(len(TEXT) + 1):
        b = index.byte_at(offset)
        assert b == len(encode(TEXT[:offset]))
        assert index.offset_at_byte(b) == offset
    nl = data.index(b"\n")
    assert index.point_at_byte(nl + 1) == (1, 0)
    # A lone CR is a line break for LSP but not for tree-sitter points.
    cr = data.index(b"\r", nl)
    assert index.point_at_byte(cr + 1)[0] == 1
    assert index.position_at_byte(cr + 1).line == 2
    assert point_after((3, 4), "ab\n😋".encode()) == (4, 4)


def test_lone_surrogates_and_nul() -> None:
    text = "a\ud800b\x00c\n"
    index = TextIndex(text)
    assert index.data == text.encode("utf-8", "surrogatepass")
    assert index.position_at(3, UTF8) == Position(0, 5)
    assert index.offset_at(Position(0, 2), UTF16) == 2


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])), st.data())
def test_position_offset_inverse(text: str, data: st.DataObject) -> None:
    index = TextIndex(text)
    offset = data.draw(st.integers(0, len(text)))
    enc = data.draw(st.sampled_from([UTF8, UTF16, UTF32]))
    back = index.offset_at(index.position_at(offset, enc), enc)
    assert back == offset or text[back : offset + 1] in ("\r", "\r\n")
    assert index.offset_at_byte(index.byte_at(offset)) == offset
