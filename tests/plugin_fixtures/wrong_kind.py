"""Adds an executor from the artifact-store hook."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from tests.plugin_fixtures import factory


@hookimpl
def controlplane_register_artifact_stores(registry: Registry) -> None:
    registry.add_executor("misplaced", factory)
