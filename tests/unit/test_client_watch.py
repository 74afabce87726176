"""``controlplane.client.watch.follow`` across stream ends, with scripted streams in place of
the network (the real server's ends are covered in tests/test_governance_watch.py): where each
reopened stream starts, which errors are retried, and that an abandoned watch is cancelled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from controlplane.client import watch
from controlplane.client.errors import ApiError
from controlplane.client.watch import WATCH_AFTER_HEADER, follow
from controlplane.v1 import governance_service_pb2 as gv


class Refused(grpc.RpcError, grpc.Call):
    """A call that ended with ``code``."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._code.name

    def trailing_metadata(self) -> tuple[()]:
        return ()


class Stream:
    """One scripted call: its headers, then its items, then OK or an error."""

    def __init__(self, start: str | None, names: list[str], error: Refused | None = None) -> None:
        self.start, self.names, self.error = start, names, error
        self.cancelled = False

    def initial_metadata(self) -> tuple[tuple[str, str], ...]:
        return () if self.start is None else ((WATCH_AFTER_HEADER, self.start),)

    def __iter__(self) -> Iterator[gv.GovernanceEvent]:
        for name in self.names:
            yield gv.GovernanceEvent(name=name)
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        self.cancelled = True


class Method:
    """Hands out the scripted streams in turn and records each request it was called with."""

    def __init__(self, *streams: Stream) -> None:
        self.streams = list(streams)
        self.requests: list[tuple[str, bool]] = []

    def __call__(self, request: gv.WatchGovernanceEventsRequest, timeout: Any = None) -> Stream:
        self.requests.append((request.after, request.from_beginning))
        return self.streams.pop(0)


def resume_after(request: gv.WatchGovernanceEventsRequest, name: str) -> None:
    request.after = name
    request.from_beginning = not name


def test_each_reopened_stream_starts_after_the_last_event_or_where_the_last_said() -> None:
    method = Method(
        Stream("e1", ["e2", "e3"]),  # ends OK after two events
        Stream("e3", []),  # ends OK with none: the next starts where this one said
        Stream("e3", ["e4"]),
    )
    followed = follow(method, gv.WatchGovernanceEventsRequest(parent="p"), resume_after)
    assert [next(followed).name for _ in range(3)] == ["e2", "e3", "e4"]
    assert method.requests == [("", False), ("e3", False), ("e3", False)]


def test_a_watch_from_the_beginning_resumes_from_the_beginning_until_an_event_comes() -> None:
    method = Method(Stream("", []), Stream("", ["e1"]))
    request = gv.WatchGovernanceEventsRequest(parent="p", from_beginning=True)
    followed = follow(method, request, resume_after)
    assert next(followed).name == "e1"
    assert method.requests == [("", True), ("", True)]


def test_unavailable_is_retried_and_other_errors_are_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watch.time, "sleep", lambda _: None)
    method = Method(
        Stream("e1", ["e2"], Refused(grpc.StatusCode.UNAVAILABLE)),
        Stream(None, [], Refused(grpc.StatusCode.UNAVAILABLE)),  # refused before its headers
        Stream("e2", [], Refused(grpc.StatusCode.PERMISSION_DENIED)),
    )
    followed = follow(method, gv.WatchGovernanceEventsRequest(parent="p"), resume_after)
    assert next(followed).name == "e2"
    with pytest.raises(ApiError) as caught:
        next(followed)
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert method.requests == [("", False), ("e2", False), ("e2", False)]


def test_unavailable_too_many_times_in_a_row_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch.time, "sleep", lambda _: None)
    streams = [
        Stream(None, [], Refused(grpc.StatusCode.UNAVAILABLE)) for _ in range(watch.RETRY_ATTEMPTS)
    ]
    followed = follow(Method(*streams), gv.WatchGovernanceEventsRequest(parent="p"), resume_after)
    with pytest.raises(ApiError) as caught:
        next(followed)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_stopping_the_iteration_cancels_the_open_stream() -> None:
    open_stream = Stream("", ["e1", "e2"])
    followed = follow(
        Method(open_stream), gv.WatchGovernanceEventsRequest(parent="p"), resume_after
    )
    assert next(followed).name == "e1"
    followed.close()
    assert open_stream.cancelled
