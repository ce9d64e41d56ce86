"""The frame reader: lenient headers, resynchronising after bad frames, never stalling."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from reason_lsp.server.framing import FrameReader


def frame(body: bytes, length: int | None = None, name: bytes = b"Content-Length") -> bytes:
    return name + b": %d\r\n\r\n" % (len(body) if length is None else length) + body


def bodies(data: bytes, stall_s: float = 0.2) -> list[bytes]:
    """What the reader makes of ``data`` followed by the end of input."""
    read, write = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write, data), os.close(write)))
    writer.start()  # a thread: more than a pipe's buffer may be written
    try:
        return [f.body for f in FrameReader(read, stall_s)]
    finally:
        writer.join()
        os.close(read)


def message(n: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": n, "method": "m", "params": {"n": n}}).encode()


def test_header_names_are_case_insensitive_and_other_headers_are_ignored() -> None:
    data = (
        frame(message(1), name=b"content-length")
        + b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
        + frame(message(2), name=b"CONTENT-LENGTH")
        + b"Content-Length:%d\n\n" % len(message(3))
        + message(3)
    )
    assert bodies(data) == [message(1), message(2), message(3)]


def test_a_short_frame_costs_only_itself() -> None:
    short = message(1)
    got = bodies(frame(short, len(short) - 7) + frame(message(2)))
    assert got == [short[:-7], message(2)]


def test_a_long_frame_is_cut_where_the_next_one_starts() -> None:
    got = bodies(frame(message(1), len(message(1)) + 30) + frame(message(2)) + frame(message(3)))
    assert got == [message(1), message(2), message(3)]


def test_a_long_frame_then_silence_is_handed_on_after_the_stall() -> None:
    read, write = os.pipe()
    try:
        os.write(write, frame(message(1), len(message(1)) + 5))
        frames: Iterator = iter(FrameReader(read, stall_s=0.1))
        first = next(frames)  # the input is still open: this must not wait for ever
        assert first.body == message(1) and "nothing more" in (first.problem or "")
    finally:
        os.close(write)
        os.close(read)


def test_junk_and_bad_headers_are_skipped() -> None:
    data = (
        b"junk without a line end"
        + frame(message(1))
        + b"\r\n\r\nnot: a frame\r\n\r\n"
        + b"x" * 200_000
        + b"\n"
        + b"Content-Length: twelve\r\n\r\n"
        + message(99)
        + frame(message(2))
        + b"Content-Length: 99999999999999\r\n\r\n"
        + frame(message(3))
    )
    assert bodies(data) == [message(1), message(2), message(3)]


def test_the_end_of_input_inside_a_frame_ends_the_frames() -> None:
    assert bodies(frame(message(1)) + frame(message(2), 500)) == [message(1)]
    assert bodies(b"") == []
    assert bodies(b"Content-Length: 5\r\n") == []


def test_a_huge_body_arrives_whole() -> None:
    big = json.dumps({"text": "a" * 10_000_000}).encode()
    assert bodies(frame(big) + frame(message(1)), stall_s=5) == [big, message(1)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.binary(max_size=30)), max_size=8))
def test_valid_frames_survive_junk_between_them(items: list[tuple[int, bytes]]) -> None:
    data = b""
    expected = []
    for n, junk in items:
        junk = junk.replace(b"\n", b" ")  # junk on one line, glued to the next header
        data += junk + frame(message(n))
        expected.append(message(n))
    assert bodies(data) == expected


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_any_input_ends_with_the_input(data: bytes) -> None:
    for body in bodies(data, stall_s=0.05):
        assert len(body) <= len(data)


def test_junk_that_itself_ends_in_a_content_length_header() -> None:
    """Found by hypothesis on a fresh clone: the glued junk ends in "Content-Length:"."""
    assert bodies(b"Content-Length:" + frame(message(0))) == [message(0)]
