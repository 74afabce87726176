"""Registers an executor whose factory is not callable."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry


@hookimpl
def controlplane_register_executors(registry: Registry) -> None:
    registry.add_executor("inline", "controlplane.executors:Inline")  # type: ignore[arg-type]
