"""``reason-lsp fetch-corpus`` without the network: the pinned package list, and the
unpack, license-check and build path on wheels and an sdist made in the test."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import io
import json
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from reason_lsp.training import fetch
from reason_lsp.training.corpus import (
    CLASSIFIER_PERMISSIVE,
    COPYLEFT,
    VALID_THIRDPARTY,
    _spdx_permissive,
    build,
)
from reason_lsp.training.fetch import FetchError, Package, fetch_corpus, load_manifest

CODE = "def {name}(items):\n" + "".join(
    f"    total_{i} = sum(x * {i} for x in items)  # step {i}\n" for i in range(8)
) + "    return total_0\n"  # fmt: skip


def code(name: str) -> str:
    return CODE.format(name=name)


def metadata(name: str, version: str, license_expr: str) -> str:
    return (
        f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n"
        f"License-Expression: {license_expr}\n\n"
    )


def make_wheel(folder: Path, name: str, version: str, license_expr: str, files: dict) -> Path:
    """A wheel as pip downloads it: package files, METADATA, a RECORD listing them."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    members = {**files, f"{info}/METADATA": metadata(name, version, license_expr)}
    members[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in [*members, f"{info}/RECORD"])
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in members.items():
            zf.writestr(path, text)
    return wheel


def test_the_shipped_list_is_pinned_permissive_and_new() -> None:
    packages = load_manifest()
    assert 25 <= len(packages) <= 40
    installed = {fetch.canonical(d.metadata["Name"] or "") for d in md.distributions()}
    for pkg in packages:
        name = fetch.canonical(pkg.name)
        assert name not in VALID_THIRDPARTY, pkg
        assert name not in installed, f"{pkg.name} is installed; build-corpus already has it"
        assert pkg.reason.strip(), pkg
        lic = pkg.license
        assert not COPYLEFT.search(lic), pkg
        assert _spdx_permissive(lic) or CLASSIFIER_PERMISSIVE.search(lic), pkg


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('name = "x"\nversion = ">=1.0"\nlicense = "MIT"\nreason = "r"', "not one pinned"),
        ('name = "x"\nversion = "1.0"\nlicense = "MIT"', "lacks reason"),
        ('name = "Click"\nversion = "8.1.0"\nlicense = "BSD"\nreason = "r"', "held out"),
    ],
)
def test_a_bad_list_is_refused_with_its_reason(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "list.toml"
    path.write_text(f"[[package]]\n{entry}\n")
    with pytest.raises(ValueError, match=message):
        load_manifest(path)


def test_a_package_listed_twice_is_refused(tmp_path: Path) -> None:
    entry = '[[package]]\nname = "{}"\nversion = "1.0"\nlicense = "MIT"\nreason = "r"\n'
    path = tmp_path / "list.toml"
    path.write_text(entry.format("foo_bar") + entry.format("Foo-Bar"))
    with pytest.raises(ValueError, match="listed twice"):
        load_manifest(path)


def test_fetch_builds_an_extra_corpus_from_cached_wheels(tmp_path: Path, monkeypatch) -> None:
    cache, out, main = tmp_path / "cache", tmp_path / "extra", tmp_path / "main"
    ok = Package("good-pkg", "1.0", "MIT", "test")
    gpl = Package("gpl-pkg", "2.0", "GPL-3.0-only", "test")
    make_wheel(
        cache / "downloads" / ok.key,
        "good_pkg",
        "1.0",
        "MIT",
        {
            "good_pkg/__init__.py": code("init"),
            "good_pkg/core.py": code("core"),
            "good_pkg/dup.py": code("seen_before"),
            "good_pkg/tiny.py": "x = 1\n",
        },
    )
    make_wheel(
        cache / "downloads" / gpl.key,
        "gpl_pkg",
        "2.0",
        "GPL-3.0-only",
        {"gpl_pkg/__init__.py": code("gpl")},
    )
    main.mkdir()
    held_out = json.dumps({"path": "v.py", "package": "click", "text": code("seen_before")})
    (main / "valid_thirdparty.jsonl").write_text(held_out + "\n")
    before = (main / "valid_thirdparty.jsonl").read_bytes()

    def no_pip(*args, **kwargs):
        raise AssertionError("a cached package must not be downloaded again")

    monkeypatch.setattr(fetch.subprocess, "run", no_pip)
    manifest = fetch_corpus([ok, gpl], cache, out, main, log=lambda *a: None)

    records = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    # tiny.py is under the size floor; dup.py is a held-out file of the main corpus.
    assert sorted(r["path"] for r in records) == ["good_pkg/__init__.py", "good_pkg/core.py"]
    assert {r["package"] for r in records} == {"good-pkg"}
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train.jsonl"]
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    (entry,) = on_disk["packages"]
    assert entry["package"] == "good-pkg" and entry["version"] == "1.0"
    assert entry["license"] == "MIT" and entry["files"] == 2
    assert entry["bytes"] == sum(len(r["text"].encode()) for r in records)
    assert on_disk["source"]["skipped_license"] == [
        {"package": "gpl-pkg", "version": "2.0", "license": "GPL-3.0-only"}
    ]
    assert (main / "valid_thirdparty.jsonl").read_bytes() == before
    assert sorted(p.name for p in main.iterdir()) == ["valid_thirdparty.jsonl"]
    # The unpacked sites stay in the cache; a second run reuses them.
    assert (cache / "site" / ok.key / "good_pkg" / "core.py").is_file()
    assert fetch_corpus([ok], cache, out, main, log=lambda *a: None)["splits"] == manifest["splits"]


def test_the_main_corpus_cannot_be_the_output(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="main corpus"):
        fetch_corpus([], tmp_path, tmp_path / "c", tmp_path / "c")


def test_an_extra_build_leaves_out_the_stdlib_and_held_out_distributions(tmp_path: Path) -> None:
    sites = []
    for name in ("click", "fine"):
        wheel = make_wheel(tmp_path / "w", name, "1.0", "MIT", {f"{name}/m.py": code(name)})
        sites.append(str(fetch.unpack(wheel, tmp_path / name)))
    manifest = build(tmp_path / "out", sites, lambda *a: None, extra=True)
    assert [e["package"] for e in manifest["packages"]] == ["fine"]
    assert manifest["excluded"] == [{"package": "click", "license": "held out for validation"}]
    assert set(manifest["splits"]) == {"train"}


def test_an_sdist_unpacks_to_a_site_with_its_python_files(tmp_path: Path) -> None:
    sdist = tmp_path / "tool-3.1.tar.gz"
    members = {
        "tool-3.1/PKG-INFO": metadata("tool", "3.1", "BSD-3-Clause"),
        "tool-3.1/src/tool/__init__.py": code("tool"),
        "tool-3.1/README.md": "readme\n",
    }
    with tarfile.open(sdist, "w:gz") as tf:
        for path, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    site = fetch.unpack(sdist, tmp_path / "site")
    assert fetch.check_license(Package("tool", "3.1", "BSD-3-Clause", "r"), site) == (
        "BSD-3-Clause",
        True,
    )
    (dist,) = md.distributions(path=[str(site)])
    assert [str(f) for f in dist.files or []] == ["tool-3.1/src/tool/__init__.py"]


def test_an_archive_reaching_outside_its_folder_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "evil", "1.0", "MIT", {"../evil.py": code("evil")})
    with pytest.raises(FetchError, match="unsafe path"):
        fetch.unpack(wheel, tmp_path / "site")
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "site").exists()


