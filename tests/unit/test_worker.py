"""The model worker stops on close: the running job is cancelled, queued ones fail,
and the thread is joined (a thread inside the model at interpreter exit aborts it)."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from reason_lsp.engine.api import Cancelled
from reason_lsp.engine.worker import Worker, join_all


def decode_loop(cancel: threading.Event, started: threading.Event) -> object:
    """Like the decoder: work in steps, checking the cancel flag between them."""
    started.set()
    while not cancel.wait(0.01):
        pass
    raise Cancelled()


def test_close_cancels_the_running_job_fails_the_queued_and_joins() -> None:
    worker = Worker("test-worker")
    worker.start()
    started, cancel = threading.Event(), threading.Event()
    running = worker.submit(lambda: decode_loop(cancel, started), cancel)
    queued = [worker.submit(lambda: 1, threading.Event()) for _ in range(3)]
    assert started.wait(10)
    worker.close()
    assert not worker.alive
    for future in [running, *queued]:
        with pytest.raises(Cancelled):
            future.result(0)
    late = worker.submit(lambda: 1, threading.Event())
    with pytest.raises(Cancelled):
        late.result(0)  # nobody waits on a closed worker


def test_join_all_waits_for_a_worker_still_loading() -> None:
    loading, release = threading.Event(), threading.Event()

    def setup() -> None:  # a model load: it cannot be interrupted
        loading.set()
        release.wait(10)

    worker = Worker("test-loading")
    worker.start(setup)
    job: Future = worker.submit(lambda: 1, threading.Event())
    assert loading.wait(10)
    worker.close(join=False)
    assert worker.alive
    assert not join_all(0.05)  # still loading: not ended within the time given
    release.set()
    assert join_all(10)
    assert not worker.alive
    with pytest.raises(Cancelled):
        job.result(0)


def test_a_worker_that_was_never_started_closes() -> None:
    worker = Worker("test-idle")
    job = worker.submit(lambda: 1, threading.Event())
    worker.close()
    with pytest.raises(Cancelled):
        job.result(0)


class Big:
    """Stands for a key/value cache: something a cancelled job must not keep alive."""


def test_a_cancelled_job_keeps_nothing_of_its_frames_alive() -> None:
    """A cancelled job's exception carries no traceback, so the decode loop's locals
    (the slot's cache) are freed by reference counting, not by a full collection."""
    import gc
    import weakref

    worker = Worker("test-worker")
    worker.start()
    ref: list[weakref.ref] = []

    def job() -> object:
        cache = Big()
        ref.append(weakref.ref(cache))
        raise Cancelled()

    gc.disable()
    try:
        future = worker.submit(job, threading.Event())
        exc = future.exception(10)
        assert isinstance(exc, Cancelled)
        assert exc.__traceback__ is None
        assert ref[0]() is None
    finally:
        gc.enable()
        worker.close()


def test_on_idle_runs_once_after_a_quiet_spell(monkeypatch: pytest.MonkeyPatch) -> None:
    from reason_lsp.engine import worker as worker_module

    monkeypatch.setattr(worker_module, "IDLE_S", 0.05)
    idle = threading.Semaphore(0)
    calls: list[float] = []

    def on_idle() -> None:
        calls.append(1)
        idle.release()

    worker = Worker("test-worker", on_idle=on_idle)
    worker.start()
    try:
        assert not idle.acquire(timeout=0.3)  # no job yet: nothing to tidy
        assert worker.submit(lambda: 1, threading.Event()).result(10) == 1
        assert idle.acquire(timeout=10)
        assert not idle.acquire(timeout=0.3)  # once per quiet spell, not every timeout
        assert worker.submit(lambda: 2, threading.Event()).result(10) == 2
        assert idle.acquire(timeout=10)
        assert len(calls) == 2
    finally:
        worker.close()


def test_a_failing_on_idle_does_not_stop_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    from reason_lsp.engine import worker as worker_module

    monkeypatch.setattr(worker_module, "IDLE_S", 0.01)
    ran = threading.Event()

    def on_idle() -> None:
        ran.set()
        raise RuntimeError("housekeeping failed")

    worker = Worker("test-worker", on_idle=on_idle)
    worker.start()
    try:
        worker.submit(lambda: 1, threading.Event()).result(10)
        assert ran.wait(10)
        assert worker.submit(lambda: 2, threading.Event()).result(10) == 2
    finally:
        worker.close()
