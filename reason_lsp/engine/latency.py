"""Latency statistics per backend, kept on this machine: histograms, percentiles, errors.

Each backend (``openai http://host:port/v1``) gets a :class:`BackendStats` in the
process-wide :data:`REGISTRY`, so its numbers outlive an engine restarted by a settings
change or a reconnect. Per operation (``generate``, ``score``, ``members``) it counts
requests, errors and cancellations and keeps the total time and the time to the first
token: fixed histogram buckets over the whole life, and p50/p95 over the most recent
:data:`WINDOW` requests. :func:`snapshot` is what ``reasonLsp/backendStats`` returns
and what :func:`save` writes (throttled) to the stats folder, where ``reason-lsp stats``
reads it. Nothing is sent anywhere.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Upper bounds of the histogram buckets, in milliseconds (the last bucket is open).
BUCKETS_MS: tuple[float, ...] = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
WINDOW = 1000
SAVE_EVERY_S = 5.0
SNAPSHOT_VERSION = 1


def stats_dir() -> Path:
    """Where servers keep their snapshots: ``$REASON_LSP_STATS_DIR``, else the user cache."""
    env = os.environ.get("REASON_LSP_STATS_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "reason-lsp" / "stats"


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class Histogram:
    """Counts per bucket over the whole life, and the recent values for percentiles."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))
    recent: deque = field(default_factory=lambda: deque(maxlen=WINDOW))

    def add(self, ms: float) -> None:
        i = next((i for i, bound in enumerate(BUCKETS_MS) if ms <= bound), len(BUCKETS_MS))
        self.counts[i] += 1
        self.recent.append(ms)

    def summary(self) -> dict[str, Any]:
        values = list(self.recent)
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        return {
            "count": sum(self.counts),
            "p50_ms": None if p50 is None else round(p50, 2),
            "p95_ms": None if p95 is None else round(p95, 2),
            "buckets": [
                {"le_ms": bound, "count": n}
                for bound, n in zip((*BUCKETS_MS, None), self.counts, strict=True)
            ],
        }


@dataclass
class OperationStats:
    requests: int = 0
    errors: int = 0
    cancelled: int = 0
    latency: Histogram = field(default_factory=Histogram)
    first_token: Histogram = field(default_factory=Histogram)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "cancelled": self.cancelled,
            "latency": self.latency.summary(),
            "time_to_first_token": self.first_token.summary(),
        }


class BackendStats:
    """One backend's numbers; thread-safe (the engine's worker writes, the server reads)."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend, self.url = backend, url
        self.model = ""
        self.state = ""
        self.retries = 0
        self.redactions = 0
        self.outages = 0
        self.last_error = ""
        self.operations: dict[str, OperationStats] = {}
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        return f"{self.backend} {self.url}".strip()

    def record(
        self,
        operation: str,
        ms: float,
        *,
        first_token_ms: float | None = None,
        outcome: str = "ok",
        error: str = "",
    ) -> None:
        """One finished request: ``outcome`` is "ok", "error" or "cancelled"."""
        with self._lock:
            op = self.operations.setdefault(operation, OperationStats())
            op.requests += 1
            if outcome == "error":
                op.errors += 1
                self.last_error = error
            elif outcome == "cancelled":
                op.cancelled += 1
            else:
                op.latency.add(ms)
                if first_token_ms is not None:
                    op.first_token.add(first_token_ms)
        save_soon()

    def count(self, what: str, n: int = 1) -> None:
        """Add to ``retries``, ``redactions`` or ``outages``."""
        with self._lock:
            setattr(self, what, getattr(self, what) + n)
        save_soon()

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "backend": self.backend,
                "url": self.url,
                "model": self.model,
                "state": self.state,
                "retries": self.retries,
                "redactions": self.redactions,
                "outages": self.outages,
                "last_error": self.last_error,
                "operations": {k: v.summary() for k, v in sorted(self.operations.items())},
            }


REGISTRY: dict[str, BackendStats] = {}
_registry_lock = threading.Lock()


def for_backend(backend: str, url: str) -> BackendStats:
    """The stats of ``backend`` at ``url``, created on first use."""
    with _registry_lock:
        stats = BackendStats(backend, url)
        return REGISTRY.setdefault(stats.key, stats)


@dataclass
class Snapshot:
    """What ``reasonLsp/backendStats`` answers and the stats file holds."""

    version: int
    pid: int
    updated: float
    backends: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def snapshot() -> Snapshot:
    with _registry_lock:
        backends = list(REGISTRY.values())
    return Snapshot(SNAPSHOT_VERSION, os.getpid(), time.time(), [b.summary() for b in backends])


_last_save = 0.0
_save_lock = threading.Lock()


def save_soon(force: bool = False) -> Path | None:
    """Write the snapshot to ``stats_dir()/server-<pid>.json`` unless it was written in
    the last :data:`SAVE_EVERY_S` seconds; best effort (a read-only home loses nothing)."""
    global _last_save
    with _save_lock:
        now = time.monotonic()
        if not force and now - _last_save < SAVE_EVERY_S:
            return None
        _last_save = now
    path = stats_dir() / f"server-{os.getpid()}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot().to_json(), indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        return None
    return path
