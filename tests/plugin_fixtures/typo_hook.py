"""A marked hook implementation whose name no hookspec declares (missing the final 's')."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from tests.plugin_fixtures import factory


@hookimpl
def controlplane_register_artifact_store(registry: Registry) -> None:
    registry.add_artifact_store("typo", factory)
