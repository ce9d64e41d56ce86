"""Generation of stub bodies: sampling, parse filter, sandbox check and ranking, and the LSP
feature with its commands and code actions.
"""
