"""Nightly drift analysis as pure functions: turn facts in, tested findings, a cost decomposition and advice out.

Nothing here does I/O except `store.py` (the SQL that reads a tenant's turn facts and keeps its reports), so the
detector is tested and benchmarked without the stack. See docs/drift.md.
"""
