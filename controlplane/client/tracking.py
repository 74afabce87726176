"""Experiment tracking: a run whose metrics are buffered in the caller's process and sent in
columnar batches by a background thread."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from google.protobuf import field_mask_pb2

from controlplane.client._stubs import retrying
from controlplane.client.errors import ApiError
from controlplane.v1 import common_pb2
from controlplane.v1 import experiment_service_pb2 as pb

if TYPE_CHECKING:
    from controlplane.client.client import Client

__all__ = ["ActiveRun", "run_state"]

log = logging.getLogger("controlplane.client")

# Limits of one MetricBatch on the server (controlplane.domain.metrics).
MAX_POINTS_PER_BATCH = 1_000_000
MAX_KEYS_PER_BATCH = 1000

DEFAULT_FLUSH_INTERVAL = 0.2
DEFAULT_FLUSH_POINTS = 10_000


def run_state(state: int | str) -> pb.RunState:
    """A run state from its number or its name, with or without the ``RUN_STATE_`` prefix."""
    if isinstance(state, str):
        name = state.strip().upper()
        if not name.startswith("RUN_STATE_"):
            name = "RUN_STATE_" + name
        try:
            return cast(pb.RunState, pb.RunState.Value(name))
        except ValueError:
            raise ValueError(f"unknown run state {state!r}") from None
    if state not in pb.RunState.values():
        raise ValueError(f"unknown run state {state!r}")
    return cast(pb.RunState, state)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_value(key: object, value: object) -> float:
    if not isinstance(key, str) or not key:
        raise ValueError(f"a metric key must be a non-empty string, not {key!r}")
    number = float(value)  # type: ignore[arg-type]
    if math.isinf(number):
        raise ValueError(f"metric {key!r}: +/-inf cannot be logged (NaN can)")
    return number


def metric_batches(
    keys: list[str],
    key_index: list[int],
    values: list[float],
    steps: list[int],
    timestamps_ms: list[int],
    *,
    max_points: int = MAX_POINTS_PER_BATCH,
    max_keys: int = MAX_KEYS_PER_BATCH,
) -> Iterator[common_pb2.MetricBatch]:
    """Columnar batches within the server's limits, points of each key in their order."""
    count = len(values)
    for start in range(0, count, max_points):
        end = min(count, start + max_points)
        chunk_index = key_index[start:end]
        if len(keys) <= max_keys:
            yield common_pb2.MetricBatch(
                keys=keys,
                key_index=chunk_index,
                values=values[start:end],
                steps=steps[start:end],
                timestamps_ms=timestamps_ms[start:end],
            )
            continue
        for first_key in range(0, len(keys), max_keys):
            last_key = first_key + max_keys
            selected = [i for i, k in enumerate(chunk_index, start) if first_key <= k < last_key]
            if not selected:
                continue
            yield common_pb2.MetricBatch(
                keys=keys[first_key:last_key],
                key_index=[key_index[i] - first_key for i in selected],
                values=[values[i] for i in selected],
                steps=[steps[i] for i in selected],
                timestamps_ms=[timestamps_ms[i] for i in selected],
            )