def test_unreachable_pypi_is_one_line_and_keeps_what_was_fetched(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """A pip that cannot connect (a script printing pip's message) stops the run."""
    pip = tmp_path / "offline-python"
    pip.write_text(
        "#!/bin/sh\necho 'WARNING: Retrying after connection broken by NewConnectionError' >&2\n"
        "echo 'ERROR: No matching distribution found for later==1.0' >&2\nexit 1\n"
    )
    pip.chmod(pip.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(fetch.sys, "executable", str(pip))
    cache = tmp_path / "cache"
    first = Package("first", "1.0", "MIT", "r")
    make_wheel(cache / "downloads" / first.key, "first", "1.0", "MIT", {"first/a.py": code("a")})
    listing = tmp_path / "list.toml"
    listing.write_text(
        '[[package]]\nname = "first"\nversion = "1.0"\nlicense = "MIT"\nreason = "r"\n'
        '[[package]]\nname = "later"\nversion = "1.0"\nlicense = "MIT"\nreason = "r"\n'
    )
    args = argparse.Namespace(
        packages=listing, cache=cache, out=tmp_path / "out", main_corpus=tmp_path / "none",
        keep_going=False,
    )  # fmt: skip
    assert fetch.main_from_args(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("reason-lsp fetch-corpus: cannot reach PyPI for later==1.0")
    assert (cache / "site" / first.key / "first" / "a.py").is_file()
    assert not (tmp_path / "out").exists()
