"""Stands in for a built-in plugin: ``trylast``, so a third-party plugin's ``local`` wins."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry


def builtin_factory(root: str) -> object:
    return ("builtin", root)


@hookimpl(trylast=True)
def controlplane_register_artifact_stores(registry: Registry) -> None:
    registry.add_artifact_store("local", builtin_factory)
