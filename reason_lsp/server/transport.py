"""Serving one client over a byte stream (stdio, or one TCP connection), and every way out.

* A reader thread cuts the input into frames (:mod:`reason_lsp.server.framing`) and
  hands each body, in order, to the event loop, where the protocol answers it
  (:meth:`reason_lsp.server.protocol.ReasonProtocol.receive`).
* Output goes through one locked writer; a client that is gone ends the session
  instead of raising into whatever was writing.
* The session ends on ``exit`` (code 0 after ``shutdown``, else 1), at the end of
  input (the client is gone; same codes), when output is lost, and on SIGTERM,
  SIGINT or SIGHUP.
* On the way out, always: :meth:`ReasonLanguageServer.stop` (background tasks, the
  features, sandbox runs killed, the engine's worker joined), then every model
  worker joined (:func:`reason_lsp.engine.worker.join_all`). A thread still inside
  the model when the interpreter exits is what aborts the process, so if one is
  still busy after that (a model still loading) the process leaves with
  ``os._exit`` once the logs are flushed, and a watchdog does the same if the
  interpreter's teardown hangs on a stuck helper thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from typing import Any, BinaryIO

from reason_lsp.engine import worker
from reason_lsp.server.framing import STALL_S, FrameReader

log = logging.getLogger(__name__)

JOIN_S = 20.0  # how long the way out waits for model and helper threads


class Writer:
    """pygls's writer: whole frames, one at a time, and never an exception."""

    def __init__(self, stream: BinaryIO, on_lost: Any) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._on_lost = on_lost
        self.lost = False

    def write(self, data: bytes) -> None:
        with self._lock:
            if self.lost:
                return
            try:
                self._stream.write(data)
                self._stream.flush()
            except (OSError, ValueError) as exc:  # a broken pipe, a closed stream
                self.lost = True
                log.warning("the client's end of the connection is gone (%s)", exc)
                self._on_lost()

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._stream.flush()


def serve_stdio(server: Any, stall_s: float = STALL_S) -> int:
    """Serve over stdin/stdout; the process's exit code."""
    # Frames go to a private copy of stdout; fd 1 becomes stderr, so a stray print
    # (ours, a library's, torch's) can never corrupt the protocol stream.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return leave(serve(server, sys.stdin.fileno(), out, stall_s))


def serve_tcp(server: Any, host: str, port: int) -> int:
    """Serve the first client that connects to ``host:port``; the process's exit code."""
    with socket.create_server((host, port)) as listener:
        log.info("serving on %s:%s", host, port)
        conn, peer = listener.accept()
    log.info("client connected from %s", peer)
    with conn, conn.makefile("wb") as out:
        code = serve(server, conn.fileno(), out)
    return leave(code)


def serve(server: Any, read_fd: int, out: BinaryIO, stall_s: float = STALL_S) -> int:
    """Run one session to its end and clean up; the exit code (see the module docstring)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_session(server, read_fd, out, stall_s))
    finally:
        _cancel_the_rest(loop)
        loop.close()


async def _session(server: Any, read_fd: int, out: BinaryIO, stall_s: float) -> int:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    protocol = server.protocol

    def code_now() -> int:
        return 0 if protocol.lifecycle == "shut down" else 1

    def finish(code: int, why: str) -> None:
        if not done.done():
            log.info("stopping: %s (exit code %d)", why, code)
            done.set_result(code)

    def soon(fn: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(fn, *args)

    writer = Writer(out, lambda: soon(lambda: finish(code_now(), "output lost")))
    protocol.set_writer(writer)
    server.on_exit = lambda code: soon(finish, code, "exit")

    def read() -> None:
        try:
            for frame in FrameReader(read_fd, stall_s):
                soon(protocol.receive, frame.body)
        except Exception:
            log.exception("reading the input failed")
        soon(lambda: finish(code_now(), "end of input"))

    threading.Thread(target=read, name="reason-lsp-reader", daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(ValueError, NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda s=sig: finish(code_now(), signal.Signals(s).name))
    try:
        code = await done
    finally:
        server.stop()  # idempotent: after shutdown it has already run
        pool = getattr(server, "_thread_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        writer.close()
    return code


def _cancel_the_rest(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        gathered = asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.wait_for(gathered, 5))


def leave(code: int) -> int:
    """Join the model workers, then let the interpreter exit with ``code``; ``os._exit``
    if a model thread will not end, or if the interpreter's own teardown hangs."""
    if not worker.join_all(JOIN_S):
        log.error("a model thread is still running at exit; leaving without the "
                  "interpreter's teardown")  # fmt: skip
        _hard_exit(code)
    # Helper threads (thread pools) are joined by the interpreter at exit; if one of
    # them is stuck, this daemon timer ends the process anyway.
    watchdog = threading.Timer(JOIN_S, _hard_exit, (code,))
    watchdog.daemon = True
    watchdog.start()
    return code


def _hard_exit(code: int) -> None:
    logging.shutdown()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)
