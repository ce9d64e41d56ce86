"""The unlikely-code cache of `reason-lsp check`: per region key, per fingerprint, never fatal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reason_lsp.features.unlikely.checker import RegionCache, fingerprint, model_folder
from reason_lsp.features.unlikely.flags import Flag
from reason_lsp.settings import Settings

FLAG = Flag(4, 6, "<=", "<", 13.25, "warning")


def test_flags_round_trip_and_the_folder_is_marked_as_a_cache(tmp_path: Path) -> None:
    said: list[str] = []
    cache = RegionCache(tmp_path / "c", "f" * 64, said.append)
    assert cache.get("k1") is None
    cache.put("k1", [FLAG])
    cache.put("k2", [])
    again = RegionCache(tmp_path / "c", "f" * 64, said.append)
    assert again.get("k1") == [FLAG] and again.get("k2") == []
    assert (again.hits, again.misses) == (2, 0)
    assert (tmp_path / "c" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (tmp_path / "c" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f59")
    other = RegionCache(tmp_path / "c", "0" * 64, said.append)  # another model or threshold
    assert other.get("k1") is None
    assert said == []


def test_a_damaged_entry_is_a_miss(tmp_path: Path) -> None:
    cache = RegionCache(tmp_path, "a" * 64, print)
    cache.put("k", [FLAG])
    (entry,) = cache.folder.glob("k.json")
    entry.write_text('[{"start": 1}', encoding="utf-8")
    assert cache.get("k") is None
    entry.write_text('[{"start": 1, "bogus": 2}]', encoding="utf-8")
    assert cache.get("k") is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_cache_is_said_once_and_the_run_goes_on(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    said: list[str] = []
    try:
        cache = RegionCache(tmp_path / "c", "a" * 64, said.append)
        cache.put("k1", [FLAG])
        cache.put("k2", [FLAG])
    finally:
        tmp_path.chmod(0o700)
    assert len(said) == 1 and "cannot write the cache" in said[0]


def test_a_cache_path_that_is_a_file_is_said_once_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "c").write_text("not a folder")
    said: list[str] = []
    cache = RegionCache(tmp_path / "c", "a" * 64, said.append)
    cache.put("k1", [FLAG])
    cache.put("k2", [FLAG])
    assert cache.get("k1") is None
    assert len(said) == 1 and "cannot write the cache" in said[0]


def test_no_cache_folder_means_no_cache(tmp_path: Path) -> None:
    cache = RegionCache(None, "a" * 64, print)
    cache.put("k", [FLAG])
    assert cache.get("k") is None


def test_the_fingerprint_follows_the_model_files_and_the_settings(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"1234")
    settings = Settings(model=str(model))
    first = fingerprint(settings)
    assert fingerprint(settings) == first
    assert fingerprint(settings.replace(diagnostics_threshold=14.0)) != first
    assert fingerprint(settings.replace(dtype="bfloat16")) != first
    (model / "model.safetensors").write_bytes(b"12345")  # retrained weights
    assert fingerprint(settings) != first
    assert model_folder(str(model)) == model
    assert model_folder("org/hub-model") is None
    embedded = model_folder("embedded")
    assert embedded is not None and (embedded / "config.json").is_file()
