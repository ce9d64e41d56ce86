"""The check program: one process runs a module and each of its examples, per-example results.

:func:`check_program` builds a program that executes the module's source (with a
candidate body), runs every example (:class:`~reason_lsp.verify.examples.Example`) in
its namespace as doctest would (``single`` mode, ``OutputChecker``, expected
exceptions), as a plain ``assert`` or a whole test function (run: no exception
passes), or as a call whose value must equal the docstring's
stated result (floats within a tolerance), and prints one marked JSON line per example.
So one sandbox run gives per-example pass/fail, and a run cut short by a timeout
still reports the examples it finished (:func:`parse_report`). Nothing here runs
anything: the caller hands the program to ``reason_lsp.sandbox``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from reason_lsp.verify.examples import Example

MARK = "@@reason-lsp-check@@"


@dataclass
class ExampleResult:
    example: Example
    ok: bool
    got: str = ""
    error: str = ""


@dataclass
class Report:
    """Per-example outcome of one check program run."""

    results: list[ExampleResult] = field(default_factory=list)
    module_error: str = ""  # the module itself failed to run

    @property
    def passed(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)

    def first_failure(self) -> ExampleResult | None:
        return next((r for r in self.results if not r.ok), None)


_PROGRAM = """\
import contextlib, doctest, io, json, math, sys, traceback
DATA = json.loads({data!r})
OUT = sys.stdout
def emit(**record):
    OUT.write({mark!r} + json.dumps(record) + "\\n")
    OUT.flush()
def last_line(exc):
    return traceback.format_exception_only(type(exc), exc)[-1]
ns = {{"__name__": "__reason_candidate__", "__builtins__": __builtins__}}
try:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        exec(compile(DATA["source"], DATA["filename"], "exec"), ns)
except BaseException as exc:
    emit(module=last_line(exc).strip()[:500])
    raise SystemExit(0)
checker = doctest.OutputChecker()
def same(got, want):
    if isinstance(got, float) or isinstance(want, float):
        try:
            return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)
        except TypeError:
            return False
    if type(got) in (list, tuple) and type(got) is type(want):
        return len(got) == len(want) and all(same(a, b) for a, b in zip(got, want))
    return got == want
for i, ex in enumerate(DATA["examples"]):
    buf, ok, error = io.StringIO(), False, ""
    doc = ex["kind"] == "doctest"
    try:
        if ex["kind"] == "call":
            with contextlib.redirect_stdout(io.StringIO()):
                got = eval(compile(ex["source"], "<example>", "eval"), ns)
            buf.write(repr(got)[:500])
            ok = bool(same(got, eval(ex["want"], {{"__builtins__": {{}}}})))
        else:
            with contextlib.redirect_stdout(buf):
                exec(compile(ex["source"], "<example>", "single" if doc else "exec"), ns)
            if doc and ex["exc_msg"] is not None:
                error = "expected an exception: " + ex["exc_msg"].strip()
            else:
                ok = not doc or checker.check_output(ex["want"], buf.getvalue(), ex["flags"])
    except BaseException as exc:
        message = last_line(exc)
        if doc and ex["exc_msg"] is not None:
            ok = checker.check_output(ex["exc_msg"], message, ex["flags"])
        if not ok:
            error = message.strip() if message.strip() != "AssertionError" else "assertion failed"
    emit(i=i, ok=bool(ok), got=buf.getvalue()[:500], error=error[:500])
"""


def check_program(source: str, examples: list[Example], filename: str = "<module>") -> str:
    """A program that runs ``source`` as a module, then each example against it."""
    data = {
        "source": source,
        "filename": filename,
        "examples": [
            {"kind": e.kind, "source": e.source, "want": e.want, "exc_msg": e.exc_msg,
             "flags": e.flags}
            for e in examples
        ],
    }  # fmt: skip
    return _PROGRAM.format(data=json.dumps(data), mark=MARK)


def parse_report(stdout: str, examples: list[Example], stopped: str = "") -> Report:
    """Per-example results from the check program's output; ``stopped`` says why
    examples without a result did not finish (a timeout, a limit, a crash)."""
    report = Report()
    seen: dict[int, ExampleResult] = {}
    for line in stdout.splitlines():
        if not line.startswith(MARK):
            continue
        try:
            record = json.loads(line[len(MARK) :])
        except ValueError:
            continue
        if "module" in record:
            report.module_error = str(record["module"])
        elif isinstance(record.get("i"), int) and 0 <= record["i"] < len(examples):
            i = record["i"]
            seen[i] = ExampleResult(
                examples[i], bool(record.get("ok")), str(record.get("got", "")),
                str(record.get("error", "")),
            )  # fmt: skip
    missing = report.module_error or stopped or "did not finish"
    if report.module_error:
        missing = f"the module failed to run: {report.module_error}"
    report.results = [seen.get(i) or ExampleResult(e, False, "", missing)
                      for i, e in enumerate(examples)]  # fmt: skip
    return report


def failure_message(result: ExampleResult) -> str:
    """A one-line human description of a failed example."""
    if result.error:
        return f"example failed: {result.error}"
    want = (result.example.exc_msg or result.example.want).strip() or "(nothing)"
    got = result.got.strip() or "(nothing)"
    return f"example failed: expected {want}, got {got}"
