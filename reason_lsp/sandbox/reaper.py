"""The sandbox runs in flight, and killing them: process groups and sandbox uids.

Each run's launcher leads its own process group; as root each run also has a uid
of its own. :func:`kill_run` SIGKILLs both (a snippet that called ``setsid`` left
the group but not the uid), and :func:`kill_running` does it for every run still
registered, which is what the server calls on each way out (shutdown, exit, end of
input, SIGTERM). The parent-death signal in :mod:`reason_lsp.sandbox.launch`
covers the one way out no code runs on: SIGKILL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

log = logging.getLogger("reason_lsp.sandbox")

# Runs in flight: the launcher's pid (= its process group) -> the run's uid.
_RUNNING: dict[int, int | None] = {}
_LOCK = threading.Lock()


@contextlib.contextmanager
def running(pgid: int, uid: int | None) -> Iterator[None]:
    """Register one run for :func:`kill_running` while the block runs."""
    with _LOCK:
        _RUNNING[pgid] = uid
    try:
        yield
    finally:
        with _LOCK:
            _RUNNING.pop(pgid, None)


def kill_uid(uid: int) -> int:
    """SIGKILL every process whose real uid is ``uid``; how many were found."""
    found = 0
    for _ in range(100):
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                with contextlib.suppress(OSError):
                    if os.stat(f"/proc/{name}").st_uid == uid:
                        pids.append(int(name))
        if not pids:
            break
        found += len(pids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
    return found


def kill_run(pgid: int, uid: int | None) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    if uid is not None and (n := kill_uid(uid)):
        log.debug("sandbox: killed %d leftover process(es) of uid %d", n, uid)


def kill_running() -> int:
    """SIGKILL every sandbox run still in flight (their callers see them killed); how many."""
    with _LOCK:
        runs = list(_RUNNING.items())
    for pgid, uid in runs:
        kill_run(pgid, uid)
    if runs:
        log.info("sandbox: killed %d run(s) in flight", len(runs))
    return len(runs)
