"""Unlikely-code diagnostics: pure flag rules over token scores, the LSP feature with background
scoring and quick fixes, and the checker ``reason-lsp check`` uses.
"""
