"""A hook implementation that takes fewer arguments than its spec (pluggy allows it)."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl

CALLS: list[str] = []


@hookimpl
def controlplane_register_alert_channels() -> None:
    CALLS.append("controlplane_register_alert_channels")
