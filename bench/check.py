"""`reason-lsp check` speed: seconds per 1,000 lines, cold and warm, on a real package tree.

Runs ``python -m reason_lsp check`` as a user would, in fresh processes, on the
standard library's ``json``, ``email`` and ``logging`` packages (or ``PATH...``):

- **cold**: an empty cache folder, so the run imports torch, loads the model and
  scores every region (default model unless ``--model``);
- **warm**: the same command again, every region served by the cache (the model is
  not loaded);
- **syntax only**: ``--no-model``, for reference.

Each is wall time of the whole process (start-up included), best of ``--runs``,
divided by the lines of the files ``check`` read; its CPU time and the machine's
load average are printed too, since a busy machine stretches wall time. Goals
(issue 15): cold <= 3 s and warm <= 0.2 s per 1,000 lines on 2 cores.

    nice .venv/bin/python bench/check.py [--runs 1] [--model DIR] [PATH...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reason_lsp.workspace.walk import select_files  # noqa: E402


def stdlib_packages() -> list[str]:
    import email
    import json as json_package
    import logging

    return [str(Path(m.__file__).parent) for m in (json_package, email, logging)]


def timed(argv: list[str]) -> tuple[float, float, list[dict], str]:
    """(wall seconds, CPU seconds, records, stderr) of one ``check`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "reason_lsp", "check", "--format", "json", "--exit-zero", *argv],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"check failed ({proc.returncode}): {proc.stderr}")
    return seconds, cpu, json.loads(proc.stdout), proc.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="default: the stdlib's json, email, logging")
    parser.add_argument("--runs", type=int, default=1, help="best of N for each measurement")
    parser.add_argument("--model", help="model folder (default: the shipped model)")
    args = parser.parse_args()
    paths = args.paths or stdlib_packages()
    files = select_files(paths).files
    lines = sum(len(p.read_text(encoding="utf-8", errors="replace").splitlines()) for p in files)
    model = ["--model", args.model] if args.model else []
    print(f"{len(files)} files, {lines} lines, {os.cpu_count()} cores: {', '.join(paths)}")
    per_k = 1000 / lines
    results = {}
    for name in ("cold", "warm", "syntax only"):
        best = (float("inf"), 0.0)
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                cache = ["--cache-dir", str(Path(tmp) / "cache")]
                if name == "syntax only":
                    wall, cpu, found, note = timed(["--no-model", *paths])
                elif name == "cold":
                    wall, cpu, found, note = timed([*model, *cache, *paths])
                else:
                    timed([*model, *cache, *paths])  # fill the cache
                    wall, cpu, found, note = timed([*model, *cache, *paths])
            best = min(best, (wall, cpu))
        model_found = sum(r["code"] == "unlikely-code" for r in found)
        results[name] = best[0]
        extra = f"; {note}" if note and "model" in note else ""
        print(
            f"{name:12s} {best[0]:7.2f} s wall {best[0] * per_k:6.3f} s per 1,000 lines "
            f"(CPU {best[1]:.2f} s; {len(found)} diagnostics, {model_found} unlikely-code{extra})"
        )
    print(f"load average during the runs: {os.getloadavg()[0]:.1f}")
    goals = {"cold": 3.0, "warm": 0.2}
    for name, goal in goals.items():
        rate = results[name] * per_k
        verdict = "meets" if rate <= goal else "misses"
        print(f"{name}: {rate:.3f} s per 1,000 lines {verdict} the goal of {goal} s")


if __name__ == "__main__":
    main()
