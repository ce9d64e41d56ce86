"""Redacting secrets from code before it leaves the machine for a remote model server.

:func:`redact` finds what looks like a credential and replaces it with a placeholder:
AWS access key ids, private key blocks (also one cut off by the end of the text),
tokens with a well-known prefix (GitHub, Slack, OpenAI, Google, Stripe, JWTs),
bearer tokens, string literals assigned to a name that says secret (``password =
"..."``, ``"api_key": "..."``), and high-entropy strings assigned to any name. The
result keeps the code's shape (a quoted secret stays a quoted string) and can map
offsets in the redacted text back to the original, so scores computed remotely land
on the user's text. Callers log :attr:`Redacted.count`, never what was found.

Pure Python, no I/O. Tuned against real-looking secrets and near misses
(``tests/unit/test_redact.py``): comparisons (``password == ""``), values read at run
time (``password = os.environ[...]``), empty strings, checksums assigned to names that
say nothing about secrets, URLs, paths and prose are left alone.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass, field

PLACEHOLDER = "REDACTED"

_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
    re.DOTALL,
)
#: Tokens whose shape alone says what they are.
_PREFIXED = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub
    r"|github_pat_[A-Za-z0-9_]{40,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|(?:sk|rk)_live_[0-9A-Za-z]{16,}"  # Stripe
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r")(?![A-Za-z0-9])"
)
_BEARER = re.compile(r"(?i)(?<![A-Za-z0-9])bearer\s+(?P<value>[A-Za-z0-9._~+/-]{16,}=*)")
#: ``name = "value"``, ``name: "value"``, ``"name": "value"``, ``name := "value"``,
#: ``NAME="value"`` (shell, .env), with the name in group ``name``.
_ASSIGNED = re.compile(
    r"""(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)["']?\s*(?::=|=>|(?<![=!<>:])=(?!=)|:)\s*"""
    r"""(?:[rbuRBU]{0,2})(?P<quote>["'`])(?P<value>(?:(?!(?P=quote))[^\\\n]|\\.){1,400})(?P=quote)"""
)
#: Words of a name that make its string value a secret, alone or as a pair.
_SECRET_WORDS = frozenset(
    {"password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "credential",
     "credentials", "privatekey", "accesskey"}
)  # fmt: skip
_SECRET_PAIRS = frozenset(
    {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"),
     ("client", "secret"), ("signing", "key"), ("auth", "key"), ("master", "key")}
)  # fmt: skip
#: A last word that says the value is about the secret, not the secret itself.
_NOT_SECRET_TAILS = frozenset(
    {"url", "uri", "path", "file", "dir", "name", "type", "field", "env", "var", "prefix",
     "header", "len", "length", "count", "label", "hint", "prompt", "id", "kind", "format"}
)  # fmt: skip
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_TOKENISH = re.compile(r"[A-Za-z0-9+/=_\-.~]+")


def entropy(text: str) -> float:
    """Shannon entropy of ``text``'s characters, in bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def high_entropy(value: str) -> bool:
    """A string that looks machine-made and random: a key, not a word, path or URL."""
    if len(value) < 20 or not _TOKENISH.fullmatch(value):
        return False
    if _HEX.fullmatch(value):
        return False  # hashes and ids: only a secret name makes hex a secret
    kinds = sum(bool(re.search(p, value)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    return kinds == 3 and entropy(value) >= 4.0


def says_secret(name: str) -> bool:
    """Whether a variable or key name says its value is a secret (``db_password``,
    ``apiKey``, ``AWS_SECRET_ACCESS_KEY``), not about one (``password_field``)."""
    words = [w.lower() for w in _WORD.findall(name)]
    if not words or words[-1] in _NOT_SECRET_TAILS:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def _placeholder_like(value: str) -> bool:
    v = value.strip()
    return (
        not v
        or v.upper() == PLACEHOLDER
        or set(v) <= set("*xX.<>-_ ")
        or (v.startswith(("{", "$", "%(", "<")) and v.endswith(("}", ")", ">")))
    )


@dataclass
class Redacted:
    """Redacted text, how many secrets were replaced, and the way back to the original."""

    text: str
    count: int = 0
    #: (start, end) in the redacted text of each placeholder, with the original span.
    spans: list[tuple[int, int, int, int]] = field(default_factory=list)

    def original_offset(self, offset: int) -> int:
        """The offset in the original text of ``offset`` in the redacted one (a position
        inside a placeholder maps to the start of what it replaced)."""
        i = bisect.bisect_right([s[0] for s in self.spans], offset) - 1
        if i < 0:
            return offset
        _, end, orig_start, orig_end = self.spans[i]
        if offset < end:
            return orig_start
        return offset - end + orig_end

    def inside(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` of the redacted text touches a placeholder."""
        return any(start < e and s < end for s, e, _, _ in self.spans)


def _secret_ranges(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for m in _PRIVATE_KEY.finditer(text):
        found.append(m.span())
    for m in _PREFIXED.finditer(text):
        found.append(m.span())
    for m in _BEARER.finditer(text):
        found.append(m.span("value"))
    for m in _ASSIGNED.finditer(text):
        value = m.group("value")
        if _placeholder_like(value) or PLACEHOLDER in value:
            continue
        secret_name = says_secret(m.group("name"))
        if (secret_name and (" " not in value.strip() or len(value) >= 12)) or high_entropy(value):
            found.append(m.span("value"))
    # Overlaps (a key inside an assignment, a token inside a key block) become one range.
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def redact(text: str) -> Redacted:
    """``text`` with every secret found replaced by :data:`PLACEHOLDER`."""
    ranges = _secret_ranges(text)
    if not ranges:
        return Redacted(text)
    parts: list[str] = []
    spans: list[tuple[int, int, int, int]] = []
    at = out = 0
    for start, end in ranges:
        parts.append(text[at:start])
        out += start - at
        parts.append(PLACEHOLDER)
        spans.append((out, out + len(PLACEHOLDER), start, end))
        out += len(PLACEHOLDER)
        at = end
    parts.append(text[at:])
    return Redacted("".join(parts), len(ranges), spans)
