"""A third-party plugin that replaces the built-in ``local`` artifact store."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry


def third_party_factory(root: str) -> object:
    return ("third-party", root)


@hookimpl
def controlplane_register_artifact_stores(registry: Registry) -> None:
    registry.add_artifact_store("local", third_party_factory)
