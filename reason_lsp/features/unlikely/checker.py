"""The unlikely-code warnings for ``reason-lsp check``: batched per file, cached per region.

The same regions, scoring and flag rules as the server's feature, run directly on a
decoder from :func:`reason_lsp.engine.open_decoder` (no worker thread: a linter run
has nothing else to serve). A file's regions that are not in the cache are scored
together (``scoring.score_many``: the imports once, the regions in batches).

The cache keeps each region's flags under its key (a hash of the region's text and
the file's imports), in a folder per *fingerprint*: the model (its files' sizes and
times), the settings that change the flags, and the code that computes them. So an
unchanged region costs a file read on the next run, and the model is not even
loaded when every region of every file is cached. The folder gets a ``.gitignore``
and a ``CACHEDIR.TAG``, so it is never committed or backed up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

import reason_lsp
from reason_lsp.engine import EngineUnavailable, catalog, open_decoder
from reason_lsp.features.unlikely import flags as unlikely
from reason_lsp.settings import Settings
from reason_lsp.text import languages
from reason_lsp.text.documents import Snapshot

#: Bump when the meaning of a cached entry changes in a way the fingerprint cannot see.
CACHE_VERSION = 1
CACHE_IGNORE = "# made by reason-lsp check\n*\n"
CACHE_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# reason-lsp check's cache\n"


class RegionCache:
    """Flags per region key, one small JSON file each, under ``root/<fingerprint>``."""

    def __init__(self, root: Path | None, fingerprint: str, warn: Callable[[str], None]) -> None:
        self.folder = root / "unlikely" / fingerprint[:20] if root is not None else None
        self.root = root
        self.warn = warn
        self.hits = self.misses = 0

    def get(self, key: str) -> list[unlikely.Flag] | None:
        if self.folder is None:
            return None
        try:
            data = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            found = [unlikely.Flag(**item) for item in data]
        except (OSError, ValueError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return found

    def put(self, key: str, found: list[unlikely.Flag]) -> None:
        if self.folder is None:
            return
        try:
            self._prepare()
            body = json.dumps([dataclasses.asdict(f) for f in found], ensure_ascii=False)
            # Written aside and renamed: parallel runs (pre-commit) never read half a file.
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
            os.replace(tmp, self.folder / f"{key}.json")
        except OSError as exc:
            self.warn(f"reason-lsp check: cannot write the cache in {self.root} ({exc}); "
                      "going on without it")  # fmt: skip
            self.folder = None

    def _prepare(self) -> None:
        assert self.folder is not None and self.root is not None
        if self.folder.is_dir():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, text in (
            (".gitignore", "# made by reason-lsp check\n*\n"),
            ("CACHEDIR.TAG", CACHE_TAG),
        ):
            marker = self.root / name
            if not marker.exists():
                marker.write_text(text, encoding="utf-8")


def model_folder(spec: str) -> Path | None:
    """The local folder the ``model`` setting names, found without importing torch."""
    return catalog.local_folder(spec)


def fingerprint(settings: Settings) -> str:
    """What the cached flags depend on besides the region itself."""
    h = hashlib.sha256()
    parts = (CACHE_VERSION, reason_lsp.__version__, settings.model, settings.device,
             settings.dtype, settings.quantize, settings.diagnostics_threshold)  # fmt: skip
    h.update(repr(parts).encode())
    folder = model_folder(settings.model)
    if folder is not None:
        h.update(str(folder).encode())  # "embedded" names another model once one is fetched
        for item in sorted(folder.iterdir()):
            if item.is_file():
                stat = item.stat()
                h.update(f"{item.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    # The code that turns scores into flags (a development checkout changes it in place).
    for module in ("reason_lsp.features.unlikely.flags", "reason_lsp.engine.scoring"):
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin:
            h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()


class ModelChecker:
    """The unlikely-code provider for ``check``: the model loads on first need, once.

    ``warn`` hears one sentence when there are no model warnings to give (packages
    missing, a broken model folder, a backend that cannot score); the syntax results
    are unaffected.
    """

    def __init__(
        self,
        warn: Callable[[str], None],
        cache_dir: Path | None = None,
        on_load: Callable[[], None] | None = None,
    ) -> None:
        self.warn = warn
        self.cache_dir = cache_dir
        self.on_load = on_load or (lambda: None)
        self.decoder: Any = None
        self.failed = False
        self.cache: RegionCache | None = None
        self.scored = 0

    def provider(self, snapshot: Snapshot, settings: Settings) -> list[types.Diagnostic]:
        if (
            not settings.diagnostics_model
            or snapshot.tree is None
            or snapshot.language != "python"
            or self.failed
            or settings.model.strip().lower() in ("none", "off")
        ):
            return []
        if self.cache is None:
            self.cache = RegionCache(self.cache_dir, fingerprint(settings), self.warn)
        header = unlikely.header_of(snapshot.text, snapshot.tree)
        regions = unlikely.regions(snapshot.text, snapshot.tree, header)
        found: dict[str, list[unlikely.Flag]] = {}
        todo: dict[str, unlikely.Region] = {}
        for region in regions:
            if region.key in found or region.key in todo:
                continue
            cached = self.cache.get(region.key)
            if cached is None:
                todo[region.key] = region
            else:
                found[region.key] = cached
        if todo:
            decoder = self._decoder(settings)
            if decoder is None:
                return []
            from reason_lsp.engine.scoring import score_many  # torch: only when scoring

            texts = [snapshot.text[r.start : r.end] for r in todo.values()]
            thresholds = unlikely.Thresholds.load(decoder.m.folder, settings.diagnostics_threshold)
            parser = languages.parser_for(snapshot.language)
            for region, text, scores in zip(
                todo.values(), texts, score_many(decoder, header, texts), strict=True
            ):
                found[region.key] = unlikely.flags(text, scores, thresholds, parser)
                self.cache.put(region.key, found[region.key])
                self.scored += 1
        return [
            unlikely.to_diagnostic(snapshot, region, flag)
            for region in regions
            for flag in found[region.key]
        ]

    def _decoder(self, settings: Settings) -> Any:
        if self.decoder is None and not self.failed:
            reason = self._load(settings)
            if reason is not None:
                self.failed = True
                self.warn(f"reason-lsp check: no unlikely-code warnings: {reason}; "
                          "the syntax checks ran as usual")  # fmt: skip
        return self.decoder

    def _load(self, settings: Settings) -> str | None:
        """Load the model; the reason in one line when it cannot be used."""
        if settings.backend != "local":
            return f"the {settings.backend} backend gives no token probabilities"
        self.on_load()
        # OpenMP threads that sleep instead of spinning while they wait: on a busy machine
        # (a CI runner, pre-commit beside other hooks) spinning threads fight the ones
        # doing the work. Measured on the 2-core machine under load 8: json cold in 46.6 s
        # wall / 21.4 s CPU spinning, 22.4 s / 8.2 s passive. Read when torch loads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            self.decoder = open_decoder(
                settings.model, settings.device, settings.dtype, quantize=settings.quantize
            )
        except EngineUnavailable as exc:  # a model package is missing: says which
            return str(exc)
        except Exception as exc:  # a broken or missing model folder: whatever the loader says
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            return f"cannot load the model {settings.model!r} ({lines[0]})"
        return None
