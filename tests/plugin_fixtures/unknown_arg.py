"""A hook implementation asking for an argument its spec does not have."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry


@hookimpl
def controlplane_register_executors(registry: Registry, config: dict[str, str]) -> None:
    raise AssertionError("never called: pluggy rejects the registration")
