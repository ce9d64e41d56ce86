"""Position conversion: the ONE place that maps between coordinate systems.

Four ways to point into a document exist in this server:

* LSP positions: ``(line, character)``, where ``character`` counts code units of
  the negotiated encoding (UTF-16 by default, UTF-8 or UTF-32 when negotiated).
  Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (LSP rules, not ``str.splitlines``).
* Python ``str`` offsets (code points), used to slice the text pygls stores.
* tree-sitter byte offsets into the UTF-8 encoding of the text.
* tree-sitter points ``(row, column)``: rows end at ``\\n`` only; columns are bytes.

Out-of-range LSP positions are clamped, never rejected: a line past the end
means the end of the document, a character past the end of its line means the
end of that line (before its terminator), and a character inside a multi-unit
character (half a surrogate pair, the middle of a UTF-8 sequence) moves to the
end of that character.

Text may hold lone surrogates (JSON allows ``"\\ud800"``); they are encoded
with ``surrogatepass`` so that every ``str`` has a byte form and no conversion
raises.
"""

from __future__ import annotations

import bisect
import operator
import re
from functools import cached_property
from itertools import accumulate, count
from typing import Final

from lsprotocol import types

UTF8: Final = types.PositionEncodingKind.Utf8.value
UTF16: Final = types.PositionEncodingKind.Utf16.value
UTF32: Final = types.PositionEncodingKind.Utf32.value
ENCODINGS: Final = (UTF8, UTF16, UTF32)

_NEWLINES = re.compile(r"\r\n|\r|\n")
_NEWLINES_B = re.compile(rb"\r\n|\r|\n")


def encode(text: str) -> bytes:
    """UTF-8 bytes of ``text`` as tree-sitter sees them (lone surrogates kept)."""
    return text.encode("utf-8", "surrogatepass")


def decode(data: bytes) -> str:
    """Inverse of :func:`encode`."""
    return data.decode("utf-8", "surrogatepass")


def normalize_encoding(encoding: str | types.PositionEncodingKind | None) -> str:
    """The encoding name as a plain string; unknown or missing means UTF-16."""
    value = getattr(encoding, "value", encoding)
    return value if value in ENCODINGS else UTF16


