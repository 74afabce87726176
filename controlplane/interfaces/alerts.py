"""Alert channels: where monitoring alerts go (the log, a webhook, a pager, a chat room).

A channel gets one ``Alert`` per call and must either deliver it or raise, so that a failed
delivery is never taken for a delivered one. No service sends alerts yet: the monitoring
service (which will call channels, retry failed deliveries and record each attempt) is still
to be built; today the server only loads and lists channels. ``target`` is the channel's address
as the tenant configured it (a URL, a file path, a room name), validated by ``check_target``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Alert:
    tenant: str
    monitor: str  # the monitor's resource name
    severity: str  # "info", "warning" or "critical"
    title: str
    body: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # JSON-compatible
    time_us: int = 0  # when the condition was detected, microseconds since the epoch


class AlertChannel(abc.ABC):
    name: str = ""

    @abc.abstractmethod
    def check_target(self, target: str) -> None:
        """Raises ``ValueError`` naming what is wrong if ``target`` is not usable."""

    @abc.abstractmethod
    def send(self, target: str, alert: Alert) -> None:
        """Delivers ``alert`` to ``target``; raises on failure (never swallows it)."""
