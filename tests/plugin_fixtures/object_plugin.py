"""A plugin that is an object, named by an ``module:attribute`` entry point."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from tests.plugin_fixtures import factory


class _Plugin:
    @hookimpl
    def controlplane_register_serving_backends(self, registry: Registry) -> None:
        registry.add_serving_backend("from-object", factory)


plugin = _Plugin()
