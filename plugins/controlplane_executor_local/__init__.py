"""The built-in ``local`` executor: each task in a child process of its own on this machine.

Registered through the entry point ``executor-local`` of the group ``controlplane``, like any
plugin, with ``trylast=True`` so a third-party plugin that registers ``local`` replaces it.
The server builds it with ``LocalExecutor.from_env()`` (``CONTROLPLANE_LOCAL_EXECUTOR_*``);
``docs/plugins-executors.md`` describes its behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controlplane.hookspecs import hookimpl
from controlplane_executor_local.executor import LocalExecutor

if TYPE_CHECKING:
    from controlplane.registry import Registry

__all__ = ["LocalExecutor", "controlplane_register_executors"]


@hookimpl(trylast=True)
def controlplane_register_executors(registry: Registry) -> None:
    """``local``: configured from the environment when the server builds it."""
    registry.add_executor("local", LocalExecutor.from_env)
