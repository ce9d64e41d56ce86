"""`check`'s progress bar: on a terminal for more than a few files, never elsewhere."""

from __future__ import annotations

import io

from reason_lsp.cli.progress import FEW, ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_with_many_files_gets_a_bar_that_is_cleared_at_the_end() -> None:
    out = Terminal()
    bar = ProgressBar(10, out)
    bar.show("src/a.py")
    for _ in range(5):
        bar.advance("src/b.py")
    bar.say("reason-lsp check: a note")  # the line is cleared first, then the bar redrawn
    assert "\rreason-lsp check: a note\n\r[" in out.getvalue().replace(" " * 20, "")
    for _ in range(5):
        bar.advance("src/c.py")
    assert " 10/10 " in out.getvalue() and "src/c.py" in out.getvalue()
    bar.clear()
    assert out.getvalue().endswith(" \r")


def test_no_bar_for_a_few_files_or_off_a_terminal() -> None:
    few, piped = Terminal(), io.StringIO()
    for stream, total in ((few, FEW), (piped, 100)):
        bar = ProgressBar(total, stream)
        bar.show("x.py")
        bar.advance()
        bar.say("note")
        bar.clear()
    assert few.getvalue() == "note\n" and piped.getvalue() == "note\n"
