"""The language server's core: declared state, lifecycle fan-out to features, protocol layer,
diagnostics publishing, progress, code-action gathering and the engine's life. It knows
features only through :class:`reason_lsp.server.feature.Feature`.
"""
