"""Decoding and checking a columnar MetricBatch: vectorised, so a million points cost a few
array operations rather than a million Python objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controlplane import clock
from controlplane.domain.validation import MAX_KEY, string
from controlplane.errors import InvalidArgument
from controlplane.v1 import common_pb2

MAX_POINTS_PER_BATCH = 1_000_000
MAX_KEYS_PER_BATCH = 1000


@dataclass(frozen=True)
class KeyPoints:
    """The points of one metric key from one batch, in batch order."""

    key: str
    steps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    timestamps_ms: npt.NDArray[np.int64]

    def latest(self) -> tuple[float, int, int]:
        """(value, step, timestamp) of the newest point: highest step, then timestamp, then
        the last one sent."""
        order = np.lexsort((self.timestamps_ms, self.steps))
        index = int(order[-1])
        return float(self.values[index]), int(self.steps[index]), int(self.timestamps_ms[index])


def decode_batch(batch: common_pb2.MetricBatch, field: str = "batch") -> list[KeyPoints]:
    count = len(batch.values)
    if count == 0:
        raise InvalidArgument.for_field(f"{field}.values", "has no points")
    if count > MAX_POINTS_PER_BATCH:
        raise InvalidArgument.for_field(
            f"{field}.values", f"has {count} points; at most {MAX_POINTS_PER_BATCH} per batch"
        )
    if len(batch.keys) > MAX_KEYS_PER_BATCH:
        raise InvalidArgument.for_field(f"{field}.keys", f"has more than {MAX_KEYS_PER_BATCH} keys")
    if len(set(batch.keys)) != len(batch.keys):
        raise InvalidArgument.for_field(f"{field}.keys", "has duplicate keys")
    for key in batch.keys:
        string(key, f"{field}.keys", maximum=MAX_KEY, required=True)
    if len(batch.key_index) != count:
        raise InvalidArgument.for_field(
            f"{field}.key_index", f"has {len(batch.key_index)} entries for {count} values"
        )
    for name, column in (("steps", batch.steps), ("timestamps_ms", batch.timestamps_ms)):
        if len(column) not in (0, count):
            raise InvalidArgument.for_field(
                f"{field}.{name}",
                f"has {len(column)} entries for {count} values (or leave it empty)",
            )
    values = np.fromiter(batch.values, dtype=np.float64, count=count)
    if np.isinf(values).any():
        raise InvalidArgument.for_field(f"{field}.values", "contains +/-inf (NaN is allowed)")
    key_index = np.fromiter(batch.key_index, dtype=np.uint32, count=count)
    if int(key_index.max()) >= len(batch.keys):
        raise InvalidArgument.for_field(f"{field}.key_index", "refers past the end of keys")
    steps = (
        np.fromiter(batch.steps, dtype=np.int64, count=count)
        if len(batch.steps)
        else np.zeros(count, dtype=np.int64)
    )
    timestamps = (
        np.fromiter(batch.timestamps_ms, dtype=np.int64, count=count)
        if len(batch.timestamps_ms)
        else np.full(count, clock.now_us() // 1000, dtype=np.int64)
    )
    if len(batch.keys) == 1:
        return [KeyPoints(batch.keys[0], steps, values, timestamps)]
    order = np.argsort(key_index, kind="stable")
    sorted_index = key_index[order]
    bounds = np.flatnonzero(np.diff(sorted_index)) + 1
    groups = np.split(order, bounds)
    return [
        KeyPoints(
            batch.keys[int(key_index[group[0]])], steps[group], values[group], timestamps[group]
        )
        for group in groups
    ]


def encode(array: npt.NDArray[np.int64] | npt.NDArray[np.float64]) -> bytes:
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
