"""Errors of the client: a failed RPC becomes an :class:`ApiError` that carries the decoded
``google.rpc.Status`` (ErrorInfo reason and metadata, BadRequest field violations)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

__all__ = ["ApiError", "FieldViolation", "from_rpc_error"]


@dataclass(frozen=True)
class FieldViolation:
    """One bad request field, named by its path in the request (e.g. ``run.tags``)."""

    field: str
    description: str


class ApiError(Exception):
    """A failed call.

    ``code`` is the gRPC status code, ``reason`` the ErrorInfo reason (for example
    ``NOT_FOUND``, ``PARAM_ALREADY_SET``; empty when the server sent none, as for a connection
    failure), ``field_violations`` the BadRequest details and ``metadata`` the ErrorInfo
    metadata (for example ``{"resource": "tenants/acme/experiments/x"}``).
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str = "",
        field_violations: list[FieldViolation] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code, message, reason, field_violations)
        self.code = code
        self.message = message
        self.reason = reason
        self.field_violations: list[FieldViolation] = list(field_violations or [])
        self.metadata: dict[str, str] = dict(metadata or {})

    @property
    def fields(self) -> list[str]:
        """The paths of the violated request fields."""
        return [violation.field for violation in self.field_violations]

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.reason and self.reason != self.code.name:
            text += f" [{self.reason}]"
        return text

    def __repr__(self) -> str:
        return (
            f"ApiError(code={self.code.name}, message={self.message!r}, reason={self.reason!r}, "
            f"field_violations={self.field_violations!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.code, self.message, self.reason, self.field_violations, self.metadata),
        )


def _code_of(error: grpc.RpcError) -> grpc.StatusCode:
    code = getattr(error, "code", None)
    value = code() if callable(code) else None
    return value if isinstance(value, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def _details_of(error: grpc.RpcError) -> str:
    details = getattr(error, "details", None)
    value = details() if callable(details) else None
    return value if isinstance(value, str) else str(error)


def from_rpc_error(error: grpc.RpcError) -> ApiError:
    """Decodes the rich status of a failed call (``grpc-status-details-bin``)."""
    code = _code_of(error)
    message = _details_of(error)
    reason = ""
    violations: list[FieldViolation] = []
    info_metadata: dict[str, str] = {}
    status = None
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        # A status whose code or message disagrees with the call's, or an error that is not
        # a call at all: keep what the call itself says.
        status = None
    if status is not None:
        message = status.message or message
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
                info_metadata = dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad_request.field_violations
                )
    return ApiError(code, message, reason, violations, info_metadata)
