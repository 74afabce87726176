"""Registers a ``local`` artifact store (shadowing the built-in) and an executor, then raises in
a later hook: all of it must go."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from tests.plugin_fixtures import factory


@hookimpl
def controlplane_register_artifact_stores(registry: Registry) -> None:
    registry.add_artifact_store("local", factory)


@hookimpl
def controlplane_register_executors(registry: Registry) -> None:
    registry.add_executor("doomed", factory)


@hookimpl
def controlplane_register_feature_stores(registry: Registry) -> None:
    raise RuntimeError("feature backend unreachable")
