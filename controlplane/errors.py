"""Domain errors. Each declares its gRPC status code and ErrorInfo reason; the server's error
interceptor is the one place that turns them into `google.rpc.Status` (anything else becomes
INTERNAL with a generic message)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

import grpc


@dataclass(frozen=True)
class FieldViolation:
    """One bad request field, named by its path in the request (e.g. ``run.tags``)."""

    field: str
    description: str


@dataclass
class ControlPlaneError(Exception):
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    reason: ClassVar[str] = "UNKNOWN"

    def __str__(self) -> str:
        return self.message


class InvalidArgument(ControlPlaneError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    @classmethod
    def for_field(cls, field_path: str, description: str) -> Self:
        return cls(f"{field_path}: {description}", [FieldViolation(field_path, description)])


class MalformedRequest(InvalidArgument):
    """A request message that does not decode as its RPC's request type (truncated bytes,
    invalid UTF-8 in a string, nesting past the parser's limit)."""

    reason = "MALFORMED_REQUEST"


class InvalidPageToken(InvalidArgument):
    reason = "INVALID_PAGE_TOKEN"


class RequestIdReused(InvalidArgument):
    reason = "REQUEST_ID_REUSED"


class NotFound(ControlPlaneError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"

    @classmethod
    def resource(cls, name: str) -> NotFound:
        return cls(f"{name} not found", metadata={"resource": name})


class AlreadyExists(ControlPlaneError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"

    @classmethod
    def resource(cls, name: str) -> AlreadyExists:
        return cls(f"{name} already exists", metadata={"resource": name})


class FailedPrecondition(ControlPlaneError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class ParamAlreadySet(FailedPrecondition):
    reason = "PARAM_ALREADY_SET"


class EtagMismatch(ControlPlaneError):
    code = grpc.StatusCode.ABORTED
    reason = "ETAG_MISMATCH"

    @classmethod
    def resource(cls, name: str) -> EtagMismatch:
        return cls(
            f"{name} was changed since it was read (etag mismatch); read it again and retry",
            metadata={"resource": name},
        )


class Conflict(ControlPlaneError):
    code = grpc.StatusCode.ABORTED
    reason = "CONFLICT"


class PermissionDenied(ControlPlaneError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class Unauthenticated(ControlPlaneError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class QuotaExceeded(ControlPlaneError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "QUOTA_EXCEEDED"


class ContentMismatch(InvalidArgument):
    """Uploaded bytes that do not match the sha256 or size their header declared."""

    reason = "CONTENT_MISMATCH"


class PluginFailed(ControlPlaneError):
    """A plugin raised; the client learns which plugin, the log gets the traceback."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "PLUGIN_FAILED"

    @classmethod
    def of(cls, kind: str, plugin: str, action: str) -> PluginFailed:
        return cls(
            f"the {kind} plugin {plugin!r} failed to {action}; the server log has the details",
            metadata={"plugin": plugin, "kind": kind},
        )
