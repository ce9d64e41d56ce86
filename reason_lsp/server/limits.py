"""How much text the model features may look at (pure).

A document over ``reasonLsp.maxModelChars`` characters, or with a line longer than
:data:`MAX_LINE_CHARS` (minified or generated code: a prompt window is cut at line
starts, so one such line would be in every prompt whole), gets no model features:
no completions, no unlikely-code scoring, no generation. Syntax diagnostics keep
working on it. Scoring also skips any one region longer than
:data:`MAX_REGION_CHARS`, so a single giant statement cannot hold the model's one
worker thread (and every completion queued behind it) for minutes.
"""

from __future__ import annotations

MAX_LINE_CHARS = 10_000
MAX_REGION_CHARS = 50_000


def too_big(text: str, max_chars: int) -> str | None:
    """Why ``text`` is too big for the model features, or None when it is not."""
    if len(text) > max_chars:
        return f"has {len(text):,} characters, more than reasonLsp.maxModelChars ({max_chars:,})"
    if longest_line(text) > MAX_LINE_CHARS:
        return f"has a line of more than {MAX_LINE_CHARS:,} characters"
    return None


def longest_line(text: str) -> int:
    longest, start = 0, 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            return max(longest, len(text) - start)
        longest = max(longest, end - start)
        start = end + 1


def region_too_big(start: int, end: int) -> bool:
    return end - start > MAX_REGION_CHARS
