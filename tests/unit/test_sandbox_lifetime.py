"""User code never outlives its caller: not when the caller is SIGKILLed (the
parent-death signals), and not when it stops early (``kill_running``), whichever
isolation layers this machine gives; a snippet's children, even ones that called
``setsid``, go too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from proctree import cmdline, descendants, wait_until_gone

from reason_lsp import sandbox

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux")

# Two children, one of them in a session of its own, then a long sleep.
SNIPPET = """import subprocess, time
subprocess.Popen(["sleep", "300"])
subprocess.Popen(["setsid", "sleep", "301"])
print("started", flush=True)
time.sleep(300)
"""


def sleepers(procs: dict[int, bytes]) -> int:
    return sum(cmdline(pid)[:1] == [b"sleep"] for pid in procs)


def wait_for_the_run(root: int) -> dict[int, bytes]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        procs = descendants(root)
        if sleepers(procs) >= 2:
            return procs
        time.sleep(0.05)
    raise AssertionError("the snippet did not start its children")


@pytest.mark.parametrize(
    "disabled",
    [(), ("namespaces",), ("namespaces", "uid"), ("namespaces", "uid", "subreaper")],
    ids=["all-layers", "no-namespaces", "no-namespaces-no-uid", "no-namespaces-uid-subreaper"],
)
def test_sigkill_of_the_caller_leaves_nothing(disabled: tuple[str, ...]) -> None:
    caller = (
        "import reason_lsp.sandbox as s\n"
        f"s.DISABLED = frozenset({list(disabled)!r})\n"
        f"s.run_python({SNIPPET!r}, s.Limits(timeout_s=300, cpu_s=300))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", caller], stderr=subprocess.DEVNULL)
    try:
        run = wait_for_the_run(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert wait_until_gone(run) == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_kill_running_stops_every_run_in_flight() -> None:
    results: list[sandbox.Result] = []
    runs = [
        threading.Thread(target=lambda: results.append(
            sandbox.run_python(SNIPPET, sandbox.Limits(timeout_s=300, cpu_s=300))))
        for _ in range(2)
    ]  # fmt: skip
    # Only the runs' own processes: other tests in this pytest process may still have
    # children of their own winding down.
    before = set(descendants(os.getpid()))
    for thread in runs:
        thread.start()
    deadline = time.monotonic() + 30
    while sleepers(descendants(os.getpid())) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    procs = {pid: cmd for pid, cmd in descendants(os.getpid()).items() if pid not in before}
    assert sandbox.kill_running() == 2
    for thread in runs:
        thread.join(30)
    assert len(results) == 2 and all(r.exit_code != 0 for r in results)
    assert wait_until_gone(procs) == []
    assert sandbox.kill_running() == 0
