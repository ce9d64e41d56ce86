"""Text and syntax: positions, languages, open documents with their trees, syntax problems and
the diagnostics pipeline shared by the server and ``reason-lsp check``.
"""
