"""Verification: which examples a function has, the program that checks them, and running it
in the sandbox.
"""
