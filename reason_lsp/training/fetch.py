"""``reason-lsp fetch-corpus``: a larger permissive corpus from a fixed list of PyPI packages.

``build-corpus`` only sees what this machine has installed. This module grows the
training data from ``corpus_packages.toml`` (next to it): a short, hand-kept list of
permissively licensed distributions, each pinned to one version, so the extra corpus
is reproducible and nothing is searched or crawled.

Each package is downloaded once with ``pip download --no-deps`` (a pure
``py3-none-any`` wheel first, then a wheel for this interpreter, then the sdist)
into ``CACHE/downloads/<name>-<version>/`` and unpacked into its own site folder
``CACHE/site/<name>-<version>/``: a wheel's package dirs and ``*.dist-info``, or an
sdist's tree with its ``PKG-INFO`` as ``METADATA`` and a ``RECORD`` of its ``.py``
files. Both are reused on the next run. The license the downloaded metadata
declares is checked with :func:`corpus.license_of`; a package that is not
permissive is skipped and reported. The rest go through :func:`corpus.build` with
``extra=True`` into ``--out`` (default ``data/corpus-extra``): ``train.jsonl`` and
``manifest.json`` only, no stdlib, no held-out splits, and every file already in
the main corpus (any split, by content) left out, so a vendored copy cannot leak a
held-out file into training. ``data/corpus`` is never written.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from reason_lsp.training.corpus import VALID_THIRDPARTY, build, corpus_digests, license_of

MANIFEST = Path(__file__).with_name("corpus_packages.toml")
DEFAULT_CACHE = Path.home() / ".cache" / "reason-lsp" / "corpus-packages"
ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2")
#: What pip prints when PyPI cannot be reached at all: no point trying other packages.
_OFFLINE = re.compile(
    r"NewConnectionError|Network is unreachable|Temporary failure in name resolution|"
    r"Name or service not known|Connection refused|ProxyError|timed out",
    re.I,
)


class FetchError(Exception):
    """A download or unpack failed; the message is one line for the user."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    license: str
    reason: str

    @property
    def key(self) -> str:
        return f"{canonical(self.name)}-{self.version}"


def canonical(name: str) -> str:
    """PEP 503 name, as corpus.py compares distributions (``-`` for ``_``/``.``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def load_manifest(path: Path = MANIFEST) -> list[Package]:
    """The pinned packages of a manifest, checked: fields present, exact versions, unique
    names, none held out for validation."""
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("package", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the package list {path}: {exc}") from None
    packages, seen = [], set()
    for i, entry in enumerate(entries):
        missing = [f for f in ("name", "version", "license", "reason") if not entry.get(f)]
        if missing:
            raise ValueError(f"{path}: package #{i + 1} lacks {', '.join(missing)}")
        pkg = Package(*(str(entry[f]) for f in ("name", "version", "license", "reason")))
        if not re.fullmatch(r"[0-9][0-9A-Za-z.+!]*", pkg.version):
            raise ValueError(
                f"{path}: {pkg.name} version {pkg.version!r} is not one pinned version"
            )
        if canonical(pkg.name) in seen:
            raise ValueError(f"{path}: {pkg.name} is listed twice")
        if canonical(pkg.name) in VALID_THIRDPARTY:
            raise ValueError(f"{path}: {pkg.name} is held out for validation (VALID_THIRDPARTY)")
        seen.add(canonical(pkg.name))
        packages.append(pkg)
    if not packages:
        raise ValueError(f"{path} lists no [[package]]")
    return packages


def _archive(folder: Path) -> Path | None:
    found = (
        sorted(p for p in folder.glob("*") if p.name.endswith(ARCHIVES)) if folder.is_dir() else []
    )
    wheels = [p for p in found if p.suffix == ".whl"]
    return (wheels or found or [None])[0]


def download(pkg: Package, downloads: Path, log=print) -> Path:
    """The archive of ``pkg`` in ``downloads/<name>-<version>/``, downloaded unless present."""
    folder = downloads / pkg.key
    if (have := _archive(folder)) is not None:
        return have
    folder.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "--quiet"]
    base += ["--disable-pip-version-check", "--retries", "2", "--timeout", "20", "-d", str(folder)]
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    attempts = (
        ("pure wheel", ["--only-binary=:all:", "--platform", "any", "--implementation", "py",
                        "--abi", "none", "--python-version", py]),
        ("wheel", ["--only-binary=:all:"]),
        ("sdist", ["--no-binary=:all:"]),
    )  # fmt: skip
    error = ""
    for kind, extra in attempts:
        try:
            done = subprocess.run(
                [*base, *extra, f"{pkg.name}=={pkg.version}"],
                capture_output=True,
                text=True,
                env={**os.environ, "PIP_NO_COLOR": "1"},
            )
        except OSError as exc:
            raise FetchError(f"cannot run pip: {exc}") from None
        if done.returncode == 0 and (have := _archive(folder)) is not None:
            log(f"  {pkg.name} {pkg.version}: downloaded a {kind} ({have.name})")
            return have
        error = _last_error(done.stderr)
        if _OFFLINE.search(done.stderr):
            raise FetchError(f"cannot reach PyPI for {pkg.name}=={pkg.version}: {error}")
    raise FetchError(f"pip could not download {pkg.name}=={pkg.version}: {error}")


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return ((errors or lines or ["no output"])[-1]).removeprefix("ERROR: ")[:300]


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack one distribution into its own site folder ``dest`` (kept when present)."""
    if any(dest.glob("*.dist-info/METADATA")):
        return dest
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                _check_names(archive, zf.namelist())
                zf.extractall(tmp)
        else:
            _unpack_sdist(archive, tmp)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FetchError(f"cannot unpack {archive.name}: {exc}") from None
    if not any(tmp.glob("*.dist-info/METADATA")):
        shutil.rmtree(tmp, ignore_errors=True)
        raise FetchError(f"{archive.name} holds no package metadata")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def _check_names(archive: Path, names: list[str]) -> None:
    for name in names:
        if name.startswith("/") or ".." in Path(name).parts:
            raise FetchError(f"{archive.name} has an unsafe path {name!r}")


