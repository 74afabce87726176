"""The ``log`` channel: one structured record per alert on a logger of the server's logging.

The target names the logger (empty: ``controlplane.alerts``). The record's level follows the
severity and its ``alert`` attribute holds the alert's JSON form (``payload.alert_payload``),
so the server's JSON log format writes it as an ``"alert"`` object. One attribute rather
than one per field: a field named ``time`` would otherwise overwrite the line's own time.
"""

from __future__ import annotations

import logging
import re

from controlplane.interfaces.alerts import Alert, AlertChannel
from controlplane_alerts.payload import alert_payload

DEFAULT_LOGGER = "controlplane.alerts"

LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}

# ASCII identifiers joined by dots: what a Python module path, hence a logger name, looks like.
_LOGGER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_MAX_LENGTH = 200


class LogAlertChannel(AlertChannel):
    """Writes each alert as one log record; ``target`` is a logger name or empty."""

    name = "log"

    def logger_name(self, target: str) -> str:
        """The logger ``target`` names; ``ValueError`` if it is not a dotted identifier."""
        if target == "":
            return DEFAULT_LOGGER
        if len(target) > _MAX_LENGTH:
            raise ValueError(f"logger name is longer than {_MAX_LENGTH} characters")
        if not _LOGGER_NAME.fullmatch(target):
            raise ValueError(
                f"logger name {target!r} is not a dotted identifier (letters, digits and '_' "
                "in parts joined by '.', no part starting with a digit)"
            )
        return target

    def check_target(self, target: str) -> None:
        self.logger_name(target)

    def send(self, target: str, alert: Alert) -> None:
        logger = logging.getLogger(self.logger_name(target))
        payload = alert_payload(alert)
        # The title is a tenant's text: %r keeps a newline in it from forging a log line in
        # the plain-text format. The structured fields are in `alert`, unescaped.
        logger.log(
            LEVELS[alert.severity],
            "alert %s: %r (tenant %s, monitor %s)",
            alert.severity,
            alert.title,
            alert.tenant,
            alert.monitor,
            extra={"alert": payload},
        )
