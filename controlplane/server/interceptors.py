"""Server interceptors, outermost first: telemetry, errors, request decoding,
authentication + tenancy + authorization.

grpc.aio runs ``intercept_service`` apart from the handler, so each interceptor wraps the
handler's behaviour instead: the wrapped code runs in the handler's own task, which is what
lets the context variables it sets (tenant, caller) reach the servicer and the store.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import grpc
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from controlplane import names
from controlplane.auth.authenticator import Authenticator, Identity
from controlplane.auth.authorizer import Authorizer
from controlplane.errors import (
    ControlPlaneError,
    InvalidArgument,
    MalformedRequest,
    NotFound,
    PermissionDenied,
)
from controlplane.server import errors
from controlplane.server.log_limits import RateLimitedWarning
from controlplane.server.methods import Method, method_table
from controlplane.services._typing import ServicerContext
from controlplane.store.audit import CallInfo, call_info
from controlplane.store.tenancy import set_tenant

if TYPE_CHECKING:
    # grpc-stubs makes these generic; the interceptors handle every message type.
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
    ServerInterceptor: TypeAlias = grpc.aio.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    ServerInterceptor = grpc.aio.ServerInterceptor

log = logging.getLogger("controlplane.rpc")

Behavior = Callable[..., Any]
# Services any client may call without credentials, as gRPC tooling expects.
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/")


_KEEP = object()


def _wrap(
    handler: Handler,
    around: Callable[[Behavior, bool], Behavior],
    request_deserializer: Any = _KEEP,
) -> Handler:
    """Rebuilds ``handler`` with its behaviour passed through ``around(behaviour, streaming)``
    (and, when given, another request deserializer; None hands the behaviour raw bytes)."""
    deserializer = (
        handler.request_deserializer if request_deserializer is _KEEP else request_deserializer
    )
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            around(handler.unary_unary, False), deserializer, handler.response_serializer
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            around(handler.stream_unary, False), deserializer, handler.response_serializer
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            around(handler.unary_stream, True), deserializer, handler.response_serializer
        )
    return grpc.stream_stream_rpc_method_handler(
        around(cast(Behavior, handler.stream_stream), True),
        deserializer,
        handler.response_serializer,
    )


class _Interceptor(ServerInterceptor):
    """Wraps each method's handler once and reuses the wrapped handler for every call: what
    differs per call (metadata, the request) is read from the call itself, so rebuilding the
    wrappers per call would only add latency to every RPC."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(details)
        if handler is None:
            return handler
        full_name: str = details.method
        cached = self._wrapped.get(full_name)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self.wrap(handler, full_name, method_table().get(full_name))
        self._wrapped[full_name] = (handler, wrapped)
        return wrapped

    @abc.abstractmethod
    def wrap(self, handler: Handler, full_name: str, method: Method | None) -> Handler:
        """The handler with this interceptor's behaviour around it."""


class TelemetryInterceptor(_Interceptor):
    """One span and one duration measurement per RPC (OpenTelemetry; no-ops unless an SDK
    provider is configured)."""

    def __init__(self) -> None:
        super().__init__()
        self.tracer = trace.get_tracer("controlplane.server")
        meter = metrics.get_meter("controlplane.server")
        self.duration = meter.create_histogram(
            "rpc.server.duration", unit="ms", description="Time to handle an RPC"
        )

    def wrap(self, handler: Handler, full_name: str, method: Method | None) -> Handler:
        service, _, name = full_name.lstrip("/").partition("/")
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}

        def around(behavior: Behavior, streaming: bool) -> Behavior:
            if streaming:
                return behavior

            async def traced(request: Any, context: ServicerContext) -> Any:
                start = time.perf_counter()
                code = grpc.StatusCode.OK
                with self.tracer.start_as_current_span(
                    full_name.lstrip("/"),
                    kind=SpanKind.SERVER,
                    attributes=attributes,
                    record_exception=False,
                    set_status_on_exception=False,
                ) as span:
                    try:
                        return await behavior(request, context)
                    except BaseException:
                        code = context.code() or grpc.StatusCode.UNKNOWN
                        if code != grpc.StatusCode.OK:
                            span.set_status(Status(StatusCode.ERROR))
                        raise
                    finally:
                        code_name = code.name if isinstance(code, grpc.StatusCode) else str(code)
                        span.set_attribute("rpc.grpc.status_code", code_name)
                        self.duration.record(
                            (time.perf_counter() - start) * 1000,
                            {**attributes, "rpc.grpc.status_code": code_name},
                        )

            return traced

        return _wrap(handler, around)