class ActiveRun:
    """A RUNNING run to log to; made by :meth:`Client.start_run`.

    Params and tags are sent at once. Metric points are buffered and sent by a background
    thread every ``flush_interval`` seconds, or as soon as ``flush_points`` points wait;
    :meth:`flush` sends them now. Logging is thread-safe. An error of a background send is
    kept and raised by the next ``log_*``, :meth:`flush` or :meth:`end` call.

    Used as a context manager, leaving the block flushes and sets the run FINISHED, or
    FAILED when the block raised (the exception propagates).
    """

    def __init__(
        self,
        client: Client,
        run: pb.Run,
        *,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        flush_points: int = DEFAULT_FLUSH_POINTS,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        if flush_points <= 0:
            raise ValueError("flush_points must be positive")
        self.client = client
        self.info = run
        self.name = run.name
        self._flush_interval = flush_interval
        self._flush_points = flush_points
        # Above this many waiting points, logging sends in the caller's thread (backpressure).
        self._max_pending = max(4 * flush_points, flush_points + 1)
        self._buffer_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._keys: dict[str, int] = {}
        self._key_index: list[int] = []
        self._values: list[float] = []
        self._steps: list[int] = []
        self._timestamps: list[int] = []
        self._error: BaseException | None = None
        self._ended = False
        self._points_sent = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._flush_loop, name=f"controlplane-flush-{self.run_id}", daemon=True
        )
        self._thread.start()

    # -- identity -----------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def experiment(self) -> str:
        """The experiment's resource name."""
        return self.name.rsplit("/runs/", 1)[0]

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def points_sent(self) -> int:
        """Metric points the server has accepted from this object so far."""
        return self._points_sent

    def __repr__(self) -> str:
        return f"ActiveRun({self.name!r})"

    # -- logging ------------------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Logs params (values converted with ``str()``). Params are write-once: logging a key
        again with another value fails with FAILED_PRECONDITION (``PARAM_ALREADY_SET``)."""
        self._check_usable()
        if not params:
            return
        request = pb.LogParamsRequest(run=self.name, params={k: str(v) for k, v in params.items()})
        retrying(lambda: self.client.experiments.LogParams(request), idempotent=True)

    def log_metric(
        self, key: str, value: float, step: int | None = 0, *, timestamp_ms: int | None = None
    ) -> None:
        """Buffers one point. ``timestamp_ms`` defaults to now; NaN is allowed, +/-inf not."""
        self._check_usable()
        number = _check_value(key, value)
        stamp = _now_ms() if timestamp_ms is None else int(timestamp_ms)
        step = int(step or 0)
        with self._buffer_lock:
            index = self._keys.get(key)
            if index is None:
                index = self._keys[key] = len(self._keys)
            self._key_index.append(index)
            self._values.append(number)
            self._steps.append(step)
            self._timestamps.append(stamp)
            pending = len(self._values)
        self._after_append(pending)

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = 0, *, timestamp_ms: int | None = None
    ) -> None:
        """Buffers one point per key, all at the same step and time."""
        self._check_usable()
        numbers = [(key, _check_value(key, value)) for key, value in metrics.items()]
        if not numbers:
            return
        stamp = _now_ms() if timestamp_ms is None else int(timestamp_ms)
        step = int(step or 0)
        with self._buffer_lock:
            for key, number in numbers:
                index = self._keys.get(key)
                if index is None:
                    index = self._keys[key] = len(self._keys)
                self._key_index.append(index)
                self._values.append(number)
                self._steps.append(step)
                self._timestamps.append(stamp)
            pending = len(self._values)
        self._after_append(pending)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Adds or replaces tags (values converted with ``str()``); other tags are kept."""
        self._check_usable()
        if not tags:
            return
        update = {k: str(v) for k, v in tags.items()}
        for attempt in range(5):
            current = retrying(
                lambda: self.client.experiments.GetRun(pb.GetRunRequest(name=self.name)),
                idempotent=True,
            )
            merged = {**current.tags, **update}
            request = pb.UpdateRunRequest(
                run=pb.Run(name=self.name, tags=merged, etag=current.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["tags"]),
            )
            try:
                self.info = retrying(
                    partial(self.client.experiments.UpdateRun, request), idempotent=False
                )
                return
            except ApiError as error:
                # Someone else changed the run between our read and write: read again.
                if error.reason != "ETAG_MISMATCH" or attempt == 4:
                    raise

    # -- sending ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Sends every buffered point now; raises a kept background error first."""
        self._raise_kept_error()
        self._send_buffer()

    def end(self, state: int | str = pb.RUN_STATE_FINISHED) -> pb.Run:
        """Flushes, stops the background thread and moves the run to ``state`` (FINISHED by
        default). When a send failed, the run is set FAILED instead and the error raised.
        Calling it again does nothing."""
        target = run_state(state)
        with self._state_lock:
            if self._ended:
                return self.info
            self._ended = True
        self._stop_thread()
        error = self._take_error()
        try:
            self._send_buffer()
        except Exception as exc:
            error = error or exc
        if error is not None and target == pb.RUN_STATE_FINISHED:
            target = pb.RUN_STATE_FAILED
        self.info = self.client.set_run_state(self.name, target)
        if error is not None:
            raise error
        return self.info

    def get(self) -> pb.Run:
        """The run as the server has it now (latest metrics include only flushed points)."""
        run: pb.Run = self.client.get_run(self.name)
        self.info = run
        return run

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end(pb.RUN_STATE_FINISHED)
            return
        try:
            self.end(pb.RUN_STATE_FAILED)
        except Exception:
            # The block's own exception is the one to see; this one goes to the log.
            log.warning("could not end %s after the block failed", self.name, exc_info=True)

    # -- internals ----------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._ended:
            raise RuntimeError(f"{self.name} has ended; start a new run to log more")
        self._raise_kept_error()

    def _raise_kept_error(self) -> None:
        error = self._take_error()
        if error is not None:
            raise error

    def _take_error(self) -> BaseException | None:
        with self._buffer_lock:
            error, self._error = self._error, None
        return error

    def _keep_error(self, error: BaseException) -> None:
        with self._buffer_lock:
            if self._error is None:
                self._error = error

    def _after_append(self, pending: int) -> None:
        if pending >= self._max_pending:
            self._send_buffer()
        elif pending >= self._flush_points:
            self._wake.set()

    def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._send_buffer()
            except Exception as error:
                log.debug("background flush of %s failed", self.name, exc_info=True)
                self._keep_error(error)

    def _stop_thread(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _send_buffer(self) -> None:
        # The send lock is held from the swap to the last batch, so batches reach the server
        # in the order their points were logged.
        with self._send_lock:
            with self._buffer_lock:
                if not self._values:
                    return
                keys = list(self._keys)
                columns = (self._key_index, self._values, self._steps, self._timestamps)
                self._keys = {}
                self._key_index, self._values, self._steps, self._timestamps = [], [], [], []
            for batch in metric_batches(keys, *columns):
                request = pb.LogMetricBatchRequest(run=self.name, batch=batch)
                response: pb.LogMetricBatchResponse = retrying(
                    partial(self.client.experiments.LogMetricBatch, request), idempotent=False
                )
                self._points_sent += response.point_count
