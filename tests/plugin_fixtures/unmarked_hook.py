"""The right hook name, but without the ``hookimpl`` marker."""

from __future__ import annotations

from controlplane.registry import Registry
from tests.plugin_fixtures import factory


def controlplane_register_executors(registry: Registry) -> None:
    registry.add_executor("unmarked", factory)
