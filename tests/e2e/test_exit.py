"""Every way out of the server: the exit code LSP asks for, and nothing left running.

``shutdown`` + ``exit`` after a busy session exits 0 (the model worker is joined
first; a thread inside torch at interpreter exit used to abort the process);
``exit`` alone exits 1; end of input, SIGTERM and even SIGKILL while a sandboxed
example runs leave no process of that run behind.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from proctree import cmdline, descendants, wait_until_gone
from rawclient import RawClient

SLEEPY = '''def nap(x):
    """Sleep for a minute.

    >>> nap(1)
    1
    """
    import time
    time.sleep(60)
    return x
'''
URI = "file:///tmp/reason_lsp_exit/sleepy.py"
NO_MODEL = {"reasonLsp": {"model": "none", "sandbox": {"timeout": 300}}}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[RawClient]:
    c = RawClient(tmp_path / "stderr.log")
    yield c
    c.close()


def start_sleepy_run(c: RawClient) -> dict[int, bytes]:
    """Run the examples of a function that sleeps; the run's processes once it runs."""
    c.initialize(NO_MODEL)
    c.open(URI, SLEEPY)
    c.request("workspace/executeCommand", {"command": "reasonLsp.verify",
              "arguments": [{"uri": URI, "position": {"line": 0, "character": 5}}]})  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        procs = descendants(c.proc.pid)
        # The snippet's own Python runs (not only the launcher, whose config names it).
        if any(b"_sandbox_main.py" in cmdline(pid) for pid in procs):
            return procs
        assert c.proc.poll() is None, c.server_log()[-4000:]
        time.sleep(0.05)
    raise AssertionError("the sandbox run did not start: " + c.server_log()[-4000:])


def test_sigkill_of_the_server_leaves_no_process_of_its_sandbox_run(client: RawClient) -> None:
    run = start_sleepy_run(client)
    assert len(run) >= 2  # the launcher and the snippet's Python, at least
    os.kill(client.proc.pid, signal.SIGKILL)
    client.proc.wait(30)
    assert wait_until_gone(run) == []


def test_end_of_input_ends_the_server_and_its_sandbox_run(client: RawClient) -> None:
    run = start_sleepy_run(client)
    assert client.proc.stdin is not None
    client.proc.stdin.close()  # the client vanished
    assert client.proc.wait(60) == 1  # no shutdown first: 1, as LSP says for exit
    assert wait_until_gone(run) == []


def test_sigterm_ends_the_server_and_its_sandbox_run(client: RawClient) -> None:
    run = start_sleepy_run(client)
    client.proc.send_signal(signal.SIGTERM)
    assert client.proc.wait(60) == 1
    assert wait_until_gone(run) == []


def test_shutdown_during_a_sandbox_run_answers_and_exits_0(client: RawClient) -> None:
    run = start_sleepy_run(client)
    assert client.shutdown_and_exit(60) == 0
    assert wait_until_gone(run) == []


def test_exit_without_shutdown_is_code_1(client: RawClient) -> None:
    client.initialize(NO_MODEL)
    client.notify("exit")
    assert client.proc.wait(60) == 1


@pytest.mark.slow
def test_shutdown_and_exit_after_a_busy_session_exit_0(tmp_path: Path, memo_model: Path) -> None:
    # torch's intra-op threads are what abort an interpreter exiting under a busy
    # model thread; with one thread the old server exited cleanly by luck.
    client = RawClient(tmp_path / "stderr.log", env={"OMP_NUM_THREADS": "2"})
    try:
        busy_session_then_shutdown(client, memo_model)
    finally:
        client.close()


def busy_session_then_shutdown(client: RawClient, memo_model: Path) -> None:
    client.initialize({"reasonLsp": {"model": str(memo_model)}})
    client.wait_for(lambda: [m for m in client.messages("reasonLsp/status")
                             if m["params"]["state"] == "ready"], 120)  # fmt: skip
    uri = "file:///tmp/reason_lsp_exit/busy.py"
    text = "import math\n\n\ndef area(radius):\n    return "
    client.open(uri, text)
    ids = []
    for i in range(60):
        params = {"textDocument": {"uri": uri}, "position": {"line": 4, "character": 11},
                  "context": {"triggerKind": 1}}  # fmt: skip
        ids.append(client.request("textDocument/inlineCompletion", params))
        if i % 5:
            client.notify("$/cancelRequest", {"id": ids[-1]})
    for msg_id in ids[:10]:  # the worker has been busy; some are still queued or running
        client.response(msg_id, 120)
    # Thousands of regions to score: the worker is surely inside the model at shutdown.
    scoring = "".join(
        f"def radius_{i}(s):\n    return math.sqrt(s / math.pi)\n" for i in range(3000)
    )
    client.open("file:///tmp/reason_lsp_exit/score.py", scoring)
    time.sleep(1.5)  # past the quiet period: scoring has started
    assert client.shutdown_and_exit(120) == 0, client.stderr_text()[-4000:]
    assert "terminate called" not in client.stderr_text()
    assert all("result" in client.response(i, 30) or "error" in client.response(i, 30)
               for i in ids)  # fmt: skip
