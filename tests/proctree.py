"""The processes below a pid, from /proc, and whether they are gone (for the tests
that check that nothing outlives the server or the sandbox's caller)."""

from __future__ import annotations

import os
import time


def stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def cmdline(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def descendants(root: int) -> dict[int, bytes]:
    """Every process below ``root``, with its start time (so a reused pid is not it)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (fields := stat(int(name))) is not None:
            parents[int(name)] = int(fields[1])
    found: dict[int, bytes] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        for child, parent in parents.items():
            if parent == pid and (fields := stat(child)) is not None:
                found[child] = fields[19]
                todo.append(child)
    return found


def alive(procs: dict[int, bytes]) -> list[int]:
    """Those of ``procs`` still running (a zombie waiting for its reaper is not)."""
    left = []
    for pid, started in procs.items():
        fields = stat(pid)
        if fields is not None and fields[19] == started and fields[0] != b"Z":
            left.append(pid)
    return left


def wait_until_gone(procs: dict[int, bytes], timeout: float = 30.0) -> list[int]:
    """Those of ``procs`` still running after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (left := alive(procs)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
