"""The unlikely-code warnings for ``reason-lsp check``: the model loads on first use, once.

The same regions, scoring and flag rules as the server's feature, run directly on a
decoder from :func:`reason_lsp.engine.open_decoder` (no worker thread: a linter run
has nothing else to serve).
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from reason_lsp.engine import open_decoder
from reason_lsp.features.unlikely import flags as unlikely
from reason_lsp.settings import Settings
from reason_lsp.text import languages
from reason_lsp.text.documents import Snapshot


class ModelChecker:
    """The same warnings for ``reason-lsp check``: the model loads on first use, once."""

    def __init__(self, model: str, warn) -> None:
        self.model = model
        self.warn = warn
        self.decoder: Any = None
        self.failed = False

    def provider(self, snapshot: Snapshot, settings: Settings) -> list[types.Diagnostic]:
        if snapshot.tree is None or snapshot.language != "python" or self.failed:
            return []
        if self.decoder is None:
            try:
                self.decoder = open_decoder(self.model)
            except (OSError, RuntimeError, ValueError) as exc:
                self.failed = True
                self.warn(f"reason-lsp check: no model diagnostics ({exc})")
                return []
        from reason_lsp.engine.scoring import score

        thresholds = unlikely.Thresholds.load(self.decoder.m.folder, settings.diagnostics_threshold)
        parser = languages.parser_for(snapshot.language)
        header = unlikely.header_of(snapshot.text, snapshot.tree)
        out = []
        for region in unlikely.regions(snapshot.text, snapshot.tree, header):
            text = snapshot.text[region.start : region.end]
            for flag in unlikely.flags(text, score(self.decoder, header, text), thresholds, parser):
                out.append(unlikely.to_diagnostic(snapshot, region, flag))
        return out
