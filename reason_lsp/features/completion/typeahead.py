"""Type-ahead: the rest of the last suggestion for a document, served while the user types it.

A suggestion the user is typing out stays valid without asking the model again: as
long as the text before its anchor and after the cursor are unchanged and what was
typed is its start, the rest of it is still the answer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TypeAhead:
    """The last suggestion for one document, to serve while the user types into it."""

    anchor: int  # offset the suggestion was made at
    before: str  # text just before the anchor
    after: str  # text just after the cursor, which typing must not change
    suggestion: str

    @classmethod
    def remember(cls, text: str, offset: int, suggestion: str) -> TypeAhead:
        return cls(
            offset, text[max(0, offset - 200) : offset], text[offset : offset + 200], suggestion
        )

    def rest(self, text: str, offset: int) -> str | None:
        """What is left of the suggestion at ``offset``, if the user typed its start."""
        if (
            offset < self.anchor
            or text[self.anchor - len(self.before) : self.anchor] != self.before
        ):
            return None
        typed = text[self.anchor : offset]
        if (
            not self.suggestion.startswith(typed)
            or text[offset : offset + len(self.after)] != self.after
        ):
            return None
        left = self.suggestion[len(typed) :]
        return left if left.strip() else None
