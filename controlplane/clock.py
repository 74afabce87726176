"""Time in one representation: integer microseconds since the Unix epoch, UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.errors import InvalidArgument

# The range google.protobuf.Timestamp defines (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z);
# in microseconds it fits the stores' signed 64-bit columns with room to spare.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799


def now_us() -> int:
    return time.time_ns() // 1000


def to_timestamp(micros: int | None) -> Timestamp | None:
    if micros is None:
        return None
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)


def from_timestamp(ts: Timestamp, field: str) -> int:
    """Microseconds for a timestamp a caller sent in ``field``; INVALID_ARGUMENT naming the
    field when it is outside the years 1 to 9999 or its nanos are not in [0, 1e9)."""
    if not MIN_TIMESTAMP_SECONDS <= ts.seconds <= MAX_TIMESTAMP_SECONDS:
        raise InvalidArgument.for_field(field, "must be between the years 1 and 9999 (UTC)")
    if not 0 <= ts.nanos < 1_000_000_000:
        raise InvalidArgument.for_field(field, "nanos must be between 0 and 999,999,999")
    return ts.seconds * 1_000_000 + ts.nanos // 1000


def parse_rfc3339(text: str) -> int:
    """Microseconds for an RFC-3339 string; raises ValueError when it is not one."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000)
