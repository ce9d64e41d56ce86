"""Attack tests for reason_lsp.sandbox: each attack is contained, and normal code still runs.

Every snippet also prints a benign line first, asserted, so a test cannot pass
because nothing ran. Paths are unique per test. The fork bomb runs with a small
process cap and a short timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from reason_lsp import sandbox
from reason_lsp.sandbox import Limits, Result, run_python
from reason_lsp.sandbox.landlock import abi_version

ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux")
# Writes to /tmp are only stopped by Landlock (kernel) or bubblewrap; skip only when the
# kernel has no Landlock at all, so a broken Landlock layer still fails these tests.
needs_write_barrier = pytest.mark.skipif(
    sys.platform == "linux" and abi_version() == 0 and not shutil.which("bwrap"),
    reason="no Landlock in this kernel and no bubblewrap: nothing can stop writes to /tmp",
)


def uid_of(result: Result) -> int | None:
    return next((int(x[4:]) for x in result.isolation if x.startswith("uid:")), None)


def processes_of(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def unique(tmp_dir: str = "/tmp") -> Path:
    return Path(tmp_dir) / f"reason-lsp-attack-{uuid.uuid4().hex}"


def test_benign_code_runs_with_files_and_reports_layers() -> None:
    code = "import mod, os\nprint(mod.double(21))\nopen('out.txt', 'w').write('x')\nprint('ok')"
    r = run_python(code, files={"mod.py": "def double(x):\n    return 2 * x\n"})
    assert r.stdout == "42\nok\n", r.stderr
    assert r.exit_code == 0 and not r.timed_out and r.limits_hit == [] and r.refused is None
    assert {"rlimits", "tmpdir", "pgroup"} <= set(r.isolation)
    if ROOT:
        assert {"netns", "pidns", "nproc", "landlock"} <= set(r.isolation)
        assert uid_of(r) is not None
    assert sandbox.available_isolation()


def test_exit_code_and_exception_tail() -> None:
    r = run_python("print('before')\nraise SystemExit(3)")
    assert (r.exit_code, r.stdout) == (3, "before\n")
    r = run_python("print('before')\n1/0")
    assert r.exit_code == 1 and "ZeroDivisionError" in r.stderr


def test_network_connect_to_loopback_server_fails() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        server.settimeout(0.2)
        port = server.getsockname()[1]
        code = f"""
import socket
print("start")
for addr in [("127.0.0.1", {port}), ("localhost", {port})]:
    try:
        socket.create_connection(addr, timeout=2).sendall(b"leak")
        print("CONNECTED", addr)
    except OSError as exc:
        print("blocked", type(exc).__name__)
"""
        r = run_python(code)
        with pytest.raises(TimeoutError):
            server.accept()
    assert r.stdout.startswith("start\n") and "CONNECTED" not in r.stdout, r.stdout + r.stderr
    assert r.stdout.count("blocked") == 2


@needs_write_barrier
def test_writing_outside_the_temp_dir_fails() -> None:
    targets = [
        unique(),
        REPO / f"attack-{uuid.uuid4().hex}",
        unique("/var/tmp"),
        unique("/dev/shm"),
    ]
    code = f"""
import os
open("inside.txt", "w").write("fine")
print("inside", open("inside.txt").read())
for path in {[str(t) for t in targets]!r}:
    try:
        open(path, "w").write("pwned")
        print("WROTE", path)
    except OSError as exc:
        print("blocked", type(exc).__name__)
"""
    r = run_python(code)
    assert r.stdout.startswith("inside fine\n"), r.stdout + r.stderr
    if "bwrap" not in r.isolation:  # bwrap lets /tmp, /dev/shm writes land in private mounts
        assert "WROTE" not in r.stdout, r.stdout
    for target in targets:
        assert not target.exists()


def test_reading_a_root_only_file_fails(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    secret.chmod(0o600)
    code = f"""
print("start")
try:
    print(open({str(secret)!r}).read())
except OSError as exc:
    print("blocked", type(exc).__name__)
"""
    r = run_python(code)
    assert r.stdout.startswith("start\nblocked"), r.stdout + r.stderr
    assert "TOPSECRET" not in r.stdout + r.stderr


@pytest.mark.slow
def test_fork_bomb_is_bounded_and_cleaned_up() -> None:
    code = """
