"""The single worker thread that owns the model, and its priority queue.

Every model call runs here, one at a time, so the model and its caches need no
locks. Requests carry a cancel flag the decode loop checks between steps (pygls
only cancels the awaiting future); a newer request with the same key supersedes
the queued or running one.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from reason_lsp.engine.api import Cancelled, Priority


@dataclass(order=True)
class Job:
    priority: int
    seq: int
    fn: Callable[[], Any] = field(compare=False)
    future: Future = field(compare=False)
    cancel_event: threading.Event = field(compare=False)
    key: str = field(compare=False, default="")


class Worker:
    def __init__(self, name: str = "reason-lsp-model") -> None:
        self._queue: queue.PriorityQueue[Job] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._latest: dict[tuple[str, int], Job] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._setup: Callable[[], None] | None = None
        self._closed = False
        #: Jobs that ended cancelled: skipped in the queue or stopped mid-decode.
        self.cancelled = 0

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
            if key:
                older = self._latest.get((key, int(priority)))
                if older is not None and not older.future.done():
                    older.cancel_event.set()
                self._latest[(key, int(priority))] = job
        self._queue.put(job)
        return future

    def close(self) -> None:
        self._closed = True
        self._queue.put(Job(-1, -1, lambda: None, Future(), threading.Event()))

    def _run(self) -> None:
        if self._setup is not None:
            self._setup()
        while True:
            job = self._queue.get()
            if self._closed:
                return
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
                job.future.set_exception(exc)
            except BaseException as exc:  # delivered to the caller
                job.future.set_exception(exc)
            finally:
                with self._lock:
                    if self._latest.get((job.key, job.priority)) is job:
                        del self._latest[(job.key, job.priority)]