def units(text: str, encoding: str) -> int:
    """Length of ``text`` in code units of ``encoding``."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(encode(text))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def column_from_units(line: str, count: int, encoding: str) -> int:
    """The ``str`` column in ``line`` for ``count`` code units, clamped to the line.

    A count that falls inside a character rounds up to the end of it.
    """
    if count <= 0:
        return 0
    if encoding == UTF32 or line.isascii():
        return min(count, len(line))
    if count >= units(line, encoding):
        return len(line)
    # Smallest k with units(line[:k]) >= count; units() is monotonic in k.
    lo, hi = 0, min(count, len(line))
    while lo < hi:
        mid = (lo + hi) // 2
        if units(line[:mid], encoding) >= count:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _starts_from_parts(parts: list[str] | list[bytes]) -> list[int]:
    # start[k] = sum(len(parts[i]) + 1 for i < k), computed at C speed.
    return [0, *map(operator.add, accumulate(map(len, parts[:-1])), count(1))]


def _line_starts(text: str) -> list[int]:
    """Offsets where each LSP line starts (always at least ``[0]``)."""
    if "\r" not in text:
        # Fast path, C speed even for millions of lines.
        return _starts_from_parts(text.split("\n"))
    return [0, *(m.end() for m in _NEWLINES.finditer(text))]


def _byte_line_starts(data: bytes) -> list[int]:
    if b"\r" not in data:
        return _starts_from_parts(data.split(b"\n"))
    return [0, *(m.end() for m in _NEWLINES_B.finditer(data))]


class TextIndex:
    """Conversions for one immutable text. Build one per version; it caches lazily."""

    def __init__(self, text: str, data: bytes | None = None) -> None:
        self.text = text
        if data is not None:
            self.__dict__["data"] = data

    @cached_property
    def data(self) -> bytes:
        """The UTF-8 bytes tree-sitter parses."""
        return encode(self.text)

    @cached_property
    def line_starts(self) -> list[int]:
        return _line_starts(self.text)

    @cached_property
    def byte_line_starts(self) -> list[int]:
        return _byte_line_starts(self.data)

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def line_content_end(self, line: int) -> int:
        """``str`` offset where ``line``'s content ends (before its terminator)."""
        starts = self.line_starts
        if line + 1 >= len(starts):
            return len(self.text)
        end = starts[line + 1]
        if self.text[end - 1] == "\n":
            end -= 1
            if end > starts[line] and self.text[end - 1] == "\r":
                end -= 1
        else:  # a lone "\r"
            end -= 1
        return end

    def line_text(self, line: int) -> str:
        """Content of ``line`` without its terminator ('' past the end)."""
        if line < 0 or line >= self.line_count:
            return ""
        return self.text[self.line_starts[line] : self.line_content_end(line)]

    # -- LSP <-> str -------------------------------------------------------------

    def offset_at(self, position: types.Position, encoding: str = UTF16) -> int:
        """``str`` offset for an LSP position, clamped into the document."""
        line = max(position.line, 0)
        if line >= self.line_count:
            return len(self.text)
        start = self.line_starts[line]
        end = self.line_content_end(line)
        return start + column_from_units(self.text[start:end], position.character, encoding)

    def position_at(self, offset: int, encoding: str = UTF16) -> types.Position:
        """LSP position of a ``str`` offset (clamped to ``[0, len(text)]``)."""
        offset = min(max(offset, 0), len(self.text))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        # An offset inside a "\r\n" pair belongs to the end of the line's content.
        offset = min(offset, self.line_content_end(line))
        return types.Position(line=line, character=units(self.text[start:offset], encoding))

    def range_at(self, start: int, end: int, encoding: str = UTF16) -> types.Range:
        return types.Range(self.position_at(start, encoding), self.position_at(end, encoding))

    # -- str <-> bytes -----------------------------------------------------------

    def byte_at(self, offset: int) -> int:
        """UTF-8 byte offset of a ``str`` offset."""
        offset = min(max(offset, 0), len(self.text))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return self.byte_line_starts[line] + len(encode(self.text[self.line_starts[line] : offset]))

    def offset_at_byte(self, byte: int) -> int:
        """``str`` offset of a byte offset; a byte inside a character rounds down."""
        byte = min(max(byte, 0), len(self.data))
        line = bisect.bisect_right(self.byte_line_starts, byte) - 1
        chunk = self.data[self.byte_line_starts[line] : byte]
        for cut in range(len(chunk), max(len(chunk) - 4, -1), -1):
            try:
                return self.line_starts[line] + len(decode(chunk[:cut]))
            except UnicodeDecodeError:
                continue
        return self.line_starts[line] + len(chunk.decode("utf-8", "replace"))

    def position_at_byte(self, byte: int, encoding: str = UTF16) -> types.Position:
        return self.position_at(self.offset_at_byte(byte), encoding)

    def range_at_bytes(self, start: int, end: int, encoding: str = UTF16) -> types.Range:
        return types.Range(
            self.position_at_byte(start, encoding), self.position_at_byte(end, encoding)
        )

    # -- tree-sitter points ----------------------------------------------------

    def point_at_byte(self, byte: int) -> tuple[int, int]:
        """tree-sitter ``(row, column)``: rows split at ``\\n`` only, columns in bytes."""
        return point_at_byte(self.data, byte)


def point_at_byte(data: bytes, byte: int) -> tuple[int, int]:
    """tree-sitter point of ``byte`` in ``data``."""
    row = data.count(b"\n", 0, byte)
    return row, byte - (data.rfind(b"\n", 0, byte) + 1)


def point_after(start: tuple[int, int], inserted: bytes) -> tuple[int, int]:
    """The point reached after inserting ``inserted`` at ``start``."""
    newlines = inserted.count(b"\n")
    if newlines == 0:
        return start[0], start[1] + len(inserted)
    return start[0] + newlines, len(inserted) - (inserted.rfind(b"\n") + 1)
