"""A one-line progress bar on stderr for ``reason-lsp check`` over many files.

Shown only when stderr is a terminal and there are more than :data:`FEW` files, so
CI logs, pre-commit output and pipes never see it. Messages printed while it is
shown (a note about the model) clear the bar's line first.
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

FEW = 3


class ProgressBar:
    def __init__(self, total: int, stream: TextIO | None = None, force: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        shown = self.stream.isatty() if force is None else force
        self.enabled = shown and total > FEW
        self.total = total
        self.done = 0
        self.label = ""
        self._drawn = False

    def advance(self, label: str = "") -> None:
        """One more file done; ``label`` is what comes next (a path, "loading the model")."""
        self.done += 1
        self.show(label)

    def show(self, label: str) -> None:
        self.label = label
        if not self.enabled:
            return
        width = max(20, shutil.get_terminal_size((80, 20)).columns - 1)
        count = f" {self.done}/{self.total} "
        bar_width = max(10, min(30, width // 3))
        filled = bar_width * self.done // max(1, self.total)
        bar = "[" + "#" * filled + "-" * (bar_width - filled) + "]"
        room = width - len(bar) - len(count) - 1
        label = label if len(label) <= room else "…" + label[-max(0, room - 1) :]
        self.stream.write("\r" + (bar + count + label)[:width].ljust(width))
        self.stream.flush()
        self._drawn = True

    def say(self, message: str) -> None:
        """Print a message line without leaving the bar mangled."""
        self.clear()
        print(message, file=self.stream, flush=True)
        if self.enabled and self.done < self.total:
            self.show(self.label)

    def clear(self) -> None:
        if self._drawn:
            width = max(20, shutil.get_terminal_size((80, 20)).columns - 1)
            self.stream.write("\r" + " " * width + "\r")
            self.stream.flush()
            self._drawn = False
