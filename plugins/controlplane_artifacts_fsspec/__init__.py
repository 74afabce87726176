"""The built-in ``fsspec`` artifact store: blobs in any filesystem fsspec can reach.

``root`` is an fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``file:///srv/blobs``,
``memory://name``); the implementation for its protocol must be installed (``s3fs``, ...).
Registered through the entry point ``fsspec`` of the group ``controlplane``, with
``trylast=True`` so a third-party plugin that registers ``fsspec`` replaces it.
"""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from controlplane_artifacts_fsspec.store import STAGING_DIR, FsspecArtifactStore

__all__ = ["STAGING_DIR", "FsspecArtifactStore", "controlplane_register_artifact_stores"]


@hookimpl(trylast=True)
def controlplane_register_artifact_stores(registry: Registry) -> None:
    """``fsspec``: ``root`` is any fsspec URL."""
    registry.add_artifact_store("fsspec", FsspecArtifactStore)
