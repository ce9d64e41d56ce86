"""The server's features, each behind :class:`reason_lsp.server.feature.Feature`; only
:mod:`reason_lsp.app` names them.
"""
