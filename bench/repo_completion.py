"""Benchmark: repository context for completions, through the real server. Prints numbers.

Not a timed test. ``nice .venv/bin/python bench/repo_completion.py [--n N] [--seed S]
[--packages click,rich] [--shares 0.4] [--model M] [--context-tokens T] [--index-only]
[--no-index] [--json]``.

1. Completions. The held-out distributions of the corpus (``data/corpus/valid_thirdparty
   .jsonl``: click, jedi, rich, attrs, flask, requests) are installed in this
   interpreter's site-packages; each package's folder is opened as the workspace. N
   positions per package, seeded and spread over its files (one file each while there
   are files), half "line" (the rest of a statement line inside a function removed
   after its indentation) and half "dot" (the rest of a line removed after a ``.`` in
   code). The document is opened as the file with that rest removed, and an invoked
   ``textDocument/inlineCompletion`` asked there (``completion.minConfidence`` 0, so the
   gate hides nothing). Conditions, each a fresh server on the same positions:
   ``none`` (no workspace folder, as before), ``declarations`` (``workspace.snippets``
   off) and ``full`` (declarations plus snippets), the last once per ``--shares``
   value of ``completion.contextShare``. Printed: next-line exact match (the first line
   equals the removed rest), edit similarity (1 - Levenshtein / longer length),
   identifier-after-``.`` top-1 (the completion's first identifier at dot positions),
   latency p50/p95 (client, request to answer), prompt tokens (``reasonLsp/stats``)
   and context characters (``reasonLsp/workspace``).
2. Index build (``--no-index`` skips): the largest of these packages, the CPython
   standard library as one workspace (its ``site-packages`` excluded, as the walk
   does), and this interpreter's site-packages capped at 10,000 files. Each is built
   in a fresh process (time, memory kept after the build, peak) and, for the last two,
   by the real server (``workspace.enable`` turned on once the model is loaded): its own
   build seconds, the server's resident memory before and after, and the longest
   ``reasonLsp/workspace`` round trip during the build (what a keystroke would wait for).

Goals (issue 12): exact match with full context >= 2x none; latency p50 within +20 ms
of none, p95 <= 150 ms; 10,000 files indexed in <= 60 s and <= 150 MB, never blocking.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

from completion import pct
from lsp_bench import BenchServer, proc_status
from lsprotocol import types
from typing_sessions import body_lines, load_records, python_parser

from reason_lsp.workspace import walk

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("click", "jedi", "rich", "attrs", "flask", "requests")
SITE = Path(sysconfig.get_paths()["purelib"])
STDLIB = Path(sysconfig.get_paths()["stdlib"])
WORKSPACE_METHOD = "reasonLsp/workspace"
_DOT = re.compile(r"[A-Za-z_][\w\]\)]*\.(?=[A-Za-z_])")
_IDENT = re.compile(r"[A-Za-z_]\w*")


@dataclass
class Position:
    package: str
    root: Path
    rel: str
    text: str  # the document: the file with the rest of one line removed
    offset: int
    truth: str  # the removed rest of the line
    kind: str  # "line" | "dot"


@dataclass
class Outcome:
    shown: str
    ms: float
    prompt_tokens: int
    context_chars: int


@dataclass
class Condition:
    name: str
    settings: dict
    workspace: bool
    outcomes: list[Outcome] = field(default_factory=list)
    index_s: list[float] = field(default_factory=list)


def package_root(record_path: str) -> tuple[Path, str]:
    top, _, rel = record_path.partition("/")
    return SITE / top, rel


def in_code(tree, row: int, col: int) -> bool:
    node = tree.root_node.descendant_for_point_range((row, col), (row, col))
    while node is not None:
        if node.type in ("string", "comment", "string_content"):
            return False
        node = node.parent
    return True


def load_positions(n: int, seed: int, packages: tuple[str, ...]) -> list[Position]:
    parser = python_parser()
    records = [r for r in load_records(("valid_thirdparty.jsonl",)) if r["path"].endswith(".py")]
    out: list[Position] = []
    for package in packages:
        rng = random.Random(f"{seed}:{package}")
        files = [r for r in records if r["package"] == package and 200 < len(r["text"]) < 200_000]
        rng.shuffle(files)
        found: list[Position] = []
        for turn in range(n * 4):
            if len(found) >= n or not files:
                break
            record = files[turn % len(files)]
            root, rel = package_root(record["path"])
            disk = root / rel
            if not disk.is_file() or disk.read_text(encoding="utf-8") != record["text"]:
                continue  # the installed file is not the held-out text
            kind = "line" if len(found) % 2 == 0 else "dot"
            pos = pick(record["text"], parser, rng, kind)
            if pos is not None:
                offset, end = pos
                text = record["text"]
                truth = text[offset:end].rstrip()
                doc = text[:offset] + text[end:]
                found.append(Position(package, root, rel, doc, offset, truth, kind))
        out.extend(found)
    return out


def pick(text: str, parser, rng: random.Random, kind: str) -> tuple[int, int] | None:
    """(cursor, end of the removed rest) for one position of ``kind``, or None."""
    tree = parser.parse(text.encode("utf-8"))
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    rows = body_lines(text, parser)
    rng.shuffle(rows)
    for row in rows:
        line = lines[row]
        if kind == "line":
            col = len(line) - len(line.lstrip(" \t"))
            return starts[row] + col, starts[row] + len(line)
        dots = [m.end() for m in _DOT.finditer(line) if in_code(tree, row, m.end() - 1)]
        if dots:
            col = rng.choice(dots)
            return starts[row] + col, starts[row] + len(line)
    return None


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


async def wait_indexed(server: BenchServer, timeout: float = 600) -> dict:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        state = await server.client.protocol.send_request_async(WORKSPACE_METHOD, None)
        folders = state.folders
        if folders and all(f.state == "ready" for f in folders):
            return {"s": time.perf_counter() - started, "folders": folders}
        await asyncio.sleep(0.1)
    raise TimeoutError("the workspace was not indexed in time")


async def run_condition(cond: Condition, positions: list[Position]) -> None:
    by_package: dict[Path, list[Position]] = {}
    for pos in positions:
        by_package.setdefault(pos.root, []).append(pos)
    for root, group in by_package.items():
        for attempt in (1, 2):
            try:
                cond.outcomes.extend(await run_package(cond, root, group))
                break
            except SystemExit as exc:  # BenchServer's "the model did not load"
                print(f"  {cond.name}: {root.name}: {exc}; attempt {attempt}", file=sys.stderr)
                if attempt == 2:
                    raise
        print(f"  {cond.name}: {root.name} done", file=sys.stderr)


async def run_package(cond: Condition, root: Path, group: list[Position]) -> list[Outcome]:
    out = []
    uri = root.as_uri() if cond.workspace else None
    async with BenchServer(cond.settings, root_uri=uri) as server:
        if cond.workspace:
            indexed = await wait_indexed(server)
            cond.index_s.append(indexed["folders"][0].buildSeconds)
        for pos in group:
            doc_uri = (root / pos.rel).as_uri()
            server.open(doc_uri, pos.text)
            t0 = time.perf_counter()
            shown = await server.inline(doc_uri, pos.text, pos.offset, invoked=True)
            ms = (time.perf_counter() - t0) * 1000
            stats = await server.stats()
            state = await server.client.protocol.send_request_async(WORKSPACE_METHOD, None)
            chars = state.lastContextChars if cond.workspace else 0
            out.append(Outcome(shown, ms, stats["lastPromptTokens"], chars))
            server.close(doc_uri)
    return out


def summarize(cond: Condition, positions: list[Position]) -> dict:
    exact, sim, ident, ms, tokens, chars = [], [], [], [], [], []
    for pos, out in zip(positions, cond.outcomes, strict=True):
        first = out.shown.split("\n", 1)[0].rstrip()
        exact.append(first == pos.truth)
        longer = max(len(first), len(pos.truth)) or 1
        sim.append(1 - levenshtein(first, pos.truth) / longer)
        if pos.kind == "dot":
            want, got = _IDENT.match(pos.truth), _IDENT.match(first)
            ident.append(bool(want and got and want.group() == got.group()))
        ms.append(out.ms)
        tokens.append(out.prompt_tokens)
        chars.append(out.context_chars)
    return {
        "condition": cond.name, "n": len(exact), "exact": statistics.fmean(exact),
        "edit_sim": statistics.fmean(sim), "ident_top1": statistics.fmean(ident) if ident else 0,
        "p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95),
        "prompt_tokens": statistics.fmean(tokens), "context_chars": statistics.fmean(chars),
        "index_s": max(cond.index_s) if cond.index_s else 0.0,
    }  # fmt: skip


# ---- index build ------------------------------------------------------------------------

_MEASURE = """
import gc, json, resource, sys, time
from pathlib import Path
from reason_lsp.workspace import build, walk
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1])
gc.collect(); before = rss()
t = time.perf_counter()
index = build.build(Path(sys.argv[1]), walk.Limits(max_files=int(sys.argv[2])))
elapsed = time.perf_counter() - t
gc.collect()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"files": len(index.files), "windows": index.windows.live, "s": elapsed,
                  "kept_mb": (rss() - before) / 1024, "peak_mb": (peak - before) / 1024}))
