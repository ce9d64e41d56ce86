"""Native memory the Python heap does not see: torch's kernel caches and glibc's free pages.

A CPU matmul in bfloat16 goes through oneDNN, which caches one primitive (with its
scratch buffers and reordered operands) per input shape, and through ideep's own LRU
cache of the same; both hold 1,024 entries by default. Every prompt length is a new
shape, so a server that prefills prompts of every length grew by ~440 MB over 1,000
requests (``bench/soak.py``) without a single Python object leaking. Sixteen entries
keep every shape a decode step uses (one per matrix) and cost no measurable speed;
none at all makes each decode step rebuild its primitives (3.7 → 13.6 ms/token).

Both libraries read their setting when they make their first primitive, so
:func:`bound_kernel_caches` works after ``import torch`` as long as it runs before
the model's first matmul. A value already in the environment wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

#: Entries per kernel cache: the decode step's shapes, plus a few prefill blocks.
KERNEL_CACHE_ENTRIES = 16
_CACHE_SETTINGS = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def bound_kernel_caches() -> None:
    """Cap oneDNN's and ideep's shape-keyed caches (unless the user set them)."""
    for name in _CACHE_SETTINGS:
        os.environ.setdefault(name, str(KERNEL_CACHE_ENTRIES))


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, found once: ``find_library`` runs ``ldconfig``, and trimming runs after
    every quiet second. ``None`` where there is no glibc (nothing to trim)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def return_freed_memory() -> None:
    """Hand the heap pages glibc keeps after a large free back to the OS (loading frees
    float32 temporaries of every matrix: ~180 MB of resident memory for the pretrained
    model). Not glibc: nothing to do."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
