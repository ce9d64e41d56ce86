"""The stable diagnostic codes ``reason-lsp check`` reports, and choosing among them.

Each code is a rule a user can ``--select`` or ``--ignore`` (and a SARIF rule); the
codes never change meaning, so CI configurations keep working across releases.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    code: str
    name: str  # PascalCase, as SARIF's reportingDescriptor.name
    summary: str
    level: str  # the severity it is reported with: "error" | "warning"


RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule(
            "syntax-error",
            "SyntaxError",
            "Code that does not parse: an unexpected token, an unclosed bracket, a missing colon.",
            "error",
        ),
        Rule(
            "missing-token",
            "MissingToken",
            "A token the grammar requires is missing (the parser had to invent it).",
            "error",
        ),
        Rule(
            "unlikely-code",
            "UnlikelyCode",
            "The code model finds this token improbable here and expects another of the "
            "same kind (a possible typo or logic slip); warning or information by surprisal.",
            "warning",
        ),
        Rule(
            "example-failed",
            "ExampleFailed",
            "A doctest or test assert of the function fails when run in the sandbox "
            "(the server's Verify function command).",
            "error",
        ),
    )
}


class UnknownCode(ValueError):
    """A code given to --select/--ignore that no rule has."""


def parse_codes(values: Iterable[str]) -> list[str]:
    """Codes from repeated and comma-separated options; raises :class:`UnknownCode`."""
    out = []
    for value in values:
        for code in (c.strip() for c in value.split(",")):
            if not code:
                continue
            if code not in RULES:
                known = ", ".join(RULES)
                raise UnknownCode(f"unknown diagnostic code {code!r} (known: {known})")
            out.append(code)
    return out


def chosen(code: object, select: Sequence[str], ignore: Sequence[str]) -> bool:
    """Whether a diagnostic with ``code`` is reported: in ``select`` (all when empty)
    and not in ``ignore``."""
    return (not select or code in select) and code not in ignore
