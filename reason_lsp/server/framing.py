"""Reading LSP frames (``Content-Length`` header block + body) from a byte stream.

pygls's reader accepts only a header line matching ``^Content-Length: (\\d+)\\r\\n$``
and, after one bad frame, glues the leftover bytes onto every following header and
waits forever. :class:`FrameReader` is lenient where the spec allows it and never
stalls on a frame it cannot finish:

* header names are case-insensitive, ``\\n`` line ends are accepted, unknown
  headers (``Content-Type``) are ignored;
* bytes that are not a header are skipped (logged) up to the next
  ``Content-Length`` header, even one glued onto the end of junk;
* a body that holds the start of the next frame (its ``Content-Length`` was too
  long) is cut there: a ``Content-Length: N`` line cannot occur inside valid JSON
  (no raw line break inside a string, no bare word outside one), so the cut is safe;
* a body whose bytes stop arriving for ``stall_s`` seconds is handed on as it is
  (it gets a parse error, or is answered if it happens to be complete);
* end of input ends the iteration, inside a frame or not.

Each frame comes out as :class:`Frame`; the caller parses the body (JSON-RPC
errors are :mod:`reason_lsp.server.jsonrpc`'s business).
"""

from __future__ import annotations

import logging
import os
import re
import select
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

# A header line is "name: value"; the name is an RFC 7230 token.
_HEADER = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*(.*?)[ \t]*$")
# A Content-Length header anywhere (resynchronising, or inside a too-long body).
_CONTENT_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*\d+[ \t]*\r?\n", re.IGNORECASE)
_CONTENT_LENGTH_START = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
MAX_BODY = 1 << 30  # a larger Content-Length is treated as a bad header
MAX_LINE = 1 << 16  # header lines longer than this are junk
STALL_S = 3.0


@dataclass(frozen=True)
class Frame:
    """One message body; ``problem`` says why its framing was irregular (logged already)."""

    body: bytes
    problem: str | None = None


class FrameReader:
    """Frames from the file descriptor ``fd`` (a pipe or a socket), read with ``os.read``."""

    def __init__(self, fd: int, stall_s: float = STALL_S) -> None:
        self.fd = fd
        self.stall_s = stall_s
        self._buf = bytearray()
        self._eof = False
        #: Bytes skipped because they were not part of any frame.
        self.skipped = 0

    # -- input -------------------------------------------------------------------------

    def _fill(self, timeout: float | None = None) -> bool:
        """Read what is available into the buffer; False on end of input or timeout."""
        if self._eof:
            return False
        if timeout is not None:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return False
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError as exc:  # the descriptor went away under us: end of input
            log.warning("input closed: %s", exc)
            data = b""
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _line(self) -> bytes | None:
        """The next line (with its end), or None at end of input."""
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                return line
            if len(self._buf) > MAX_LINE:
                self._skip_long_junk()
                continue
            if not self._fill():
                if self._buf:
                    self._junk(bytes(self._buf), "at the end of input")
                    self._buf.clear()
                return None

    def _skip_long_junk(self) -> None:
        """A line too long for a header: drop it, but keep a Content-Length header in it."""
        match = _CONTENT_LENGTH_START.search(self._buf)
        keep = match.start() if match is not None else len(self._buf) - 32
        self._junk(bytes(self._buf[:keep]), "(no line end)")
        del self._buf[:keep]
        if match is not None and len(self._buf) > MAX_LINE:
            self._junk(bytes(self._buf[:16]), "(a header too long)")
            del self._buf[:16]

    def _junk(self, data: bytes, where: str = "") -> None:
        if data.strip():
            self.skipped += len(data)
            log.warning("skipped %d bytes that are not an LSP frame %s: %r",
                        len(data), where, data[:80])  # fmt: skip

    # -- frames ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        while True:
            length = self._headers()
            if length is None:
                return
            frame = self._body(length)
            if frame is None:
                return
            yield frame

    def _headers(self) -> int | None:
        """Read one header block; its Content-Length, or None at end of input."""
        length: int | None = None
        seen = False
        while True:
            line = self._line()
            if line is None:
                return None
            text = line.rstrip(b"\r\n")
            if not text:
                if length is not None:
                    return length
                if seen:
                    log.warning("a header block without a valid Content-Length was skipped")
                    seen = False
                continue
            # Junk with a Content-Length header glued to its end (a short frame's
            # leftover): skip the junk, read the header. The last one on the line is the
            # real header (the junk may itself end in "Content-Length:").
            found = None
            for found in _CONTENT_LENGTH_START.finditer(line):  # noqa: B007 - the last one
                pass
            if found is not None and found.start() > 0:
                self._junk(line[: found.start()], "before a header")
                self._buf[:0] = line[found.start() :]
                length, seen = None, False
                continue
            match = _HEADER.match(text)
            if match is None:
                self._junk(line)
                length, seen = None, False
                continue
            seen = True
            if match.group(1).lower() == b"content-length":
                length = self._length(match.group(2))

    def _length(self, value: bytes) -> int | None:
        if value.isdigit() and int(value) <= MAX_BODY:
            return int(value)
        log.warning("invalid Content-Length %r: the frame is skipped", value[:40])
        return None

    def _body(self, length: int) -> Frame | None:
        """``length`` bytes of body, cut short where the next frame visibly starts."""
        scanned = 0
        while True:
            # Only a header that starts inside the claimed body counts (one right at its
            # end is simply the next frame).
            start = max(0, scanned - 64)
            embedded = _CONTENT_LENGTH.search(self._buf, start, length + 64)
            if embedded is not None and embedded.start() < length:
                cut = embedded.start()
                body = bytes(self._buf[:cut])
                del self._buf[:cut]
                problem = f"Content-Length {length} ran into the next frame after {cut} bytes"
                log.warning("%s; the frame was cut there", problem)
                return Frame(body, problem)
            if len(self._buf) >= length:
                body = bytes(self._buf[:length])
                del self._buf[:length]
                return Frame(body)
            scanned = len(self._buf)
            if self._fill(self.stall_s):
                continue
            if self._eof:
                if self._buf.strip():
                    log.warning("input ended inside a frame (%d of %d bytes)",
                                len(self._buf), length)  # fmt: skip
                return None
            problem = (
                f"only {len(self._buf)} of {length} bytes arrived "
                f"(nothing more for {self.stall_s:g} s)"
            )
            log.warning("%s; the frame is taken as it is", problem)
            body = bytes(self._buf)
            self._buf.clear()
            return Frame(body, problem)
