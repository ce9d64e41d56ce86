"""Completion: the pure plan (shape, prompt window, stop rules, cleaning), the pipeline that runs
one completion on an engine, and the LSP feature.
"""
