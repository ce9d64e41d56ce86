"""A raw LSP client for hostile tests: it writes whatever bytes it is told to the
server's stdin (``python -m reason_lsp --stdio``), and reads the server's frames
strictly, so a malformed answer fails the test instead of being tolerated.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SERVER = [sys.executable, "-m", "reason_lsp", "--stdio"]


def frame(body: bytes, length: int | None = None, header: bytes = b"Content-Length") -> bytes:
    """``body`` framed, with a Content-Length that is ``length`` (wrong, if you like)."""
    n = len(body) if length is None else length
    return header + b": %d\r\n\r\n" % n + body


class RawClient:
    """One server process; responses by id, notifications in arrival order."""

    def __init__(self, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [*SERVER, "--log-file", str(log_path.with_suffix(".server.log")), "-v"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **(env or {})},
        )
        self._ids = itertools.count(1)
        self._responses: dict[Any, dict] = {}
        self.null_id: list[dict] = []  # error responses with "id": null
        self.notifications: list[dict] = []
        self.server_requests: list[dict] = []
        self.bad_output: list[bytes] = []
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # -- reading the server ----------------------------------------------------------

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                if line == b"\r\n":
                    break
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = out.read(int(headers["content-length"]))
            try:
                message = json.loads(body)
            except ValueError:
                self.bad_output.append(body)
                continue
            with self._arrived:
                if "method" in message and "id" in message:
                    self.server_requests.append(message)
                    self._answer_server_request(message)
                elif "method" in message:
                    self.notifications.append(message)
                elif message.get("id") is None:
                    self.null_id.append(message)
                else:
                    self._responses[message["id"]] = message
                self._arrived.notify_all()

    def _answer_server_request(self, message: dict) -> None:
        result: Any = None
        if message["method"] == "workspace/configuration":
            result = [None for _ in message["params"]["items"]]
        elif message["method"] == "workspace/applyEdit":
            result = {"applied": False}
        self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = predicate()
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    found = predicate()
                    if found:
                        return found
                    raise TimeoutError(f"nothing arrived (server exit code {self.proc.poll()})")
                self._arrived.wait(min(left, 0.2))

    def response(self, msg_id: Any, timeout: float = 60.0) -> dict:
        return self.wait_for(lambda: self._responses.get(msg_id), timeout)

    def null_id_errors(self, count: int, timeout: float = 60.0) -> list[dict]:
        """Wait until ``count`` more id-null errors than were seen so far arrived."""
        return self.wait_for(lambda: self.null_id if len(self.null_id) >= count else None, timeout)

    def messages(self, method: str) -> list[dict]:
        with self._arrived:
            return [m for m in self.notifications if m["method"] == method]

    # -- writing to the server -------------------------------------------------------

    def write(self, data: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(data)
        stdin.flush()

    def send(self, message: Any) -> None:
        self.write(frame(json.dumps(message).encode()))

    def next_id(self) -> int:
        return next(self._ids)

    def request(self, method: str, params: Any = None, msg_id: Any = None) -> Any:
        msg_id = self.next_id() if msg_id is None else msg_id
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    def call(self, method: str, params: Any = None, timeout: float = 60.0) -> dict:
        return self.response(self.request(method, params), timeout)

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def initialize(self, options: dict | None = None, capabilities: dict | None = None) -> dict:
        answer = self.call("initialize", {
            "processId": os.getpid(), "rootUri": None, "capabilities": capabilities or {},
            "initializationOptions": options or {"reasonLsp": {"model": "none"}},
        })  # fmt: skip
        self.notify("initialized", {})
        return answer

    def open(self, uri: str, text: str, version: int = 1, language: str = "python") -> None:
        item = {"uri": uri, "languageId": language, "version": version, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": item})

    def pull(self, uri: str, timeout: float = 60.0) -> list[tuple[str, int, int]]:
        """The document's diagnostics (pull model) as (message, line, character)."""
        answer = self.call("textDocument/diagnostic", {"textDocument": {"uri": uri}}, timeout)
        items = answer["result"]["items"]
        return [(d["message"], d["range"]["start"]["line"], d["range"]["start"]["character"])
                for d in items]  # fmt: skip

    def shutdown_and_exit(self, timeout: float = 60.0) -> int:
        self.call("shutdown", None, timeout)
        self.notify("exit")
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._log.close()

    def stderr_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def server_log(self) -> str:
        path = self.log_path.with_suffix(".server.log")
        return path.read_text(errors="replace") if path.exists() else ""
