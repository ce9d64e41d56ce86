"""Command line: ``reason-lsp [--stdio | --tcp --port N]`` and subcommands.

With no subcommand the language server runs (stdio by default). Subcommands
live in :data:`SUBCOMMANDS`; adding one means adding an entry there:

* ``check PATH... [--format text|json]``: the server's diagnostics pipeline on files;
* ``complete FILE --line L --col C``: one completion (``reason_lsp.cli.complete``);
* ``generate FILE --line L``: write a stub function (``reason_lsp.cli.generate``);
* ``sandbox FILE [--timeout S] [--format json]``: run a file sandboxed (``reason_lsp.sandbox``);
* ``stats [FILE | --port N]``: the model backends' latency (``reason_lsp.cli.stats``);
* ``fetch-model``: the pretrained default model into the cache (``reason_lsp.cli.fetch_model``);
* ``train``, ``eval``, ``build-corpus``, ``fetch-corpus``, ``pack-corpus``: delegated to
  ``reason_lsp.training.cli:main``, which receives ``[subcommand, *rest]``.

Exit status of ``check``: 1 if any error-severity diagnostic, 0 otherwise, 2 for
usage errors or unreadable files. Heavy modules are imported only by the
subcommand that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reason_lsp import __version__

log = logging.getLogger("reason_lsp")


@dataclass(frozen=True)
class Subcommand:
    """One ``reason-lsp NAME`` entry.

    Either ``add_arguments`` + ``run`` (parsed here), or ``delegate``
    ("module:function", called lazily with the raw ``[NAME, *argv]``).
    """

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    run: Callable[[argparse.Namespace], int] | None = None
    delegate: str | None = None


SUBCOMMANDS: dict[str, Subcommand] = {
    "check": Subcommand(
        "report diagnostics for files",
        lambda p: importlib.import_module("reason_lsp.cli.check").add_arguments(p),
        lambda a: importlib.import_module("reason_lsp.cli.check").run(a),
    ),
    "complete": Subcommand(
        "complete the code at FILE:LINE:COL with the model",
        lambda p: importlib.import_module("reason_lsp.cli.complete").add_arguments(p),
        lambda a: importlib.import_module("reason_lsp.cli.complete").run(a),
    ),
    "generate": Subcommand(
        "write the stub function at FILE:LINE with the model, checked in the sandbox",
        lambda p: importlib.import_module("reason_lsp.cli.generate").add_arguments(p),
        lambda a: importlib.import_module("reason_lsp.cli.generate").run(a),
    ),
    "sandbox": Subcommand(
        "run a Python file in the sandbox and show what it was allowed to do",
        lambda p: importlib.import_module("reason_lsp.sandbox").add_arguments(p),
        lambda a: importlib.import_module("reason_lsp.sandbox").run(a),
    ),
    "stats": Subcommand(
        "latency and errors of the model backends, from a running server or a snapshot",
        lambda p: importlib.import_module("reason_lsp.cli.stats").add_arguments(p),
        lambda a: importlib.import_module("reason_lsp.cli.stats").run(a),
    ),
    "fetch-model": Subcommand(
        "download the pretrained default model into the cache (once; offline after)",
        lambda p: importlib.import_module("reason_lsp.cli.fetch_model").add_arguments(p),
        lambda a: importlib.import_module("reason_lsp.cli.fetch_model").run(a),
    ),
    "train": Subcommand("train the code model", delegate="reason_lsp.training.cli:main"),
    "eval": Subcommand("evaluate the code model", delegate="reason_lsp.training.cli:main"),
    "build-corpus": Subcommand(
        "build the training corpus", delegate="reason_lsp.training.cli:main"
    ),
    "fetch-corpus": Subcommand(
        "grow the corpus from a pinned list of PyPI packages",
        delegate="reason_lsp.training.cli:main",
    ),
    "pack-corpus": Subcommand(
        "pre-tokenize the corpus into xz shards (for a GPU run)",
        delegate="reason_lsp.training.cli:main",
    ),
}


# -- server --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reason-lsp",
        description="reason-lsp language server. Without a subcommand it serves LSP.",
    )
    parser.add_argument("--version", action="version", version=f"reason-lsp {__version__}")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="serve over stdin/stdout (default)")
    mode.add_argument("--tcp", action="store_true", help="serve over TCP")
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (required with --tcp)")
    parser.add_argument("--log-file", help="write logs to this file instead of stderr")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, spec in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=spec.help, add_help=spec.delegate is None)
        if spec.add_arguments is not None:
            spec.add_arguments(p)
    return parser


def setup_logging(verbose: int, log_file: str | None) -> None:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    logging.getLogger("reason_lsp").setLevel(logging.DEBUG if verbose else logging.INFO)


def _delegate(name: str, target: str, argv: list[str]) -> int:
    module_name, _, function = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        entry = getattr(module, function)
    except (ImportError, AttributeError) as exc:
        print(
            f"reason-lsp {name}: not available in this install ({target}: {exc}). "
            "Install the extras with: pip install -e '.[model,train]'",
            file=sys.stderr,
        )
        return 2
    return int(entry([name, *argv]) or 0)


def serve(args: argparse.Namespace) -> int:
    """The language server until ``exit``, the end of input or a signal; its exit code
    (0 after ``shutdown``, 1 without, as LSP says)."""
    from reason_lsp.app import create_server
    from reason_lsp.server import transport

    server = create_server()
    if args.tcp:
        return transport.serve_tcp(server, args.host, args.port)
    return transport.serve_stdio(server)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Delegated subcommands take their raw arguments (including --help).
    first = next((i for i, arg in enumerate(argv) if arg in SUBCOMMANDS), None)
    if first is not None and (target := SUBCOMMANDS[argv[first]].delegate) is not None:
        head = build_parser().parse_args(argv[:first])
        setup_logging(head.verbose, head.log_file)
        return _delegate(argv[first], target, argv[first + 1 :])
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    if args.tcp and args.port is None:
        parser.error("--tcp needs --port N")
    setup_logging(args.verbose, args.log_file)
    if args.command is not None:
        spec = SUBCOMMANDS[args.command]
        assert spec.run is not None
        return spec.run(args)
    return serve(args)
