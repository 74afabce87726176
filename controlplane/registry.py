"""What the loaded plugins provide, by kind and name (filled through the hooks)."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controlplane.interfaces import (
    AlertChannel,
    ArtifactStore,
    DriftDetector,
    Executor,
    FeatureStore,
    ServingBackend,
)


class Kind(enum.Enum):
    """A kind of plugin; the value is the name users see."""

    ARTIFACT_STORE = "artifact-store"
    EXECUTOR = "executor"
    FEATURE_STORE = "feature-store"
    SERVING_BACKEND = "serving-backend"
    DRIFT_DETECTOR = "drift-detector"
    ALERT_CHANNEL = "alert-channel"


_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Provision:
    """One named implementation of a kind, and the plugin that provided it."""

    kind: Kind
    name: str
    factory: Callable[..., Any]
    plugin: str


@dataclass
class Registry:
    """Hooks call ``add_*``. The first registration of a (kind, name) wins: third-party plugins'
    hooks run before the built-ins' (``trylast``), so a plugin can replace a built-in. Later
    registrations of the same name are kept in ``shadowed`` for ``mlctl plugins list``."""

    provisions: dict[tuple[Kind, str], Provision] = field(default_factory=dict)
    shadowed: list[Provision] = field(default_factory=list)
    # Set by the loader around each plugin's hook call.
    current_plugin: str = ""
    # The kind whose hook is running: each kind is added in its own hook, because the order of
    # the plugins (third-party before built-in) holds within one hook, not across hooks.
    current_kind: Kind | None = None

    def _add(self, kind: Kind, name: str, factory: Callable[..., Any]) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"{kind.value} name {name!r} must be 1-63 lowercase letters, digits, '_', '.' "
                "or '-', starting with a letter"
            )
        if not callable(factory):
            raise TypeError(f"{kind.value} {name!r}: the factory must be callable")
        if self.current_kind is not None and kind is not self.current_kind:
            raise ValueError(
                f"{kind.value} {name!r} added in the {self.current_kind.value} hook: "
                f"add each kind in its own hook"
            )
        provision = Provision(kind, name, factory, self.current_plugin)
        if (kind, name) in self.provisions:
            self.shadowed.append(provision)
        else:
            self.provisions[(kind, name)] = provision

    def add_artifact_store(self, name: str, factory: Callable[[str], ArtifactStore]) -> None:
        self._add(Kind.ARTIFACT_STORE, name, factory)

    def add_executor(self, name: str, factory: Callable[[], Executor]) -> None:
        self._add(Kind.EXECUTOR, name, factory)

    def add_feature_store(self, name: str, factory: Callable[[str], FeatureStore]) -> None:
        self._add(Kind.FEATURE_STORE, name, factory)

    def add_serving_backend(self, name: str, factory: Callable[[], ServingBackend]) -> None:
        self._add(Kind.SERVING_BACKEND, name, factory)

    def add_drift_detector(self, name: str, factory: Callable[[], DriftDetector]) -> None:
        self._add(Kind.DRIFT_DETECTOR, name, factory)

    def add_alert_channel(self, name: str, factory: Callable[[], AlertChannel]) -> None:
        self._add(Kind.ALERT_CHANNEL, name, factory)

    def get(self, kind: Kind, name: str) -> Provision:
        """The provision of ``name``; ``KeyError`` naming the ones available otherwise."""
        try:
            return self.provisions[(kind, name)]
        except KeyError:
            available = ", ".join(sorted(n for k, n in self.provisions if k is kind)) or "none"
            raise KeyError(f"no {kind.value} named {name!r} (available: {available})") from None

    def all(self) -> list[Provision]:
        """Every registration, winning and shadowed."""
        return [*self.provisions.values(), *self.shadowed]

    def names(self, kind: Kind) -> list[str]:
        return sorted(n for k, n in self.provisions if k is kind)
