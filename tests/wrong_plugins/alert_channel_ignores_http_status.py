"""A webhook channel that POSTs with ``http.client`` and never looks at the answer's status: a
refused connection raises, so an unreachable URL fails as it should, but a receiver answering
500 (or 404, or 401) counts as a delivery and the alert is lost. Target checks are the
built-in webhook's."""

from __future__ import annotations

import http.client
import json

from controlplane_alerts import alert_payload
from controlplane_alerts.webhook import USER_AGENT, WebhookAlertChannel, parse_url

from controlplane.interfaces.alerts import Alert


class IgnoresHttpStatusChannel(WebhookAlertChannel):
    name = "webhook-no-status"

    def send(self, target: str, alert: Alert) -> None:
        parts = parse_url(target)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.hostname or "", parts.port, timeout=self._timeout)
        path = parts.path or "/"
        try:
            connection.request(
                "POST",
                f"{path}?{parts.query}" if parts.query else path,
                body=json.dumps(alert_payload(alert)).encode("ascii"),
                headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
            )
            connection.getresponse().read()  # the mistake: the status is never looked at
        finally:
            connection.close()
