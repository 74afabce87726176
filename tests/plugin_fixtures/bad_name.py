"""Registers an executor under a name the registry rejects."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from tests.plugin_fixtures import factory


@hookimpl
def controlplane_register_executors(registry: Registry) -> None:
    registry.add_executor("Bad Name", factory)
