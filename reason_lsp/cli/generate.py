"""``reason-lsp generate FILE --line L``: the server's generation pipeline once, from a shell.

It finds the stub function at line L (1-based, any line of the function), samples
N bodies with the model's decoder, keeps those that parse, checks them against
the function's doctests and the workspace's test asserts in the sandbox, and
prints the chosen body with the summary. JSON output:
``{code, verified, passed, total, candidates, summary}``. The file is not changed.
Exit status: 0 when a body was chosen, 1 when none was, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reason_lsp.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument("file", type=Path)
    parser.add_argument("--line", type=int, required=True, help="1-based line in the function")
    parser.add_argument("--samples", type=int, default=defaults.generation_samples)
    parser.add_argument("--temperature", type=float, default=defaults.generation_temperature)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--model", default="embedded", help='"embedded", a folder or a hub id')
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--root", type=Path, help="where test files are (default: the file's)")
    parser.add_argument("--timeout", type=float, default=defaults.sandbox_timeout)
    parser.add_argument("--no-sandbox", action="store_true", help="do not run anything")
    parser.add_argument("--seed", type=int, default=0)


def sample(decoder, task, n: int, temperature: float, seed: int | None = 0) -> list:
    """``n`` samples for ``task`` from a decoder (one request; the prompt's cache is shared)."""
    from reason_lsp.features.generation import pipeline as generation

    request = generation.sample_request(task, temperature, seed=seed, samples=max(1, n))
    return decoder.generate(request).samples


def load_decoder(model: str, device: str = "auto"):
    from reason_lsp.engine import open_decoder

    return open_decoder(model, device)


def run(args: argparse.Namespace) -> int:
    from reason_lsp.cli.common import read_position
    from reason_lsp.features.generation import codet
    from reason_lsp.features.generation import pipeline as generation
    from reason_lsp.text import languages
    from reason_lsp.verify import runner

    found = read_position("generate", args.file, args.line)
    if found is None:
        return 2
    text, offset = found
    parser = languages.parser_for("python")
    tree = parser.parse(text.encode("utf-8"))
    root = args.root or args.file.resolve().parent
    try:
        task = runner.prepare(text, tree, offset, parser, root)
    except runner.TargetError as exc:
        print(f"reason-lsp generate: {exc}", file=sys.stderr)
        return 2
    try:
        decoder = load_decoder(args.model, args.device)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"reason-lsp generate: the model could not be loaded: {exc}", file=sys.stderr)
        return 2
    samples = sample(decoder, task, args.samples, args.temperature, args.seed)
    candidates = generation.candidates_from(task, samples, parser)
    settings = Settings().replace(sandbox_enable=not args.no_sandbox,
                                  sandbox_timeout=args.timeout)  # fmt: skip
    policy = runner.policy_from_settings(settings)
    written = []
    if not task.examples and len(candidates) > 1 and policy.enable:
        asking = codet.test_request(task, args.temperature, seed=args.seed)
        written = codet.assertions(task, decoder.generate(asking).samples)
    outcome = generation.choose(task, candidates, len(samples), policy, generated=written)
    code = outcome.best.body if outcome.best else ""
    if args.format == "json":
        record = {
            "code": code, "verified": outcome.verified, "passed": outcome.passed,
            "total": outcome.total, "candidates": outcome.sampled, "summary": outcome.summary,
            "against": outcome.against,
        }  # fmt: skip
        print(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        if code:
            print(code)
        print(f"# {outcome.summary}")
    return 0 if code else 1