def _unpack_sdist(archive: Path, dest: Path) -> None:
    """An sdist's tree under ``dest`` plus a ``.dist-info`` that ``importlib.metadata``
    reads: its ``PKG-INFO`` as ``METADATA`` and a ``RECORD`` of its ``.py`` files."""
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            _check_names(archive, zf.namelist())
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            _check_names(archive, tf.getnames())
            # The "data" filter (Python 3.11.4+) also refuses links out of dest.
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tf.extractall(dest, **safe)
    infos = sorted(dest.glob("*/PKG-INFO"))
    if not infos:
        return
    root = infos[0].parent
    info = dest / f"{root.name}.dist-info"
    info.mkdir()
    shutil.copyfile(infos[0], info / "METADATA")
    files = sorted(p.relative_to(dest).as_posix() for p in root.rglob("*.py"))
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files), encoding="utf-8")


def check_license(pkg: Package, site: Path) -> tuple[str, bool]:
    """The license the unpacked metadata declares, and whether corpus.py accepts it."""
    dists = list(md.distributions(path=[str(site)]))
    if len(dists) != 1:
        raise FetchError(f"{site} should hold one distribution, not {len(dists)}")
    meta_name = canonical(dists[0].metadata.get("Name") or "")
    if meta_name != canonical(pkg.name):
        raise FetchError(f"{pkg.name}=={pkg.version} unpacked as {meta_name!r}")
    return license_of(dists[0])


def fetch_corpus(
    packages: list[Package],
    cache: Path = DEFAULT_CACHE,
    out: Path = Path("data/corpus-extra"),
    main_corpus: Path = Path("data/corpus"),
    keep_going: bool = False,
    log=print,
) -> dict:
    """Fetch, unpack, license-check and build; return the extra corpus's manifest.

    A failed download stops the run (``keep_going``: skips that package) with what
    was already fetched left in the cache for the next run.
    """
    if out.resolve() == main_corpus.resolve():
        raise ValueError(f"--out {out} is the main corpus; the extra corpus needs its own folder")
    sites: list[str] = []
    accepted: dict[str, dict] = {}
    skipped: list[dict] = []
    failed: list[dict] = []
    log(f"fetching {len(packages)} packages into {cache}")
    for pkg in packages:
        try:
            site = unpack(download(pkg, cache / "downloads", log), cache / "site" / pkg.key)
            declared, ok = check_license(pkg, site)
        except FetchError as exc:
            if not keep_going:
                raise
            log(f"  {pkg.name} {pkg.version}: failed: {exc}")
            failed.append({"package": pkg.name, "version": pkg.version, "error": str(exc)})
            continue
        if not ok:
            log(f"  {pkg.name} {pkg.version}: skipped, license {declared!r} is not permissive")
            skipped.append({"package": pkg.name, "version": pkg.version, "license": declared})
            continue
        if declared != pkg.license:
            log(f"  {pkg.name} {pkg.version}: declares {declared!r}, list has {pkg.license!r}")
        sites.append(str(site))
        accepted[canonical(pkg.name)] = {**asdict(pkg), "license": declared}
    if not sites:
        raise FetchError("no package was fetched with a permissive license; nothing to build")
    known = corpus_digests(main_corpus) if main_corpus.is_dir() else set()
    log(f"building {out} from {len(sites)} packages, minus the {len(known)} files of {main_corpus}")
    manifest = build(out, sites, log=log, extra=True, known=known)
    for entry in manifest["packages"]:
        entry["version"] = accepted.get(entry["package"], {}).get("version", "")
    manifest["source"] = {
        "list": str(MANIFEST.name),
        "cache": str(cache),
        "deduplicated_against": str(main_corpus) if known else None,
        "fetched": [accepted[k] for k in sorted(accepted)],
        "skipped_license": skipped,
        "failed": failed,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--packages", type=Path, default=MANIFEST, help="the pinned package list")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="downloads and unpacked sites"
    )
    parser.add_argument("--out", type=Path, default=Path("data/corpus-extra"))
    parser.add_argument(
        "--main-corpus", type=Path, default=Path("data/corpus"),
        help="files already here (any split) are left out of the extra corpus",
    )  # fmt: skip
    parser.add_argument(
        "--keep-going", action="store_true", help="skip a package that fails to download"
    )


def main_from_args(args: argparse.Namespace) -> int:
    try:
        manifest = fetch_corpus(
            load_manifest(args.packages), args.cache, args.out, args.main_corpus, args.keep_going
        )
    except (FetchError, ValueError, OSError) as exc:
        print(f"reason-lsp fetch-corpus: {exc}", file=sys.stderr)
        return 1
    train = manifest["splits"]["train"]
    print(
        f"{args.out}: {len(manifest['source']['fetched'])} packages, {train['files']} files, "
        f"{train['bytes'] / 1e6:.1f} MB (~{train['bytes'] / 3.6 / 1e6:.1f} M tokens)"
    )
    return 1 if manifest["source"]["failed"] else 0
