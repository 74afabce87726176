"""Rendering of resources into documents (pure functions, no I/O)."""
