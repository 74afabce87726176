"""Finds, loads and registers plugins; a broken plugin is reported, never fatal.

Every plugin, built-in or not, is an entry point of the group ``controlplane`` naming a module
(or object) with hook implementations. ``CONTROLPLANE_DISABLE_PLUGINS`` (comma-separated entry
point names) blocks plugins by name, before they are imported.
"""

from __future__ import annotations

import difflib
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
    # The plugins registered with the manager, by name (a duplicate name is never registered).
    by_name: dict[str, PluginInfo] = {}
    for entry_point in sorted(found, key=lambda ep: ep.name):
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist is not None else ""
        info = PluginInfo(
            name=entry_point.name,
            version=dist.version if dist is not None else "",
            source="built-in" if dist_name == OWN_DISTRIBUTION else (dist_name or "unknown"),
            module=entry_point.value,
        )
        first = next((i for i in infos if i.name == info.name), None)
        if first is not None and (first.module, first.source) == (info.module, info.source):
            continue  # the same distribution visible twice on sys.path
        infos.append(info)
        if first is not None:
            _fail(info, f"the plugin name is already used by {first.module} ({first.source})")
        elif entry_point.name in blocked:
            info.status = PluginStatus.DISABLED
        else:
            try:
                plugin = entry_point.load()
            except Exception as error:  # a broken plugin must not take the server down
                _fail(info, _describe(error))
                continue
            _register(manager, info, plugin, by_name)
    for name, module in extra:
        info = PluginInfo(name, "", "registered in process", getattr(module, "__name__", ""))
        first = next((i for i in infos if i.name == name), None)
        infos.append(info)
        if first is not None:
            _fail(info, f"the plugin name is already used by {first.module} ({first.source})")
        elif name in blocked:
            info.status = PluginStatus.DISABLED
        else:
            _register(manager, info, module, by_name)
    # A plugin that raises in any hook is dropped with everything it registered, and the
    # registry is rebuilt without it, so a name it shadowed comes back. Each pass drops at
    # least one plugin or is the last.
    while True:
        registry = Registry()
        if all(_call_hook(manager, name, kind, registry, by_name) for kind, name in HOOKS.items()):
            break
    for info in infos:
        info.kinds = {p.kind for p in registry.all() if p.plugin == info.name}
    return LoadedPlugins(registry, infos, manager)


def _fail(info: PluginInfo, error: str) -> None:
    info.status, info.error = PluginStatus.FAILED, error
    log.error("plugin %s failed: %s", info.name, error)


def _register(
    manager: pluggy.PluginManager,
    info: PluginInfo,
    plugin: Any,
    by_name: dict[str, PluginInfo],
) -> None:
    """Registers the plugin, or marks it FAILED; never raises."""
    try:
        manager.register(plugin, name=info.name)
    except Exception as error:
        _fail(info, _describe(error))
        return
    problems = _hook_problems(manager, plugin)
    if problems:
        manager.unregister(plugin)
        _fail(info, "; ".join(problems))
        return
    by_name[info.name] = info


def _hook_problems(manager: pluggy.PluginManager, plugin: Any) -> list[str]:
    """What would make the loader silently skip one of the plugin's functions: a hook name no
    spec declares (a typo: pluggy itself only notices in ``check_pending``), a hook function
    without the ``hookimpl`` marker, or a wrapper (the loader calls each implementation on
    its own, so a wrapper would never run)."""
    known = list(HOOKS.values())
    problems: list[str] = []
    for caller in manager.get_hookcallers(plugin) or []:
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            if not caller.has_spec() and not impl.optionalhook:
                problems.append(f"unknown hook {caller.name!r}{_did_you_mean(caller.name, known)}")
            elif impl.hookwrapper or impl.wrapper:
                problems.append(f"{caller.name}: hook wrappers are not supported")
    prefix = hookspecs.PROJECT + "_"
    for attr in dir(plugin):
        if (
            attr.startswith(prefix)
            and callable(getattr(plugin, attr, None))
            and manager.parse_hookimpl_opts(plugin, attr) is None
        ):
            problems.append(
                f"{attr} is not marked with @controlplane.hookspecs.hookimpl, so it would "
                "never be called"
            )
    return problems


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known hooks: {', '.join(known)})"


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
        registry.current_plugin, registry.current_kind = plugin_name, kind
        try:
            impl.function(**{arg: registry for arg in impl.argnames})
        except Exception as error:
            _fail(info, f"{hook_name}: {_describe(error)}")
            # Out of the manager too, so nothing that calls the hooks later runs it.
            manager.unregister(impl.plugin)
            all_ok = False
        finally:
            registry.current_plugin, registry.current_kind = "", None
    return all_ok
