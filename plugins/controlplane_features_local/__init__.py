"""The built-in ``local`` feature store: Parquet files offline, SQLite online, on a directory.

Registered through the entry point ``features-local`` of the group ``controlplane``, like any
plugin, with ``trylast=True`` so a third-party plugin that registers ``local`` replaces it.
Layout and guarantees: ``docs/plugins-feature-stores.md``.
"""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from controlplane_features_local.names import validate_view
from controlplane_features_local.offline import SCHEMA_FILE
from controlplane_features_local.online import ONLINE_FILE
from controlplane_features_local.store import LocalFeatureStore

__all__ = [
    "ONLINE_FILE",
    "SCHEMA_FILE",
    "LocalFeatureStore",
    "controlplane_register_feature_stores",
    "validate_view",
]


@hookimpl(trylast=True)
def controlplane_register_feature_stores(registry: Registry) -> None:
    """``local``: ``root`` is a directory path, created if missing."""
    registry.add_feature_store("local", LocalFeatureStore)
