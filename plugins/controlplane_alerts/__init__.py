"""The built-in alert channels: ``log`` (a record on a logger of the server) and ``webhook``
(a JSON POST to an http(s) URL). Their JSON schema is in ``payload``.

Registered through the entry point ``alerts`` of the group ``controlplane``, like any plugin,
with ``trylast=True`` so a third-party plugin that registers ``log`` or ``webhook`` replaces it.
"""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from controlplane_alerts.log import DEFAULT_LOGGER, LogAlertChannel
from controlplane_alerts.payload import alert_from_payload, alert_payload
from controlplane_alerts.webhook import WebhookAlertChannel, WebhookError

__all__ = [
    "DEFAULT_LOGGER",
    "LogAlertChannel",
    "WebhookAlertChannel",
    "WebhookError",
    "alert_from_payload",
    "alert_payload",
    "controlplane_register_alert_channels",
]


@hookimpl(trylast=True)
def controlplane_register_alert_channels(registry: Registry) -> None:
    """``log``: target is a logger name (empty: ``controlplane.alerts``). ``webhook``: target
    is an http:// or https:// URL."""
    registry.add_alert_channel("log", LogAlertChannel)
    registry.add_alert_channel("webhook", WebhookAlertChannel)
