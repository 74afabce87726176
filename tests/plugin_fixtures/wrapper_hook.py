"""A new-style pluggy wrapper: the loader calls implementations one by one, so it never runs."""

from __future__ import annotations

from collections.abc import Iterator

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry


@hookimpl(wrapper=True)
def controlplane_register_executors(registry: Registry) -> Iterator[None]:
    return (yield)