import os
print("start", flush=True)
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
    r = run_python(code, Limits(timeout_s=2.0, processes=8, cpu_s=5))
    assert r.stdout.startswith("start\n") and r.timed_out and "timeout" in r.limits_hit
    if ROOT:
        assert "nproc" in r.isolation
        uid = uid_of(r)
        assert uid is not None and processes_of(uid) == []
    assert subprocess.run(["true"], check=False).returncode == 0  # we can still fork


def test_memory_bomb_is_stopped() -> None:
    code = """
print("start", flush=True)
hog = []
while True:
    hog.append(bytearray(64 << 20))
"""
    r = run_python(code, Limits(memory_mb=256, timeout_s=10.0))
    assert r.stdout == "start\n" and not r.timed_out
    assert "memory" in r.limits_hit and r.exit_code != 0, r.stderr


@pytest.mark.slow
def test_endless_loop_hits_timeout_and_cpu_limit() -> None:
    loop = "print('start', flush=True)\nwhile True:\n    pass\n"
    r = run_python(loop, Limits(timeout_s=1.0, cpu_s=30))
    assert r.stdout == "start\n" and r.timed_out and r.exit_code is None
    assert r.limits_hit == ["timeout"] and r.duration_s < 5.0
    r = run_python(loop, Limits(timeout_s=20.0, cpu_s=1))
    assert r.stdout == "start\n" and not r.timed_out and r.exit_code is None
    assert "cpu" in r.limits_hit and r.signal in (signal.SIGXCPU, signal.SIGKILL)


def test_killing_the_parent_and_other_processes_fails() -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        code = f"""
import os
print("start", flush=True)
# SIGKILL to the parent and a bystander; signal 0 (a permission probe) to pytest itself.
for pid, sig in ((os.getppid(), 9), ({bystander.pid}, 9), ({os.getpid()}, 0)):
    try:
        os.kill(pid, sig)
        print("sent", pid)
    except OSError as exc:
        print("blocked", type(exc).__name__)
"""
        r = run_python(code)
        time.sleep(0.1)
        assert r.stdout.startswith("start\n") and r.exit_code == 0, r.stdout + r.stderr
        assert bystander.poll() is None  # the test process is alive, and so is the bystander
        if ROOT:
            # (Under bwrap the parent is bwrap's own init inside the sandbox: killable.)
            assert f"sent {bystander.pid}" not in r.stdout and f"sent {os.getpid()}" not in r.stdout
    finally:
        bystander.kill()
        bystander.wait()


@needs_write_barrier
def test_ctypes_into_libc_is_contained_by_the_same_layers() -> None:
    marker = unique()
    code = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print("start", flush=True)
print("setuid", libc.setuid(0), "setgid", libc.setgid(0))
print("system", libc.system(b"touch {marker}"))
fd = libc.open(b"/etc/shadow", 0)
print("shadow", fd)
"""
    r = run_python(code)
    assert r.stdout.startswith("start\nsetuid -1 setgid -1\n"), r.stdout + r.stderr
    assert "shadow -1" in r.stdout
    assert not marker.exists()


@needs_write_barrier
def test_os_system_is_contained_but_runs() -> None:
    marker = unique()
    code = f"""
import os
print("start", flush=True)
os.system("echo shell-ran; touch {marker}; touch ./local && echo local-ok")
"""
    r = run_python(code)
    assert r.stdout.startswith("start\nshell-ran\n"), r.stdout + r.stderr
    assert "local-ok" in r.stdout and not marker.exists()


@pytest.mark.parametrize("disabled", [(), ("namespaces", "uid")], ids=["all", "subreaper-only"])
def test_background_process_is_gone_afterwards(
    disabled: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "DISABLED", frozenset(disabled))
    code = """
