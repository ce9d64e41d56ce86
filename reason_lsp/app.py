"""The composition root: the one place that names the server's features.

``server`` knows the ``Feature`` interface only, and each feature imports the
server's state, never the other way round; this module sits above both, so the
package's import graph has no cycle.
"""

from __future__ import annotations

from reason_lsp.features.completion.lsp import CompletionFeature
from reason_lsp.features.generation.lsp import GenerationFeature
from reason_lsp.features.unlikely.lsp import UnlikelyFeature
from reason_lsp.features.workspace.lsp import WorkspaceFeature
from reason_lsp.server.core import ReasonLanguageServer, register_core


def create_server() -> ReasonLanguageServer:
    """A server with every feature and handler registered."""
    server = ReasonLanguageServer()
    for feature in (CompletionFeature(server), UnlikelyFeature(server), GenerationFeature(server)):
        server.add_feature(feature)
    server.add_feature(WorkspaceFeature(server))
    # After the features: the code-action capability lists the kinds they offer.
    register_core(server)
    return server
