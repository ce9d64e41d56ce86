"""Landlock through ``ctypes`` syscalls: confine writes to one directory, deny TCP, scope signals.

Standard library only: :mod:`reason_lsp.sandbox.launch` loads this file inside the
sandboxed child before it execs the snippet. The syscall numbers (444-446) are the
same on every architecture (they were added after the syscall tables were unified).

:func:`restrict` builds a ruleset that handles every filesystem right the kernel's
ABI knows, grants read/execute beneath ``read_paths``, read/write (no execute)
beneath ``write_paths`` and on a few device files, denies TCP bind/connect
(ABI >= 4, no net rules at all), and scopes abstract UNIX sockets and signals to
the sandbox (ABI >= 6: the snippet cannot signal its parent or any process outside).
"""

from __future__ import annotations

import ctypes
import os

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

READ = EXECUTE | READ_FILE | READ_DIR
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI (0 when Landlock is missing or disabled)."""
    try:
        r = _libc().syscall(
            ctypes.c_long(SYS_CREATE_RULESET),
            None,
            ctypes.c_size_t(0),
            ctypes.c_uint32(CREATE_RULESET_VERSION),
        )
    except (OSError, AttributeError):
        return 0
    return max(int(r), 0)


def _fs_rights(abi: int) -> int:
    top = {1: 13, 2: 14, 3: 15, 4: 15}.get(abi, 16)  # ABI 5 added IOCTL_DEV
    return (1 << top) - 1


def set_no_new_privs() -> bool:
    return _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0


def restrict(
    read_paths: list[str], write_paths: list[str], rw_files: list[str], ro_files: list[str]
) -> list[str]:
    """Restrict the calling process (and its future children) for good.

    Returns the layers applied: ``landlock`` (filesystem), ``landlock-net`` and
    ``landlock-scope``; an empty list when Landlock is unavailable. Needs
    no_new_privs (set by the caller) unless the caller has CAP_SYS_ADMIN.
    """
    abi = abi_version()
    if abi < 1:
        return []
    libc = _libc()
    fs = _fs_rights(abi)
    attr = _RulesetAttr(fs, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0, 0)
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    fd = libc.syscall(
        ctypes.c_long(SYS_CREATE_RULESET),
        ctypes.byref(attr),
        ctypes.c_size_t(size),
        ctypes.c_uint32(0),
    )
    if fd < 0:
        return []
    try:
        rules = [(p, READ & fs) for p in read_paths]
        rules += [(p, fs & ~EXECUTE) for p in write_paths]
        rules += [(p, (READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV) & fs) for p in rw_files]
        rules += [(p, READ_FILE) for p in ro_files]
        for path, access in rules:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a missing path needs no rule
            try:
                if not os.path.isdir(path):
                    access &= FILE_RIGHTS
                rule = _PathBeneath(access, pfd)
                if (
                    libc.syscall(
                        ctypes.c_long(SYS_ADD_RULE),
                        ctypes.c_int(fd),
                        ctypes.c_int(RULE_PATH_BENEATH),
                        ctypes.byref(rule),
                        ctypes.c_uint32(0),
                    )
                    != 0
                ):
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule({path})")
            finally:
                os.close(pfd)
        if libc.syscall(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(fd), ctypes.c_uint32(0)):
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(fd)
    applied = ["landlock"]
    if abi >= 4:
        applied.append("landlock-net")
    if abi >= 6:
        applied.append("landlock-scope")
    return applied
