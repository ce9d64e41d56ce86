"""The one ``textDocument/codeAction`` answer, gathered from every feature.

pygls allows one handler per method while several features offer actions (model
quick fixes, "Generate implementation", "Run examples"); the server asks each
feature in turn. One feature's failure is logged and must not hide the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from lsprotocol import types

from reason_lsp.server.feature import Feature

log = logging.getLogger(__name__)


def kinds(features: Iterable[Feature]) -> list[types.CodeActionKind]:
    out: list[types.CodeActionKind] = []
    for feature in features:
        out.extend(k for k in feature.code_action_kinds if k not in out)
    return out


async def collect(
    features: Iterable[Feature], params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    found: list[types.CodeAction] = []
    for feature in features:
        if not feature.code_action_kinds:
            continue
        try:
            found.extend(await feature.code_actions(params) or [])
        except Exception:
            log.exception("code actions of %s failed", feature.name)
    return found or None
