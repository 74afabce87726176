"""Implements a hook a later controlplane may declare (``optionalhook``), and a current one."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from tests.plugin_fixtures import factory


@hookimpl(optionalhook=True)
def controlplane_register_model_cards(registry: Registry) -> None:
    raise AssertionError("no spec declares this hook: the loader must not call it")


@hookimpl
def controlplane_register_executors(registry: Registry) -> None:
    registry.add_executor("forward-compatible", factory)
