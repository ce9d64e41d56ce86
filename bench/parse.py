"""Benchmark: incremental reparse vs full parse, and didChange -> publishDiagnostics.

Prints numbers; it is not a timed test. Run with ``make bench`` or
``.venv/bin/python bench/parse.py [--edits N] [--lines N]``.

1. On a ~3,000-line Python file (real standard-library code, whole modules
   concatenated), single-character edits like typing: the time of tree-sitter's
   incremental reparse (``tree.edit`` + ``parser.parse(new, old_tree)``) against a
   full parse of the same text, and of the server's whole document update
   (``DocumentStore.apply_changes``: position conversion, splice, tree edit,
   reparse) against the same full parse. Goal: ratio >= 8x.
2. Through the real server (subprocess, stdio, pygls LanguageClient with push
   diagnostics): the time from sending ``didChange`` to receiving the
   ``publishDiagnostics`` for that version. Goal: <= 20 ms. Edits are spaced
   past the server's 50 ms coalescing window so each one is an isolated keystroke.
"""

from __future__ import annotations

import argparse
import asyncio
import keyword
import random
import re
import statistics
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import tree_sitter
from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reason_lsp.text import languages  # noqa: E402
from reason_lsp.text.documents import DocumentStore  # noqa: E402
from reason_lsp.text.positions import TextIndex, encode  # noqa: E402

# In-process timings use this process's CPU time: the machine may be shared, and
# wall time would charge other processes' work to the parser.
CLOCK = time.process_time

MODULES = ["argparse.py", "textwrap.py", "shlex.py", "fnmatch.py", "glob.py", "dataclasses.py"]


def corpus(lines: int) -> str:
    """Whole standard-library modules, concatenated until there are ``lines`` lines."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    count = 0
    for name in MODULES:
        text = (stdlib / name).read_text(encoding="utf-8")
        parts.append(text)
        count += text.count("\n")
        if count >= lines:
            break
    return "".join(parts)


_IDENT = re.compile(r"(?<![\w'\"])[a-z_][a-z_0-9]{2,}")


def typing_edits(text: str, n: int, seed: int = 1) -> Iterator[tuple[int, str]]:
    """(offset, char): a letter typed inside an existing identifier (not a keyword),
    the commonest keystroke, which keeps the code valid. Offsets refer to the text
    after all previous edits (each edit inserts one character)."""
    rng = random.Random(seed)
    for _ in range(n):
        spots = [m.start() + 1 for m in _IDENT.finditer(text) if not keyword.iskeyword(m[0])]
        offset, char = rng.choice(spots), rng.choice("xyz_q")
        yield offset, char
        text = text[:offset] + char + text[offset:]


def stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"median {statistics.median(ms):7.3f} ms   p95 {p95:7.3f} ms"


def bench_parse(text: str, edits: int) -> None:
    language = languages.load("python")
    assert language is not None
    parser = tree_sitter.Parser(language)
    data = encode(text)
    tree = parser.parse(data)
    full: list[float] = []
    incremental: list[float] = []
    for offset, char in typing_edits(text, edits):
        index = TextIndex(text, data)
        start = index.byte_at(offset)
        point = index.point_at_byte(start)
        new_text = text[:offset] + char + text[offset:]
        new_data = data[:start] + char.encode() + data[start:]

        t0 = CLOCK()
        edited = tree.copy()
        edited.edit(start, start, start + 1, point, point, (point[0], point[1] + 1))
        new_tree = parser.parse(new_data, edited)
        incremental.append(CLOCK() - t0)

        t0 = CLOCK()
        fresh = parser.parse(new_data)
        full.append(CLOCK() - t0)

        assert str(fresh.root_node) == str(new_tree.root_node)
        text, data, tree = new_text, new_data, new_tree

    store = DocumentStore()
    uri = "file:///bench.py"
    doc_text = text
    store.open(uri, doc_text, 0, "python")
    update: list[float] = []
    for version, (offset, char) in enumerate(typing_edits(doc_text, edits, seed=2), 1):
        pos = TextIndex(doc_text).position_at(offset)
        change = types.TextDocumentContentChangePartial(range=types.Range(pos, pos), text=char)
        t0 = CLOCK()
        doc_text = store.apply_changes(uri, doc_text, [change], version)
        update.append(CLOCK() - t0)

    med_full = statistics.median(full)
    print(f"file: {text.count(chr(10))} lines, {len(data)} bytes; {edits} one-character edits")
    print("(CPU time of this process)")
    print(f"  full parse               {stats(full)}")
    print(f"  incremental reparse      {stats(incremental)}")
    print(f"  server document update   {stats(update)}")
    print(
        f"  ratio full / incremental reparse:    {med_full / statistics.median(incremental):6.1f}x"
    )
    print(f"  ratio full / whole document update:  {med_full / statistics.median(update):6.1f}x")


async def bench_server(text: str, edits: int) -> None:
    client = LanguageClient("bench", "0")
    waiting: dict[int, asyncio.Future[float]] = {}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        future = waiting.pop(-1 if params.version is None else params.version, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    await client.start_io(sys.executable, "-m", "reason_lsp", "--stdio")
    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True)
        )
    )
    await client.initialize_async(types.InitializeParams(capabilities=caps, process_id=None))
    client.initialized(types.InitializedParams())
    uri = "file:///bench/big.py"
    loop = asyncio.get_running_loop()

    async def send_and_wait(version: int, send: object) -> float:
        waiting[version] = loop.create_future()
        t0 = time.perf_counter()
        send()  # type: ignore[operator]
        return await asyncio.wait_for(waiting[version], 30) - t0

    open_params = types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 0, text))
    opened = await send_and_wait(0, lambda: client.text_document_did_open(open_params))
    await asyncio.sleep(0.06)
    latencies: list[float] = []
    doc = text
    for version, (offset, char) in enumerate(typing_edits(text, edits, seed=3), 1):
        pos = TextIndex(doc).position_at(offset)
        doc = doc[:offset] + char + doc[offset:]
        params = types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=version, uri=uri),
            [types.TextDocumentContentChangePartial(range=types.Range(pos, pos), text=char)],
        )
        latencies.append(
            await send_and_wait(version, lambda p=params: client.text_document_did_change(p))
        )
        await asyncio.sleep(0.06)  # past the 50 ms coalescing window: an isolated keystroke
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    print(f"real server (stdio, wall time): didOpen -> publishDiagnostics {opened * 1000:.1f} ms")
    print(f"  didChange -> publishDiagnostics  {stats(latencies)}   ({edits} edits)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--edits", type=int, default=200)
    args = parser.parse_args()
    text = corpus(args.lines)
    bench_parse(text, args.edits)
    asyncio.run(bench_server(text, min(args.edits, 100)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
