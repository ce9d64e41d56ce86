"""The sandbox's launcher: ``python -I -S launch.py CONFIG_JSON`` (standard library only).

Started by :func:`reason_lsp.sandbox.run_python` in a new session (its own process
group) with the temp directory as cwd. Three processes:

1. **launcher** (this process): ``unshare`` a new network and pid namespace
   (user namespace too when not root), fork, wait, exit;
2. **init** (pid 1 of the new pid namespace): a child subreaper that forks the
   worker, reaps, and when the worker ends kills whatever is left (and, being the
   namespace's init, its exit makes the kernel kill every process in it);
3. **worker**: rlimits, drop to the dedicated uid/gid, no_new_privs, Landlock, then
   ``execve`` the interpreter on the snippet (through bubblewrap when Landlock is
   missing and ``bwrap`` works: Landlock forbids mounting, so the two do not stack).

Status goes back as JSON lines on the fd ``status_fd``: ``{"applied": [...]}`` or
``{"refused": msg}`` from the worker before exec, ``{"wait": status}`` from init.

Nothing outlives the caller: each of the three has a parent-death signal
(``PR_SET_PDEATHSIG``; the worker sets it again after changing uid, which clears
it), and each checks right after setting it that its parent is still there. In a
pid namespace init's death takes every process in it; without one, init's
parent-death signal is SIGUSR1, on which it kills its process group, its children
and the run's uid first.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import resource
import signal
import sys

CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
MIB = 1 << 20


def _load_landlock():  # type: ignore[no-untyped-def]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "landlock.py")
    spec = importlib.util.spec_from_file_location("_reason_lsp_landlock", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _emit(fd: int, record: dict[str, object]) -> None:
    os.write(fd, (json.dumps(record) + "\n").encode())


def _unshare(libc: ctypes.CDLL, root: bool, disable: list[str]) -> list[str]:
    if "namespaces" in disable:
        return []
    base = 0 if root else CLONE_NEWUSER
    for flags, names in (
        (CLONE_NEWNET | CLONE_NEWPID, ["netns", "pidns"]),
        (CLONE_NEWNET, ["netns"]),
        (CLONE_NEWPID, ["pidns"]),
    ):
        if libc.unshare(base | flags) == 0:
            return (["userns"] if base else []) + names
    return []


def _die_with_parent(libc: ctypes.CDLL, parent: int | None, sig: int = signal.SIGKILL) -> None:
    """Get ``sig`` when the parent dies; exit now if it already has (``parent`` None: no check)."""
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def _worker(cfg: dict, applied: list[str], fd: int, libc: ctypes.CDLL, init: int | None) -> None:
    lim = cfg["limits"]
    for which, value in (
        (resource.RLIMIT_AS, lim["memory_mb"] * MIB),
        (resource.RLIMIT_FSIZE, lim["file_size_mb"] * MIB),
        (resource.RLIMIT_NOFILE, lim["open_files"]),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
    applied.append("rlimits")
    uid = cfg.get("uid")
    if "uid" in cfg["disable"]:
        uid = None
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setresgid(cfg["gid"], cfg["gid"], cfg["gid"])
        os.setresuid(uid, uid, uid)
        applied.append(f"uid:{uid}")
    _die_with_parent(libc, init)  # after the uid change, which clears it
    if uid is not None or "userns" in applied:
        # Per real uid: meaningful for a dedicated uid (or a fresh user namespace).
        resource.setrlimit(resource.RLIMIT_NPROC, (lim["processes"], lim["processes"]))
        applied.append("nproc")
    landlock = _load_landlock()
    if landlock.set_no_new_privs():
        applied.append("no_new_privs")
        if "landlock" not in cfg["disable"]:
            applied += landlock.restrict(**cfg["landlock"])
    argv = [cfg["python"], "-E", "-s", "-B", "-u", cfg["script"]]  # -u: no output lost on kill
    if "landlock" not in applied and cfg.get("bwrap"):
        # No Landlock: a private mount view instead (read-only /, fresh /tmp and /dev,
        # /proc of its own pid namespace, only the temp dir writable), if bwrap works here.
        work = os.getcwd()
        wrap = [cfg["bwrap"], "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--bind", work, work]
        wrap += ["--dev", "/dev", "--proc", "/proc", "--unshare-all", "--die-with-parent"]
        wrap += ["--new-session", "--cap-drop", "ALL", "--chdir", work, "--"]
        probe = os.fork()
        if probe == 0:
            os.closerange(3, 1 << 16)
            null = os.open(os.devnull, os.O_RDWR)
            for std in (0, 1, 2):
                os.dup2(null, std)
            os.execv(cfg["bwrap"], [*wrap, "/bin/true"])
        if os.waitstatus_to_exitcode(os.waitpid(probe, 0)[1]) == 0:
            argv = [*wrap, *argv]
            applied.append("bwrap")
    missing = [
        need
        for need in cfg.get("require", [])
        if not any(layer in applied for layer in need.split("|"))
    ]
    if missing:
        _emit(fd, {"refused": "isolation unavailable: " + ", ".join(missing), "applied": applied})
        os._exit(126)
    _emit(fd, {"applied": applied})
    os.close(fd)
    os.closerange(3, 1 << 16)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        os.execve(argv[0], argv, cfg["env"])
    except OSError as exc:
        os.write(2, f"sandbox: cannot exec {cfg['python']}: {exc}\n".encode())
    os._exit(127)


def _init(cfg: dict, applied: list[str], fd: int, libc: ctypes.CDLL, launcher: int) -> None:
    in_pidns = "pidns" in applied
    me = int(os.readlink("/proc/self"))  # the host pid (/proc is the host's)
    if in_pidns:
        # Our parent is outside the namespace (getppid() says 0): nothing to compare.
        _die_with_parent(libc, None)
    else:
        signal.signal(signal.SIGUSR1, lambda *_: _kill_everything(cfg, me))
        _die_with_parent(libc, launcher, signal.SIGUSR1)
    if "subreaper" not in cfg["disable"] and libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
        applied.append("subreaper")
    worker = os.fork()
    if worker == 0:
        try:
            _worker(cfg, applied, fd, libc, None if in_pidns else me)
        except BaseException as exc:
            _emit(fd, {"refused": f"sandbox setup failed: {exc!r}", "applied": applied})
        os._exit(126)
    status = None
    while True:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            break
        if pid == worker:
            status = st
            _emit(fd, {"wait": st})
            break
    # Kill what the worker left behind: orphans were reparented to us. (In a pid
    # namespace our exit does it.)
    for _ in range(1000 if "subreaper" in applied and "pidns" not in applied else 0):
        children = _children(me)
        if not children:
            break
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
    os._exit(0 if status is not None else 1)


def _kill_everything(cfg: dict, me: int) -> None:
    """The caller is gone (no pid namespace to take the run with us): kill all of it."""
    uid = cfg.get("uid")
    for _ in range(100):
        victims = _descendants(me)  # those that left the group (setsid) too
        if uid is not None and os.getuid() == 0:
            victims += [int(n) for n in os.listdir("/proc") if n.isdigit() and _owned_by(n, uid)]
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    os.killpg(os.getpgrp(), signal.SIGKILL)  # the group, this process included
    os._exit(1)


def _owned_by(pid: str, uid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}").st_uid == uid
    except OSError:
        return False


def _parents() -> dict[int, int]:
    """pid -> parent pid, for every process in /proc."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    found[int(name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return found


def _children(parent: int) -> list[int]:
    return [pid for pid, ppid in _parents().items() if ppid == parent]


def _descendants(root: int) -> list[int]:
    parents = _parents()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        kids = [child for child, ppid in parents.items() if ppid == pid]
        found += kids
        todo += kids
    return found


def main() -> None:
    cfg = json.loads(sys.argv[1])
    fd = cfg["status_fd"]
    libc = ctypes.CDLL(None, use_errno=True)
    _die_with_parent(libc, cfg.get("parent"))
    me = os.getpid()
    applied = ["pgroup", "tmpdir", *_unshare(libc, os.geteuid() == 0, cfg["disable"])]
    init = os.fork()
    if init == 0:
        _init(cfg, applied, fd, libc, me)
    os.close(fd)
    _, st = os.waitpid(init, 0)
    os._exit(os.waitstatus_to_exitcode(st) & 0xFF)


if __name__ == "__main__":
    main()
