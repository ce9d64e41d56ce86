"""The kernel caches are capped before the model's first matmul, unless the user chose."""

from __future__ import annotations

import pytest

from reason_lsp.engine import native_memory


def test_kernel_caches_get_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    monkeypatch.setenv("LRU_CACHE_CAPACITY", "3")  # the user's own choice wins
    native_memory.bound_kernel_caches()
    import os

    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == str(native_memory.KERNEL_CACHE_ENTRIES)
    assert os.environ["LRU_CACHE_CAPACITY"] == "3"


def test_returning_freed_memory_is_safe_to_call_any_time() -> None:
    native_memory.return_freed_memory()
    native_memory.return_freed_memory()
