"""The plugin contract: every hook a plugin may implement (pluggy, project name "controlplane").

Each hook hands the plugin a registry and the plugin adds what it provides (tox style), so a
hook's signature never has to change when the registry learns something new. A plugin
implements only the hooks of the kinds it provides, may accept fewer arguments than a spec, and
marks its functions with ``controlplane.hookspecs.hookimpl``; names starting with
``controlplane_`` are reserved for hooks, so the loader fails a plugin with an unknown or
unmarked one (a typo would otherwise be skipped in silence). Plugins are found through the
entry-point group ``controlplane``; the built-in ones are registered the same way, with
``trylast=True``, so a third-party plugin that registers the same name wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from controlplane.registry import Registry

PROJECT = "controlplane"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def controlplane_register_artifact_stores(registry: Registry) -> None:
    """Add artifact stores: ``registry.add_artifact_store(name, factory)``, where
    ``factory(root: str) -> controlplane.interfaces.ArtifactStore``."""


@hookspec
def controlplane_register_executors(registry: Registry) -> None:
    """Add executors: ``registry.add_executor(name, factory)``, where
    ``factory() -> controlplane.interfaces.Executor``."""


@hookspec
def controlplane_register_feature_stores(registry: Registry) -> None:
    """Add feature stores: ``registry.add_feature_store(name, factory)``, where
    ``factory(root: str) -> controlplane.interfaces.FeatureStore``."""


@hookspec
def controlplane_register_serving_backends(registry: Registry) -> None:
    """Add serving backends: ``registry.add_serving_backend(name, factory)``, where
    ``factory() -> controlplane.interfaces.ServingBackend``."""


@hookspec
def controlplane_register_drift_detectors(registry: Registry) -> None:
    """Add drift detectors: ``registry.add_drift_detector(name, factory)``, where
    ``factory() -> controlplane.interfaces.DriftDetector``."""


@hookspec
def controlplane_register_alert_channels(registry: Registry) -> None:
    """Add alert channels: ``registry.add_alert_channel(name, factory)``, where
    ``factory() -> controlplane.interfaces.AlertChannel``."""
