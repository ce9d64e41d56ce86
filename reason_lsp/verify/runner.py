"""Running a function's examples: which function, which examples, and the sandboxed run.

:func:`prepare` finds the function at a position and its examples (doctests, the
docstring's prose examples, and asserts in the workspace's tests), :func:`run_check`
runs them against a source in the sandbox through the check program
(:mod:`reason_lsp.verify.program`), and :func:`verify` does both for the code as it
stands. Completion, the unlikely-code quick fixes and generation all verify through here.

The sandbox (``reason_lsp.sandbox``) is imported lazily; when it is missing or
refuses (``sandbox.require`` with no isolation available) nothing is run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tree_sitter

from reason_lsp.text import languages
from reason_lsp.text.positions import encode
from reason_lsp.verify import examples as verification
from reason_lsp.verify import program as checking
from reason_lsp.verify import prose, workspace_tests


class TargetError(Exception):
    """A request that cannot be served; the message is meant for the user."""


@dataclass(frozen=True)
class Task:
    """One function to write: the file, the target and the examples that check it."""

    text: str
    target: verification.Target
    examples: list[verification.Example]
    base_errors: int  # syntax errors of the file as it is (a candidate may not add any)


@dataclass(frozen=True)
class Policy:
    """How (and whether) candidates run: from the ``sandbox.*`` settings."""

    enable: bool = True
    require: bool = False
    limits: Any = None  # reason_lsp.sandbox.Limits; None = the sandbox's defaults


def error_count(node: tree_sitter.Node) -> int:
    count, stack = 0, [node]
    while stack:
        n = stack.pop()
        if n.is_error or n.is_missing:
            count += 1
        if n.has_error:
            stack.extend(n.children)
    return count


def prepare(
    text: str,
    tree: tree_sitter.Tree | None,
    offset: int,
    parser: tree_sitter.Parser,
    root: Path | None = None,
    *,
    need_stub: bool = True,
) -> Task:
    """The function at ``offset`` and its examples; raises :class:`TargetError`."""
    target = verification.find_function(text, tree, offset)
    if target is None:
        raise TargetError("there is no function at the cursor")
    if need_stub and target.stub is None:
        raise TargetError(
            f"{target.name} already has a body (generate fills stubs: ..., pass, "
            "raise NotImplementedError or a docstring only)"
        )
    examples = own_examples(target)
    if tree is not None:
        known = verification.module_names(tree)
        examples += workspace_tests.examples_from_tests(root, target.name, known, parser)
    base = error_count(tree.root_node) if tree is not None else 0
    return Task(text, target, examples, base)


def own_examples(target: verification.Target) -> list[verification.Example]:
    """The examples the function's docstring gives: doctests, then prose examples."""
    return verification.doctest_examples(target) + prose.prose_examples(target)


def run_check(
    source: str, examples: list[verification.Example], policy: Policy
) -> tuple[checking.Report, list[str], str | None]:
    """Run ``examples`` against ``source`` in the sandbox: (report, isolation, refused)."""
    from reason_lsp import sandbox

    limits = policy.limits if policy.limits is not None else sandbox.Limits()
    program = checking.check_program(source, examples)
    result = sandbox.run_python(program, limits, require=policy.require)
    if result.refused:
        return checking.Report(), list(result.isolation), result.refused
    stopped = ""
    if result.timed_out:
        stopped = f"timed out after {limits.timeout_s:g} s"
    elif result.limits_hit:
        stopped = "stopped by the sandbox: " + ", ".join(result.limits_hit)
    elif result.exit_code not in (0, None):
        tail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.exit_code}"]
        stopped = f"crashed: {tail[0][:200]}"
    report = checking.parse_report(result.stdout, examples, stopped)
    return report, list(result.isolation), None


def sandbox_missing() -> str | None:
    """Why the sandbox cannot be used here (None if it can)."""
    try:
        from reason_lsp import sandbox  # noqa: F401
    except ImportError as exc:
        return f"the sandbox is not available ({exc})"
    return None


def verify(task: Task, policy: Policy) -> tuple[checking.Report, str | None]:
    """Run the function's examples against its current body: (report, refusal or None)."""
    if not task.examples:
        return checking.Report(), f"{task.target.name} has no examples to run"
    if not policy.enable:
        return checking.Report(), "the sandbox is off (sandbox.enable)"
    if missing := sandbox_missing():
        return checking.Report(), missing
    report, _, refused = run_check(task.text, task.examples, policy)
    return report, refused


def completion_task(text: str, offset: int, completion: str) -> Task | None:
    """The check for a completion that finishes a function with docstring examples
    (``verifyCompletions``); None when there is nothing to run."""
    source = text[:offset] + completion + text[offset:]
    tree = languages.parser_for("python").parse(encode(source))
    target = verification.find_function(source, tree, offset)
    if target is None or target.stub is not None or target.body_end > offset + len(completion):
        return None  # no function, still a stub, or its body goes on after the completion
    examples = own_examples(target)
    return Task(source, target, examples, error_count(tree.root_node)) if examples else None


def policy_from_settings(settings: Any) -> Policy:
    limits = None
    if sandbox_missing() is None:
        from reason_lsp import sandbox

        limits = sandbox.limits_from_settings(settings)
    return Policy(settings.sandbox_enable, settings.sandbox_require, limits)
