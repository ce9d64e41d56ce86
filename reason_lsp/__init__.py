"""reason-lsp: a language server that brings a code Transformer's reasoning into the editor.

Importing this package is cheap: nothing here (or in the server's start-up
path) imports torch or transformers.
"""

__version__ = "0.1.0"
