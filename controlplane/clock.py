"""Time in one representation: integer microseconds since the Unix epoch, UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def now_us() -> int:
    return time.time_ns() // 1000


def to_timestamp(micros: int | None) -> Timestamp | None:
    if micros is None:
        return None
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)


def from_timestamp(ts: Timestamp) -> int:
    return ts.seconds * 1_000_000 + ts.nanos // 1000


def parse_rfc3339(text: str) -> int:
    """Microseconds for an RFC-3339 string; raises ValueError when it is not one."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000)