class ErrorInterceptor(_Interceptor):
    """Domain errors become their status with ErrorInfo/BadRequest details; anything else is
    INTERNAL with a generic message, and the traceback goes to the log."""

    def wrap(self, handler: Handler, full_name: str, method: Method | None) -> Handler:
        async def fail(error: BaseException, context: ServicerContext) -> None:
            # grpc-stubs omits grpc.aio.ServicerContext.abort_with_status; grpc has it.
            if isinstance(error, ControlPlaneError):
                if not isinstance(error, MalformedRequest):  # already logged, rate-limited
                    log.info("%s failed: %s %s", full_name, error.reason, error.message)
                await context.abort_with_status(  # type: ignore[attr-defined]
                    errors.to_status(error)
                )
            log.error("%s failed unexpectedly", full_name, exc_info=error)
            await context.abort_with_status(  # type: ignore[attr-defined]
                errors.internal_status()
            )

        def around(behavior: Behavior, streaming: bool) -> Behavior:
            if streaming:

                async def guarded_stream(
                    request: Any, context: ServicerContext
                ) -> AsyncIterator[Any]:
                    try:
                        async for item in behavior(request, context):
                            yield item
                    except (asyncio.CancelledError, grpc.aio.AbortError):
                        raise
                    except Exception as error:
                        await fail(error, context)

                return guarded_stream

            async def guarded(request: Any, context: ServicerContext) -> Any:
                try:
                    return await behavior(request, context)
                except (asyncio.CancelledError, grpc.aio.AbortError):
                    raise
                except Exception as error:
                    await fail(error, context)

            return guarded

        return _wrap(handler, around)


class DecodeInterceptor(_Interceptor):
    """Decodes request messages itself instead of leaving it to the gRPC runtime, which
    answers a body that does not parse with UNKNOWN and an ERROR traceback per call. Here such
    a body (in a unary call or anywhere in a client stream) raises MalformedRequest, which the
    error interceptor outside this one turns into INVALID_ARGUMENT; it runs before
    authentication, so every caller gets the same answer, and the log gets at most one
    warning line every few seconds however much junk arrives."""

    def __init__(self) -> None:
        super().__init__()
        self._warning = RateLimitedWarning(log)

    def wrap(self, handler: Handler, full_name: str, method: Method | None) -> Handler:
        deserialize = handler.request_deserializer
        if deserialize is None:
            return handler
        client_streaming = bool(handler.stream_unary or handler.stream_stream)

        def decode(data: bytes) -> Any:
            try:
                return deserialize(data)
            except Exception as error:
                self._warning.warn(
                    "%s: a request message did not decode (%s)", full_name, type(error).__name__
                )
                raise MalformedRequest(
                    f"the request message does not decode as {_request_type(method)}"
                ) from None

        async def decoded(raw: AsyncIterator[bytes]) -> AsyncIterator[Any]:
            async for data in raw:
                yield decode(data)

        def around(behavior: Behavior, streaming: bool) -> Behavior:
            convert: Callable[[Any], Any] = decoded if client_streaming else decode
            if streaming:

                async def decoded_responses(request: Any, context: ServicerContext) -> Any:
                    async for response in behavior(convert(request), context):
                        yield response

                return decoded_responses

            async def decoded_call(request: Any, context: ServicerContext) -> Any:
                return await behavior(convert(request), context)

            return decoded_call

        return _wrap(handler, around, request_deserializer=None)


def _request_type(method: Method | None) -> str:
    return method.descriptor.input_type.full_name if method else "the method's request type"


def _deny(behavior: Behavior, streaming: bool) -> Behavior:
    """For a registered method that the contract does not list: nobody may call it."""

    async def denied(request: Any, context: ServicerContext) -> Any:
        raise PermissionDenied("this method is not part of the contract")

    return denied


def _call_headers(context: ServicerContext) -> tuple[str | None, str]:
    """The call's bearer credentials and its x-request-id header (empty when absent)."""
    authorization: str | None = None
    request_id = ""
    # gRPC gives the values of text (non "-bin") metadata keys as str.
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            authorization = cast(str, value)
        elif key == "x-request-id":
            request_id = cast(str, value)
    return authorization, request_id


async def _close(responses: AsyncIterator[Any]) -> None:
    aclose = getattr(responses, "aclose", None)
    if aclose is not None:
        await aclose()


def _field(message: Any, path: str) -> str:
    for part in path.split("."):
        message = getattr(message, part)
    return str(message)


# An open server stream is allowed again at least this often while it has nothing to send,
# so a revoked key or role ends an idle watch within a few seconds.
IDLE_RECHECK_SECONDS = 2.0
_END = object()


