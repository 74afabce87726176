"""Small real plugin modules for tests/test_plugin_loader.py, loaded through real entry points
(``tests.plugin_fixtures.<module>``). Factories are plain callables: the loader only checks
that they are callable."""

from __future__ import annotations

# Modules append their own name here when imported, so a test can prove one never was.
IMPORTED: list[str] = []


def factory(*args: object) -> object:
    """A factory for any kind (the registry checks only that it is callable)."""
    return object()
