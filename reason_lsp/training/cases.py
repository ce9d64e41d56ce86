"""The held-out positions the evaluation asks about, and Jedi's answers at them.

Every task samples its positions deterministically from the seed, per split, over
the held-out files (whole packages the corpus never saw). Jedi sees the same prefix
as the model (the file up to the cursor, nothing after it, so the line being
completed cannot leak into its inference) at the file's real path when it exists
on this machine, and its list (alphabetical) is taken in order.
"""

from __future__ import annotations

import io
import keyword
import random
import signal
import sys
import sysconfig
import tokenize
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Sample:
    """One held-out split: its name and records (``{path, package, text}``)."""

    name: str
    records: list[dict]
    rng_seed: int = 0

    def rng(self, task: str) -> random.Random:
        return random.Random(f"{self.rng_seed}:{self.name}:{task}")


def code_lines(text: str) -> list[tuple[int, int, str]]:
    """(line start offset, indent, line) of each non-blank, non-comment-only line."""
    out, offset = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append((offset, len(line) - len(line.lstrip()), line))
        offset += len(line) + 1
    return out


def next_line_cases(records: list[dict], rng: random.Random, n: int) -> list[tuple[str, str]]:
    """(prompt up to the line's first non-blank character, rest of the line)."""
    cands = [(i, c) for i, r in enumerate(records) for c in code_lines(r["text"])]
    picked = rng.sample(cands, min(n, len(cands)))
    out = []
    for i, (offset, indent, line) in picked:
        text = records[i]["text"]
        out.append((text[: offset + indent], line[indent:].rstrip()))
    return out


def fim_cases(records: list[dict], rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """(prefix, middle, suffix): the middle is a line's rest from a random column."""
    cands = [
        (i, c)
        for i, r in enumerate(records)
        for c in code_lines(r["text"])
        if len(c[2].rstrip()) - c[1] >= 2
    ]
    picked = rng.sample(cands, min(n, len(cands)))
    out = []
    for i, (offset, indent, line) in picked:
        text = records[i]["text"]
        end = len(line.rstrip())
        cut = rng.randrange(indent, end)
        out.append((text[: offset + cut], line[cut:end], text[offset + end :]))
    return out


def dot_positions(text: str) -> list[tuple[int, str]]:
    """(offset just after ``name.``, the identifier that follows) for every such place."""
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    try:
        toks = [
            t
            for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in (tokenize.NL, tokenize.COMMENT)
        ]
    except (tokenize.TokenError, SyntaxError, ValueError):
        return []
    out = []
    for prev, dot, nxt in zip(toks, toks[1:], toks[2:], strict=False):
        if (
            dot.type == tokenize.OP
            and dot.string == "."
            and prev.type == tokenize.NAME
            and not keyword.iskeyword(prev.string)
            and prev.end == dot.start
            and nxt.type == tokenize.NAME
            and nxt.start == dot.end
        ):
            row, col = dot.end
            out.append((starts[row - 1] + col, nxt.string))
    return out


def ident_cases(records: list[dict], rng: random.Random, n: int) -> list[tuple[int, int, str]]:
    """(record index, offset after the dot, true identifier)."""
    cands = [
        (i, off, name) for i, r in enumerate(records) for off, name in dot_positions(r["text"])
    ]
    return rng.sample(cands, min(n, len(cands)))


def _real_path(rel: str) -> Path | None:
    roots = [Path(sysconfig.get_paths()["stdlib"]), *(Path(p) for p in sys.path if p)]
    for root in roots:
        path = root / rel
        if path.is_file():
            return path
    return None


class _Timeout(Exception):
    pass


def jedi_names(prefix: str, rel_path: str, limit_s: int = 10) -> list[str] | None:
    """Jedi's completions at the end of ``prefix`` (None when Jedi fails or times out)."""
    import jedi

    lines = prefix.split("\n")
    path = _real_path(rel_path) or Path(rel_path)

    def alarm(*_):
        raise _Timeout

    old = signal.signal(signal.SIGALRM, alarm) if hasattr(signal, "SIGALRM") else None
    if old is not None:
        signal.alarm(limit_s)
    try:
        comps = jedi.Script(code=prefix, path=path).complete(len(lines), len(lines[-1]))
        return [c.name for c in comps]
    except Exception:  # Jedi raises many kinds on odd code; a failure is a miss
        return None
    finally:
        if old is not None:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
