"""The built-in ``local`` artifact store: blobs as files under a directory.

Registered through the entry point ``local`` of the group ``controlplane``, like any plugin,
with ``trylast=True`` so a third-party plugin that registers ``local`` replaces it.
"""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from controlplane_artifacts_local.store import STAGING_DIR, LocalArtifactStore

__all__ = ["STAGING_DIR", "LocalArtifactStore", "controlplane_register_artifact_stores"]


@hookimpl(trylast=True)
def controlplane_register_artifact_stores(registry: Registry) -> None:
    """``local``: ``root`` is a directory path, created if missing."""
    registry.add_artifact_store("local", LocalArtifactStore)