import os, sys, time
print("start", flush=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        print("daemon", os.readlink("/proc/self"), flush=True)
        time.sleep(30)
        os._exit(0)
    os._exit(0)
time.sleep(0.3)
print("parent done", flush=True)
"""
    r = run_python(code, Limits(timeout_s=10.0))
    assert not r.timed_out  # the run ended with its parent, not after the daemon's 30 s
    assert r.stdout.startswith("start\n") and "parent done" in r.stdout, r.stdout + r.stderr
    daemon = [int(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("daemon")]
    assert daemon, r.stdout  # it did start
    time.sleep(0.2)
    for pid in daemon:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # gone
        assert b"_sandbox_main" not in cmdline
    uid = uid_of(r)
    if uid is not None:
        assert processes_of(uid) == []


def test_output_and_file_size_are_truncated() -> None:
    code = "import sys\nsys.stdout.write('x' * 1_000_000 + 'END')\n"
    code += "open('big', 'wb').write(b'0' * (3 << 20))\n"
    r = run_python(code, Limits(output_bytes=1000, file_size_mb=1))
    assert len(r.stdout) == 1000 and r.stdout.endswith("END")
    assert {"output", "file_size"} <= set(r.limits_hit)


@pytest.mark.skipif(not ROOT, reason="simulates missing layers from the root configuration")
def test_require_refuses_without_isolation(monkeypatch: pytest.MonkeyPatch) -> None:
    marker = unique()
    monkeypatch.setattr(sandbox, "DISABLED", frozenset({"landlock", "uid", "namespaces", "bwrap"}))
    code = f"open({str(marker)!r}, 'w').write('ran')\nprint('ran')"
    r = run_python(code, require=True)
    assert r.refused and "landlock" in r.refused and r.stdout == "" and r.exit_code is None
    assert not marker.exists()
    r = run_python("print('ran')", require=False)  # without require it runs, degraded
    assert r.stdout == "ran\n" and "landlock" not in r.isolation
    monkeypatch.setattr(sandbox, "DISABLED", frozenset())
    r = run_python("print('ran')", require=True)
    assert r.stdout == "ran\n" and r.refused is None


def test_limits_from_settings() -> None:
    from reason_lsp.settings import Settings

    limits = sandbox.limits_from_settings(
        Settings().replace(sandbox_timeout=2.5, sandbox_memory_mb=300)
    )
    assert (limits.timeout_s, limits.cpu_s, limits.memory_mb) == (2.5, 3, 300)


@needs_write_barrier
def test_cli_prints_outcome(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reason_lsp.cli import main

    attack, marker = tmp_path / "attack.py", unique()
    attack.write_text(f"import os\nprint('hi')\nos.system('touch {marker}')\nraise SystemExit(4)\n")
    assert main(["sandbox", str(attack), "--format", "json", "--timeout", "5"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["exit_code"] == 4 and out["stdout"] == "hi\n" and "tmpdir" in out["isolation"]
    assert main(["sandbox", str(attack)]) == 1
    text = capsys.readouterr().out
    assert "status:    exit 4" in text and "isolation:" in text
    assert not marker.exists()
    assert main(["sandbox", str(tmp_path / "missing.py")]) == 2


UNPRIVILEGED = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from reason_lsp.sandbox import run_python
r = run_python("import socket\\nprint('start')\\nsocket.create_connection(('127.0.0.1', 9))")
print(" ".join(r.isolation))
print(r.stdout.strip(), "ConnectionRefused" in r.stderr)
"""


@pytest.mark.skipif(not ROOT, reason="runs the caller as nobody")
def test_unprivileged_caller_gets_user_namespace_isolation() -> None:
    python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not os.path.exists(python) or not os.path.exists("/usr/bin/setpriv"):
        pytest.skip("needs setpriv and a system Python of this version")
    argv = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", python]
    done = subprocess.run([*argv, "-c", UNPRIVILEGED], capture_output=True, text=True, timeout=30)
    layers, outcome = done.stdout.splitlines()[-2:]
    assert {"userns", "netns", "landlock", "nproc"} <= set(layers.split()), done.stderr
    assert outcome == "start False"  # denied before reaching the port (not refused by it)


def test_output_before_a_hang_is_kept() -> None:
    r = run_python(
        "import sys, time\nprint('progress')\nsys.stderr.write('err')\ntime.sleep(60)",
        Limits(timeout_s=1.0),
    )
    assert r.timed_out and r.stdout == "progress\n" and r.stderr == "err"


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap is not installed")
def test_bwrap_stands_in_for_missing_landlock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "DISABLED", frozenset({"landlock"}))
    targets = [unique(), REPO / f"attack-{uuid.uuid4().hex}"]
    code = f"""
print("start")
for path in {[str(t) for t in targets]!r}:
    try:
        open(path, "w").write("pwned")
    except OSError as exc:
        print("blocked", type(exc).__name__)
"""
    r = run_python(code, require=True)
    assert "bwrap" in r.isolation and "landlock" not in r.isolation and r.refused is None
    assert r.stdout.startswith("start\n"), r.stderr
    assert not any(t.exists() for t in targets)
