"""Server start-up time: importing the server and answering ``initialize``.

Prints, for ``--runs`` fresh processes each: the import + ``create_server()`` time
inside the process, and the wall time from spawning ``python -m reason_lsp`` to the
``initialize`` response over stdio. The first run of a fresh clone also pays for
writing ``.pyc`` files; ``--cold`` removes the package's ``__pycache__`` folders
first so that case is measured too. Whether torch was imported is printed (it must
not be: the model loads in the background after ``initialized``).

    .venv/bin/python bench/startup.py [--runs 5] [--cold]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORT = (
    "import sys, time; t = time.perf_counter(); import reason_lsp.app, reason_lsp.cli; "
    "reason_lsp.app.create_server(); "
    "print(time.perf_counter() - t, 'torch' in sys.modules)"
)


def frame(body: dict) -> bytes:
    data = json.dumps(body).encode()
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


def initialize_seconds() -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reason_lsp", "--stdio"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdin and proc.stdout
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"processId": None, "rootUri": None, "capabilities": {}}}  # fmt: skip
    proc.stdin.write(frame(init))
    proc.stdin.flush()
    header = proc.stdout.readline()
    seconds = time.perf_counter() - start
    assert header.lower().startswith(b"content-length"), header
    proc.kill()
    proc.wait()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="delete __pycache__ before run 1")
    args = parser.parse_args()
    if args.cold:
        for cache in (ROOT / "reason_lsp").rglob("__pycache__"):
            shutil.rmtree(cache)
    imports, inits, torch = [], [], False
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", IMPORT], capture_output=True, text=True,
                             cwd=ROOT, check=True)  # fmt: skip
        seconds, imported = out.stdout.split()
        imports.append(float(seconds))
        torch = torch or imported == "True"
        inits.append(initialize_seconds())
    print(f"import + create_server: first {imports[0] * 1000:.0f} ms, "
          f"median {statistics.median(imports) * 1000:.0f} ms over {args.runs} runs")  # fmt: skip
    print(f"spawn -> initialize answered: first {inits[0] * 1000:.0f} ms, "
          f"median {statistics.median(inits) * 1000:.0f} ms")  # fmt: skip
    print(f"torch imported at start-up: {torch}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
