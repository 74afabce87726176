"""Following a ``Watch...`` stream across its ends.

A server ends a watch stream with OK after its longest watch time or when it shuts down, and
a client resumes after the last item it received (or, before any, where the stream said it
started). ``follow`` does that, so a caller sees one
endless iterator with nothing missed and nothing twice."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator
from typing import Any

import grpc

from controlplane.client._stubs import Method
from controlplane.client.errors import from_rpc_error

# The response header of a watch: the item it starts after ("" for the beginning).
WATCH_AFTER_HEADER = "x-watch-after"
# Reconnecting after UNAVAILABLE (a server restarting): this many tries in a row, with
# jittered exponential backoff from RETRY_FIRST_DELAY seconds, before the error is raised.
RETRY_ATTEMPTS = 6
RETRY_FIRST_DELAY = 0.2


def follow(
    method: Method,
    request: Any,
    resume_after: Callable[[Any, str], None],
    *,
    timeout: float | None = None,
) -> Generator[Any, None, None]:
    """Yields the items of the watch ``method(request)``, reopening it when the server ends
    it: ``resume_after(request, name)`` makes ``request`` start after the item ``name`` (""
    for the beginning), the last item received or else where the stream said it started
    (``WATCH_AFTER_HEADER``). ``timeout`` bounds the whole watch in seconds (None: no end).
    UNAVAILABLE is retried a few times; any other error is raised as
    :class:`~controlplane.client.errors.ApiError`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    request = type(request).FromString(request.SerializeToString())
    failures = 0
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        stream = method(request, timeout=left)
        try:
            headers = dict(stream.initial_metadata() or ())
            if WATCH_AFTER_HEADER in headers:  # in place: a reopened stream starts there
                failures = 0
                resume_after(request, str(headers[WATCH_AFTER_HEADER]))
            for item in stream:
                yield item
                resume_after(request, item.name)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                continue  # the client's default per-call deadline ended it, not the watch's
            failures += 1
            if code != grpc.StatusCode.UNAVAILABLE or failures >= RETRY_ATTEMPTS:
                raise from_rpc_error(error) from None
            time.sleep(RETRY_FIRST_DELAY * 2 ** (failures - 1) * (0.5 + random.random()))
        finally:
            stream.cancel()
