"""Finds, loads and registers plugins; a broken plugin is reported, never fatal.

Every plugin, built-in or not, is an entry point of the group ``controlplane`` naming a module
(or object) with hook implementations. ``CONTROLPLANE_DISABLE_PLUGINS`` (comma-separated entry
point names) blocks plugins by name, before they are imported.
"""

from __future__ import annotations

import enum
import importlib.metadata
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

from controlplane import hookspecs
from controlplane.registry import Kind, Registry

log = logging.getLogger("controlplane.plugins")

ENTRY_POINT_GROUP = "controlplane"
DISABLE_ENV = "CONTROLPLANE_DISABLE_PLUGINS"
# The distribution whose entry points are the built-in plugins.
OWN_DISTRIBUTION = "controlplane"

# Each kind's hook; the loader calls them in this order.
HOOKS: dict[Kind, str] = {
    Kind.ARTIFACT_STORE: "controlplane_register_artifact_stores",
    Kind.EXECUTOR: "controlplane_register_executors",
    Kind.FEATURE_STORE: "controlplane_register_feature_stores",
    Kind.SERVING_BACKEND: "controlplane_register_serving_backends",
    Kind.DRIFT_DETECTOR: "controlplane_register_drift_detectors",
    Kind.ALERT_CHANNEL: "controlplane_register_alert_channels",
}


class PluginStatus(enum.Enum):
    LOADED = "loaded"
    DISABLED = "disabled"  # blocked by CONTROLPLANE_DISABLE_PLUGINS
    FAILED = "failed"  # import or hook raised; ``error`` says what


@dataclass
class PluginInfo:
    name: str
    version: str
    source: str  # "built-in", the distribution that provides it, or "registered in process"
    module: str
    status: PluginStatus = PluginStatus.LOADED
    error: str = ""
    kinds: set[Kind] = field(default_factory=set)


@dataclass
class LoadedPlugins:
    registry: Registry
    plugins: list[PluginInfo]
    manager: pluggy.PluginManager

    def info(self, name: str) -> PluginInfo:
        for plugin in self.plugins:
            if plugin.name == name:
                return plugin
        raise KeyError(name)


def disabled_names(environ: dict[str, str] | None = None) -> frozenset[str]:
    raw = (os.environ if environ is None else environ).get(DISABLE_ENV, "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def load_plugins(
    extra: Sequence[tuple[str, Any]] = (),
    *,
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    disabled: frozenset[str] | None = None,
) -> LoadedPlugins:
    """Loads the entry points of the group (or ``entry_points``), plus ``extra`` (name, module)
    pairs registered in process (tests, embedding applications), and fills a registry."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    blocked = disabled_names() if disabled is None else disabled
    found = (
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        if entry_points is None
        else entry_points
    )
    infos: list[PluginInfo] = []
    seen: set[str] = set()
    for entry_point in sorted(found, key=lambda ep: ep.name):
        if entry_point.name in seen:
            continue  # the same distribution visible twice on sys.path
        seen.add(entry_point.name)
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist is not None else ""
        info = PluginInfo(
            name=entry_point.name,
            version=dist.version if dist is not None else "",
            source="built-in" if dist_name == OWN_DISTRIBUTION else (dist_name or "unknown"),
            module=entry_point.value,
        )
        infos.append(info)
        if entry_point.name in blocked:
            info.status = PluginStatus.DISABLED
            continue
        try:
            manager.register(entry_point.load(), name=entry_point.name)
        except Exception as error:  # a broken plugin must not take the server down
            info.status, info.error = PluginStatus.FAILED, _describe(error)
            log.error("plugin %s failed to load: %s", entry_point.name, info.error)
    for name, module in extra:
        info = PluginInfo(name, "", "registered in process", getattr(module, "__name__", ""))
        infos.append(info)
        if name in blocked:
            info.status = PluginStatus.DISABLED
            continue
        try:
            manager.register(module, name=name)
        except Exception as error:
            info.status, info.error = PluginStatus.FAILED, _describe(error)
            log.error("plugin %s failed to register: %s", name, info.error)
    by_name = {info.name: info for info in infos}
    # A plugin that raises in any hook is dropped with everything it registered, and the
    # registry is rebuilt without it, so a name it shadowed comes back. Each pass drops at
    # least one plugin or is the last.
    while True:
        registry = Registry()
        for info in infos:
            info.kinds.clear()
        if all(_call_hook(manager, name, kind, registry, by_name) for kind, name in HOOKS.items()):
            return LoadedPlugins(registry, infos, manager)


def _call_hook(
    manager: pluggy.PluginManager,
    hook_name: str,
    kind: Kind,
    registry: Registry,
    by_name: dict[str, PluginInfo],
) -> bool:
    """Calls each loaded plugin's implementation on its own, in pluggy's order (tryfirst,
    then the newest registration, trylast at the end), so one that raises is reported instead
    of aborting the others. Returns False if one failed."""
    caller = getattr(manager.hook, hook_name)
    all_ok = True
    for impl in reversed(caller.get_hookimpls()):
        plugin_name = manager.get_name(impl.plugin) or ""
        info = by_name.get(plugin_name)
        if info is None or info.status is not PluginStatus.LOADED:
            continue
        registry.current_plugin = plugin_name
        try:
            impl.function(**{arg: registry for arg in impl.argnames})
        except Exception as error:
            info.status, info.error = PluginStatus.FAILED, f"{hook_name}: {_describe(error)}"
            log.error("plugin %s failed in %s: %s", plugin_name, hook_name, info.error)
            all_ok = False
            continue
        finally:
            registry.current_plugin = ""
        if any(p.plugin == plugin_name and p.kind is kind for p in registry.all()):
            info.kinds.add(kind)
    return all_ok
