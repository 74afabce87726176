"""Provides one implementation of each of the six kinds."""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from tests.plugin_fixtures import factory


@hookimpl
def controlplane_register_artifact_stores(registry: Registry) -> None:
    registry.add_artifact_store("every-store", factory)


@hookimpl
def controlplane_register_executors(registry: Registry) -> None:
    registry.add_executor("every-executor", factory)


@hookimpl
def controlplane_register_feature_stores(registry: Registry) -> None:
    registry.add_feature_store("every-feature-store", factory)


@hookimpl
def controlplane_register_serving_backends(registry: Registry) -> None:
    registry.add_serving_backend("every-backend", factory)


@hookimpl
def controlplane_register_drift_detectors(registry: Registry) -> None:
    registry.add_drift_detector("every-detector", factory)


@hookimpl
def controlplane_register_alert_channels(registry: Registry) -> None:
    registry.add_alert_channel("every-channel", factory)
