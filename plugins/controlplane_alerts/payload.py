"""The JSON form of an ``Alert``: what the webhook channel posts and the log channel puts in
its record's ``alert`` attribute. One schema for both, documented in
``docs/plugins-alert-channels.md``::

    {"tenant": str, "monitor": str, "severity": "info" | "warning" | "critical",
     "title": str, "body": str, "labels": {str: str}, "details": {str: JSON},
     "time": "2024-05-01T12:00:00.123456Z" | null}

``time`` is RFC 3339 in UTC with microseconds, or ``null`` for an alert without one
(``time_us == 0``, the dataclass default).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from controlplane.interfaces.alerts import Alert

SEVERITIES = ("info", "warning", "critical")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def format_time(time_us: int) -> str | None:
    """RFC 3339 UTC with six fraction digits; ``None`` for 0 (no time)."""
    if time_us == 0:
        return None
    # Integer arithmetic: a float of microseconds since 1970 loses the last digit.
    try:
        moment = _EPOCH + timedelta(microseconds=time_us)
    except OverflowError:
        raise ValueError(f"alert time_us {time_us} is outside years 1-9999") from None
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str | None) -> int:
    """The inverse of ``format_time``: microseconds since the epoch, 0 for ``None``."""
    if text is None:
        return 0
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"alert time {text!r} has no time zone")
    return (moment - _EPOCH) // _MICROSECOND


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The alert as a fresh JSON-compatible dict (a deep copy: later changes to the alert's
    dicts do not reach it). ``ValueError`` for an unknown severity or details that are not
    JSON (a NaN, an object): retrying could never deliver such an alert."""
    if alert.severity not in SEVERITIES:
        raise ValueError(f"alert severity {alert.severity!r} is not one of {', '.join(SEVERITIES)}")
    payload = {
        "tenant": alert.tenant,
        "monitor": alert.monitor,
        "severity": alert.severity,
        "title": alert.title,
        "body": alert.body,
        "labels": alert.labels,
        "details": alert.details,
        "time": format_time(alert.time_us),
    }
    try:
        encoded = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"alert is not JSON-compatible: {exc}") from None
    copy: dict[str, Any] = json.loads(encoded)
    return copy


def alert_from_payload(payload: dict[str, Any]) -> Alert:
    """The ``Alert`` a payload describes (for receivers and tests); ``KeyError`` for a
    missing field."""
    return Alert(
        tenant=payload["tenant"],
        monitor=payload["monitor"],
        severity=payload["severity"],
        title=payload["title"],
        body=payload["body"],
        labels=payload["labels"],
        details=payload["details"],
        time_us=parse_time(payload["time"]),
    )
