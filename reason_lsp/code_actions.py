"""One ``textDocument/codeAction`` handler for every feature that offers actions.

pygls allows one handler per method, and several features offer code actions
(model quick fixes, "Generate implementation"). Each calls :func:`add` with a
provider ``(params) -> list[CodeAction]`` (sync or async) and the kinds it
offers; the shared handler asks every provider and concatenates their answers.
A handler registered directly with ``@server.feature`` before the first
:func:`add` is adopted as a provider rather than clashing with it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from lsprotocol import types

log = logging.getLogger(__name__)

Provider = Callable[[types.CodeActionParams], Any]


def add(server: Any, provider: Provider, kinds: list[types.CodeActionKind]) -> None:
    """Offer ``provider``'s actions through the server's one code-action handler."""
    hub: _Hub | None = getattr(server, "code_action_hub", None)
    if hub is None:
        hub = server.code_action_hub = _Hub(server)
    hub.add(provider, kinds)


class _Hub:
    def __init__(self, server: Any) -> None:
        self.providers: list[Provider] = []
        self.kinds: list[types.CodeActionKind] = []
        fm = server.protocol.fm
        method = types.TEXT_DOCUMENT_CODE_ACTION
        existing = fm.features.get(method)
        if existing is not None:  # registered the plain way earlier: adopt it
            options = fm.feature_options.get(method)
            self.providers.append(existing)
            self.kinds.extend(getattr(options, "code_action_kinds", None) or [])
            del fm.features[method]
            fm.feature_options.pop(method, None)
        self.options = types.CodeActionOptions(code_action_kinds=self.kinds)

        @server.feature(method, self.options)
        async def code_action(
            ls: Any, params: types.CodeActionParams
        ) -> list[types.CodeAction] | None:
            return await self.collect(params)

    def add(self, provider: Provider, kinds: list[types.CodeActionKind]) -> None:
        self.providers.append(provider)
        self.kinds.extend(k for k in kinds if k not in self.kinds)

    async def collect(self, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        found: list[types.CodeAction] = []
        for provider in self.providers:
            try:
                answer = provider(params)
                if inspect.isawaitable(answer):
                    answer = await answer
            except Exception:  # one provider's bug must not hide the others' actions
                log.exception("code action provider %r failed", provider)
                continue
            found.extend(answer or [])
        return found or None
