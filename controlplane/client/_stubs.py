"""Generated gRPC stubs wrapped so every call carries the client's credentials and default
deadline, and fails with :class:`~controlplane.client.errors.ApiError` instead of a bare
``grpc.RpcError``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc

from controlplane.client.errors import ApiError, from_rpc_error

T = TypeVar("T")

Metadata = Sequence[tuple[str, str]]


def _no_hint() -> str:
    return ""


class Method:
    """One RPC of a service: ``method(request, timeout=..., metadata=...)``. For the
    client-streaming RPC (``LogMetrics``) pass an iterator of requests."""

    def __init__(
        self,
        callable_: Any,
        name: str,
        metadata: Callable[[], Metadata],
        timeout: float | None,
        unauthenticated_hint: Callable[[], str] = _no_hint,
    ) -> None:
        self._callable = callable_
        self._metadata = metadata
        self._timeout = timeout
        self._hint = unauthenticated_hint
        self.__name__ = name

    def _error(self, error: grpc.RpcError) -> ApiError:
        """The ApiError of a failed call; UNAUTHENTICATED adds why no key was sent, if known."""
        api_error = from_rpc_error(error)
        hint = self._hint() if api_error.code == grpc.StatusCode.UNAUTHENTICATED else ""
        if not hint:
            return api_error
        return ApiError(
            api_error.code,
            f"{api_error.message} ({hint})",
            api_error.reason,
            api_error.field_violations,
            api_error.metadata,
        )

    def _kwargs(
        self, timeout: float | None, metadata: Metadata | None, extra: dict[str, Any]
    ) -> dict[str, Any]:
        extra["metadata"] = (*self._metadata(), *(metadata or ()))
        extra["timeout"] = self._timeout if timeout is None else timeout
        return extra

    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            return self._callable(request, **self._kwargs(timeout, metadata, kwargs))
        except grpc.RpcError as error:
            raise self._error(error) from None

    def with_call(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **kwargs: Any,
    ) -> tuple[Any, grpc.Call]:
        """The response together with the call (its trailing metadata, for example)."""
        try:
            kwargs = self._kwargs(timeout, metadata, kwargs)
            response, call = self._callable.with_call(request, **kwargs)
        except grpc.RpcError as error:
            raise self._error(error) from None
        return response, call

    def __repr__(self) -> str:
        return f"<controlplane RPC {self.__name__}>"


class Service:
    """A generated stub whose RPCs are :class:`Method` objects, for example
    ``client.experiments.GetRun(GetRunRequest(name=...))``."""

    def __init__(
        self,
        stub: Any,
        metadata: Callable[[], Metadata],
        timeout: float | None,
        unauthenticated_hint: Callable[[], str] = _no_hint,
    ) -> None:
        self._stub = stub
        self._methods: dict[str, Method] = {}
        self._metadata = metadata
        self._timeout = timeout
        self._hint = unauthenticated_hint

    def __getattr__(self, name: str) -> Method:
        if name.startswith("_"):
            raise AttributeError(name)
        method = self._methods.get(name)
        if method is None:
            method = Method(
                getattr(self._stub, name), name, self._metadata, self._timeout, self._hint
            )
            self._methods[name] = method
        return method

    def __dir__(self) -> list[str]:
        return sorted(name for name in vars(self._stub) if not name.startswith("_"))

    def __repr__(self) -> str:
        return f"<controlplane service {type(self._stub).__name__}>"


def retrying(
    call: Callable[[], T],
    *,
    idempotent: bool,
    attempts: int = 4,
    first_delay: float = 0.1,
) -> T:
    """Runs ``call``, again after ABORTED/CONFLICT (the server rolled the write back) and, when
    the call is idempotent, after UNAVAILABLE; with jittered exponential backoff."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ApiError as error:
            transient = (error.code == grpc.StatusCode.ABORTED and error.reason == "CONFLICT") or (
                idempotent and error.code == grpc.StatusCode.UNAVAILABLE
            )
            if not transient or attempt == attempts:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay *= 2
    raise AssertionError("unreachable")