class AccessInterceptor(_Interceptor):
    """Authenticates the caller, finds the tenant the request addresses, and checks the RPC's
    permission there. A caller asking about another tenant gets NOT_FOUND, exactly as if the
    resource did not exist. Sets the tenant scope and the audit identity for the handler.

    A stream is allowed again for as long as it is open: every message of a client stream
    before the handler sees it, every response of a server stream before it is sent, and an
    idle server stream every ``idle_recheck_seconds``. Both checks are cached (and the caches
    are dropped when a key, principal or binding changes), so this costs dict lookups."""

    def __init__(
        self,
        authenticator: Authenticator,
        authorizer: Authorizer,
        *,
        idle_recheck_seconds: float = IDLE_RECHECK_SECONDS,
    ) -> None:
        super().__init__()
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.idle_recheck_seconds = idle_recheck_seconds

    def wrap(self, handler: Handler, full_name: str, method: Method | None) -> Handler:
        if method is None:
            return handler if full_name.startswith(OPEN_SERVICES) else _wrap(handler, _deny)

        def around(behavior: Behavior, streaming: bool) -> Behavior:
            if streaming:

                async def checked_responses(
                    request: Any, context: ServicerContext
                ) -> AsyncIterator[Any]:
                    authorization, header_request_id = _call_headers(context)
                    identity = await self.authenticator.authenticate(authorization)
                    if method.client_streaming:
                        self._enter(identity, method, None, header_request_id)
                        responses = behavior(self._checked(request, authorization, method), context)
                        async for response in responses:
                            yield response
                        return
                    self._enter(identity, method, request, header_request_id)

                    async def recheck() -> None:
                        identity = await self.authenticator.authenticate(authorization)
                        self._permit(identity, method, request)

                    async for response in self._rechecked(behavior(request, context), recheck):
                        yield response

                return checked_responses
            if method.client_streaming:

                async def checked_stream(
                    requests: AsyncIterator[Any], context: ServicerContext
                ) -> Any:
                    authorization, header_request_id = _call_headers(context)
                    identity = await self.authenticator.authenticate(authorization)
                    self._enter(identity, method, None, header_request_id)
                    return await behavior(self._checked(requests, authorization, method), context)

                return checked_stream

            async def checked(request: Any, context: ServicerContext) -> Any:
                authorization, header_request_id = _call_headers(context)
                identity = await self.authenticator.authenticate(authorization)
                self._enter(identity, method, request, header_request_id)
                return await behavior(request, context)

            return checked

        return _wrap(handler, around)

    async def _rechecked(
        self, responses: AsyncIterator[Any], recheck: Callable[[], Awaitable[None]]
    ) -> AsyncIterator[Any]:
        """``responses``, each allowed again (``recheck``) before it is sent, and the stream
        allowed again every ``idle_recheck_seconds`` while it waits for its next response.

        The handler's generator is advanced in tasks that all run in one context, a copy of
        this call's: what it sets in a context variable stays set from one response to the
        next, as if it ran here."""
        context = contextvars.copy_context()

        async def advance() -> Any:
            return await anext(responses, _END)

        step: asyncio.Task[Any] | None = None
        try:
            while True:
                step = asyncio.get_running_loop().create_task(advance(), context=context)
                while not (await asyncio.wait({step}, timeout=self.idle_recheck_seconds))[0]:
                    await recheck()
                response = step.result()
                step = None
                if response is _END:
                    return
                await recheck()
                yield response
        finally:
            if step is not None and not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await step
            await asyncio.get_running_loop().create_task(_close(responses), context=context)

    async def _checked(
        self, requests: AsyncIterator[Any], authorization: str | None, method: Method
    ) -> AsyncIterator[Any]:
        """Authenticates and authorizes every message of a client stream before the handler
        sees it (a message that names no resource is checked against the stream's tenant);
        the stream stays in one tenant. A refused message ends the stream, so nothing of it
        reaches the store."""
        tenant: str | None = None
        async for request in requests:
            identity = await self.authenticator.authenticate(authorization)
            resource = _field(request, method.resource_field)
            if resource:
                addressed = self._authorize(identity, method, resource)
                if tenant is not None and addressed != tenant:
                    raise InvalidArgument.for_field(
                        method.resource_field, "must stay in one tenant per stream"
                    )
                if tenant is None:
                    tenant = addressed
                    set_tenant(tenant)
            elif tenant is not None:
                self._authorize(identity, method, names.TENANT.format(tenant))
            yield request

    def _enter(
        self, identity: Identity, method: Method, request: Any, header_request_id: str
    ) -> None:
        request_id = getattr(request, "request_id", "") or header_request_id or uuid.uuid4().hex
        call_info.set(CallInfo(identity.principal, method.name, request_id[:64]))
        if method.public:
            set_tenant(identity.tenant_id)
            return
        if request is None and method.resource_field:  # client streaming: checked per message
            return
        tenant = self._permit(identity, method, request)
        if tenant is not None:
            set_tenant(tenant)

    def _permit(self, identity: Identity, method: Method, request: Any) -> str | None:
        """Checks that ``identity`` may call ``method`` with ``request``; returns the tenant
        the request addresses (None for a public or a platform method)."""
        if method.public:
            return None
        if not method.resource_field:
            if not self.authorizer.is_platform_admin(identity.principal):
                raise PermissionDenied(
                    f"{method.name} needs the platform permission {method.permission}"
                )
            return None
        return self._authorize(identity, method, _field(request, method.resource_field))

    def _authorize(self, identity: Identity, method: Method, resource: str) -> str:
        tenant = names.tenant_of(resource)
        if tenant is None:
            raise InvalidArgument.for_field(
                method.resource_field,
                "is required and must be a resource name starting with tenants/{tenant}",
            )
        if tenant != identity.tenant_id and not self.authorizer.is_platform_admin(
            identity.principal
        ):
            raise NotFound.resource(resource)
        if not self.authorizer.allowed(identity.principal, tenant, method.permission):
            raise PermissionDenied(
                f"{identity.principal} lacks {method.permission} in tenants/{tenant}",
                metadata={"permission": method.permission},
            )
        return tenant
