"""The single worker thread that owns the model, and its priority queue.

Every model call runs here, one at a time, so the model and its caches need no
locks. Requests carry a cancel flag the decode loop checks between steps (pygls
only cancels the awaiting future); a newer request with the same key supersedes
the queued or running one.

:meth:`Worker.close` stops the thread and joins it: the running job's cancel flag is
set (the decode loop stops at its next step), queued jobs fail with ``Cancelled`` so
nobody waits on them, and the thread is joined for up to ``CLOSE_JOIN_S``. A thread
still inside the model when the interpreter exits is what aborts the process
("terminate called without an active exception"), so :func:`join_all` waits, at
exit, for every worker closed too late to finish within that time (a model still
loading).

``on_idle`` runs on the thread once the queue has stayed empty for ``IDLE_S`` after a
job: the local engine hands freed heap pages back there, never between keystrokes.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from reason_lsp.engine.api import Cancelled, Priority

CLOSE_JOIN_S = 5.0
#: Quiet seconds after a job before ``on_idle`` runs.
IDLE_S = 1.0
_workers: weakref.WeakSet[Worker] = weakref.WeakSet()


def join_all(timeout: float = 30.0) -> bool:
    """Close every worker and wait for its thread (all within ``timeout``); whether all ended."""
    live = list(_workers)
    for worker in live:
        worker.close(join=False)
    deadline = time.monotonic() + timeout
    for worker in live:
        if worker.alive and threading.current_thread() is not worker._thread:
            worker._thread.join(max(0.0, deadline - time.monotonic()))
    return not any(worker.alive for worker in live)


@dataclass(order=True)
class Job:
    priority: int
    seq: int
    fn: Callable[[], Any] = field(compare=False)
    future: Future = field(compare=False)
    cancel_event: threading.Event = field(compare=False)
    key: str = field(compare=False, default="")


class Worker:
    def __init__(
        self, name: str = "reason-lsp-model", on_idle: Callable[[], None] | None = None
    ) -> None:
        self._on_idle = on_idle
        self._queue: queue.PriorityQueue[Job] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._latest: dict[tuple[str, int], Job] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._setup: Callable[[], None] | None = None
        self._closed = False
        self._current: Job | None = None
        #: Jobs that ended cancelled: skipped in the queue or stopped mid-decode.
        self.cancelled = 0
        _workers.add(self)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self, setup: Callable[[], None] | None = None) -> None:
        """Start the thread; ``setup`` (model loading) runs on it before any job."""
        self._setup = setup
        self._thread.start()

    def submit(
        self,
        fn: Callable[[], Any],
        cancel_event: threading.Event,
        priority: Priority = Priority.COMPLETION,
        key: str = "",
    ) -> Future:
        future: Future = Future()
        job = Job(int(priority), next(self._seq), fn, future, cancel_event, key)
        with self._lock:
            if self._closed:
                future.set_exception(Cancelled())
                return future
            if key:
                older = self._latest.get((key, int(priority)))
                if older is not None and not older.future.done():
                    older.cancel_event.set()
                self._latest[(key, int(priority))] = job
            self._queue.put(job)
        return future

    def close(self, join: bool = True) -> None:
        """Stop the thread: cancel the running job, fail the queued ones, join it."""
        with self._lock:
            self._closed = True
            current = self._current
        if current is not None:
            current.cancel_event.set()
        self._drain()
        self._queue.put(Job(-1, -1, lambda: None, Future(), threading.Event()))
        if join and self.alive and threading.current_thread() is not self._thread:
            self._thread.join(CLOSE_JOIN_S)

    def _drain(self) -> None:
        """Fail every queued job with ``Cancelled`` (their callers must not wait forever)."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            job.cancel_event.set()
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(Cancelled())

    def _run(self) -> None:
        if self._setup is not None and not self._closed:
            self._setup()
        busy = False  # a job ran since the last ``on_idle``
        while True:
            try:
                job = self._queue.get(timeout=IDLE_S if busy and self._on_idle else None)
            except queue.Empty:
                busy = False
                self._idle()
                continue
            busy = True
            with self._lock:
                if self._closed:
                    job.cancel_event.set()
                    if job.future.set_running_or_notify_cancel():
                        job.future.set_exception(Cancelled())
                    break
                self._current = job
            try:
                if not job.future.set_running_or_notify_cancel():
                    continue
                if job.cancel_event.is_set():
                    self.cancelled += 1
                    job.future.set_exception(Cancelled())
                    continue
                job.future.set_result(job.fn())
            except Cancelled as exc:
                self.cancelled += 1
                # Its traceback holds the decode loop's frames, and they the slot's key/value
                # cache (35-59 MB for the pretrained model): the caller's frames make a cycle
                # with it that only a full collection frees, which a server that allocates few
                # Python objects seldom runs (+500 MB over 1,000 requests in bench/soak.py).
                job.future.set_exception(exc.with_traceback(None))
            except BaseException as exc:  # delivered to the caller
                job.future.set_exception(exc)
            finally:
                with self._lock:
                    self._current = None
                    if self._latest.get((job.key, job.priority)) is job:
                        del self._latest[(job.key, job.priority)]
        self._drain()

    def _idle(self) -> None:
        with contextlib.suppress(Exception):  # housekeeping must not stop the worker
            self._on_idle()  # type: ignore[misc]
