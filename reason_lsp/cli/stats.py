"""``reason-lsp stats``: each model backend's latency and errors, from a server or a snapshot.

* ``reason-lsp stats --port N [--host H]`` asks a server serving LSP over TCP
  (``reason-lsp --tcp --port N``) for ``reasonLsp/backendStats``, as an LSP client
  whose workspace is the current folder (so its ``[tool.reason-lsp]`` settings apply);
* ``reason-lsp stats FILE`` prints a saved snapshot;
* ``reason-lsp stats`` prints the snapshots every server on this machine keeps in the
  stats folder (``reason_lsp.engine.latency.stats_dir``), newest first.

``--format json`` prints the snapshot(s) as JSON; ``--save FILE`` writes what was
fetched. Nothing leaves the machine. Exit status 2 when nothing could be read.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from reason_lsp.engine import latency

METHOD = "reasonLsp/backendStats"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", nargs="?", type=Path, help="a saved snapshot to print")
    parser.add_argument("--port", type=int, help="ask the server serving LSP on this TCP port")
    parser.add_argument("--host", dest="stats_host", default="127.0.0.1", help="its host")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--save", type=Path, help="also write the snapshot to this file")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")


class _Lsp:
    """Just enough of an LSP client over one TCP connection."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.next_id = 0

    def send(self, method: str, params: Any, request: bool = True) -> int | None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        msg_id = None
        if request:
            self.next_id += 1
            msg_id = message["id"] = self.next_id
        body = json.dumps(message).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return msg_id

    def _read(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))  # fmt: skip
        while len(rest) < length:
            self.buf = head + b"\r\n\r\n" + rest
            self._fill()
            head, _, rest = self.buf.partition(b"\r\n\r\n")
        self.buf = rest[length:]
        return json.loads(rest[:length])

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def call(self, method: str, params: Any) -> Any:
        msg_id = self.send(method, params)
        while True:
            message = self._read()
            if message.get("id") == msg_id and "method" not in message:
                if "error" in message:
                    raise RuntimeError(message["error"].get("message", "error"))
                return message.get("result")
            if "method" in message and "id" in message:  # a server request: answer it empty
                reply = {"jsonrpc": "2.0", "id": message["id"], "result": None}
                body = json.dumps(reply).encode()
                self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)


def fetch(host: str, port: int, timeout: float = 30.0) -> dict[str, Any]:
    """The server's ``reasonLsp/backendStats``, through a short LSP session."""
    lsp = _Lsp(host, port, timeout)
    try:
        root = Path.cwd().as_uri()
        lsp.call("initialize", {"processId": os.getpid(), "rootUri": root, "capabilities": {}})
        lsp.send("initialized", {}, request=False)
        result = lsp.call(METHOD, None)
        lsp.call("shutdown", None)
        lsp.send("exit", None, request=False)
        return result
    finally:
        lsp.sock.close()


def saved() -> list[dict[str, Any]]:
    """Every snapshot in the stats folder, newest first."""
    found = []
    for path in latency.stats_dir().glob("server-*.json"):
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda s: -float(s.get("updated", 0)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def render(snapshot: dict[str, Any]) -> str:
    pid = int(snapshot.get("pid", 0))
    lines = [f"server pid {pid} ({'running' if _alive(pid) else 'stopped'})"]
    if not snapshot.get("backends"):
        lines.append("  no remote backend used")
    for b in snapshot.get("backends", []):
        lines.append(f"  {b['backend']} {b['url']}  model {b.get('model') or '?'}  "
                     f"state {b.get('state') or '?'}")  # fmt: skip
        lines.append(f"    retries {b['retries']}  outages {b['outages']}  "
                     f"redactions {b['redactions']}")  # fmt: skip
        for name, op in b.get("operations", {}).items():
            lat, first = op["latency"], op["time_to_first_token"]
            lines.append(
                f"    {name:9} {op['requests']} requests, {op['errors']} errors, "
                f"{op['cancelled']} cancelled; p50 {_ms(lat['p50_ms'])}, "
                f"p95 {_ms(lat['p95_ms'])}; first token p50 {_ms(first['p50_ms'])}, "
                f"p95 {_ms(first['p95_ms'])}"
            )
        if b.get("last_error"):
            lines.append(f"    last error: {b['last_error']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        if args.port is not None:
            snapshots = [fetch(args.stats_host, args.port, args.timeout)]
        elif args.snapshot is not None:
            snapshots = [json.loads(args.snapshot.read_text(encoding="utf-8"))]
        else:
            snapshots = saved()
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"reason-lsp stats: {exc}", file=sys.stderr)
        return 2
    if not snapshots:
        print(f"reason-lsp stats: no snapshot in {latency.stats_dir()}", file=sys.stderr)
        return 2
    if args.save is not None:
        args.save.write_text(json.dumps(snapshots[0], indent=1), encoding="utf-8")
    if args.format == "json":
        print(json.dumps(snapshots[0] if len(snapshots) == 1 else snapshots, indent=1))
    else:
        print("\n\n".join(render(s) for s in snapshots))
    return 0