"""


def measure_in_process(root: Path, max_files: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(root), str(max_files)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


async def measure_in_server(root: Path, max_files: int) -> dict:
    """The server's own build of ``root``: started by turning ``workspace.enable`` on once
    the model is loaded, so the resident memory before it is the server without an index."""
    base = {"diagnostics": {"model": False}}
    off = {**base, "workspace": {"enable": False}}
    async with BenchServer(off, root_uri=root.as_uri()) as server:
        await asyncio.sleep(1)
        before = proc_status(server.pid).get("VmRSS", 0)
        on = {"reasonLsp": {**base, "workspace": {"enable": True, "maxFiles": max_files}}}
        server.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=on)
        )
        worst = 0.0
        started = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            state = await server.client.protocol.send_request_async(WORKSPACE_METHOD, None)
            worst = max(worst, (time.perf_counter() - t0) * 1000)
            if state.folders and state.folders[0].state == "ready":
                break
            if time.perf_counter() - started > 600:
                raise TimeoutError(f"{root} was not indexed in 10 minutes")
            await asyncio.sleep(0.05)
        after = proc_status(server.pid)
        folder = state.folders[0]
        return {"files": folder.files, "s": folder.buildSeconds,
                "rss_delta_mb": (after.get("VmRSS", 0) - before) / 1024,
                "rss_mb": after.get("VmRSS", 0) / 1024, "worst_rtt_ms": worst}  # fmt: skip


def index_report(packages: tuple[str, ...]) -> list[dict]:
    roots = {p: SITE / ("attr" if p == "attrs" else p) for p in packages}
    counts = {p: sum(1 for _ in walk.walk(r)) for p, r in roots.items() if r.is_dir()}
    largest = max(counts, key=lambda p: counts[p])
    rows = [{"tree": f"{largest} (largest package)", **measure_in_process(roots[largest], 10_000)}]
    for name, root in (("CPython stdlib", STDLIB), ("site-packages (10k cap)", SITE)):
        row = {"tree": name, **measure_in_process(root, 10_000)}
        row["server"] = asyncio.run(measure_in_server(root, 10_000))
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="positions per package")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--packages", default=",".join(PACKAGES))
    ap.add_argument("--shares", default="", help="completion.contextShare values for full")
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--context-tokens", type=int, default=0, help="contextTokens (0: default)")
    ap.add_argument("--index-only", action="store_true")
    ap.add_argument("--no-index", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    packages = tuple(p for p in args.packages.split(",") if p)
    results: dict = {"conditions": [], "index": []}
    if not args.index_only:
        positions = load_positions(args.n, args.seed, packages)
        base: dict = {"completion": {"minConfidence": 0.0}, "diagnostics": {"model": False}}
        if args.model != "embedded":
            base["model"] = (
                str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
            )
        if args.context_tokens:
            base["contextTokens"] = args.context_tokens
        conditions = [
            Condition("none", base, False),
            Condition("declarations", {**base, "workspace": {"snippets": False}}, True),
        ]
        shares = [float(s) for s in args.shares.split(",") if s] or [None]
        for share in shares:
            settings = dict(base)
            if share is not None:
                settings["completion"] = {**base["completion"], "contextShare": share}
            conditions.append(
                Condition("full" if share is None else f"full@{share}", settings, True)
            )
        for cond in conditions:
            asyncio.run(run_condition(cond, positions))
            results["conditions"].append(summarize(cond, positions))
            print(json.dumps(results["conditions"][-1]), file=sys.stderr)
        results["positions"] = {"n": len(positions), "dot": sum(p.kind == "dot" for p in positions)}
    if not args.no_index:
        results["index"] = index_report(packages)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        report(results)
    return 0


def report(results: dict) -> None:
    if results["conditions"]:
        p = results["positions"]
        print(f"positions: {p['n']} ({p['dot']} after a '.')")
        print(f"{'condition':<14}{'exact':>7}{'edit sim':>9}{'ident@1':>9}{'p50 ms':>8}"
              f"{'p95 ms':>8}{'prompt tok':>11}{'ctx chars':>10}{'index s':>8}")  # fmt: skip
        for c in results["conditions"]:
            print(f"{c['condition']:<14}{c['exact']:>7.1%}{c['edit_sim']:>9.3f}"
                  f"{c['ident_top1']:>9.1%}{c['p50_ms']:>8.1f}{c['p95_ms']:>8.1f}"
                  f"{c['prompt_tokens']:>11.0f}{c['context_chars']:>10.0f}"
                  f"{c['index_s']:>8.2f}")  # fmt: skip
    for row in results["index"]:
        line = (
            f"index {row['tree']}: {row['files']} files, {row['windows']} windows, "
            f"{row['s']:.1f} s, {row['kept_mb']:.0f} MB kept, {row['peak_mb']:.0f} MB peak"
        )
        if "server" in row:
            s = row["server"]
            line += (
                f"; server: {s['s']:.1f} s, +{s['rss_delta_mb']:.0f} MB resident "
                f"({s['rss_mb']:.0f} MB), worst round trip while indexing "
                f"{s['worst_rtt_ms']:.0f} ms"
            )
        print(line)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
