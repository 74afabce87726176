"""An example controlplane plugin: the ``sqlite`` artifact store.

The entry point ``sqlite`` (group ``controlplane``, see ``pyproject.toml``) names this module;
the loader registers it with pluggy and calls the hooks it implements.
"""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from controlplane_sqlite_artifacts.store import SqliteArtifactStore

__all__ = ["SqliteArtifactStore", "controlplane_register_artifact_stores"]


# No trylast here: a third-party plugin runs before the built-ins, so had it chosen the name of
# a built-in store it would replace it.
@hookimpl
def controlplane_register_artifact_stores(registry: Registry) -> None:
    """``sqlite``: ``root`` is the database file path."""
    registry.add_artifact_store("sqlite", SqliteArtifactStore)
