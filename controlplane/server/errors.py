"""Exceptions to ``google.rpc.Status``: the one mapping from domain errors to the wire."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from controlplane.errors import ControlPlaneError

DOMAIN = "controlplane.dev"
INTERNAL_MESSAGE = "internal error; the server log has the details"


def to_status(error: ControlPlaneError) -> grpc.Status:
    details = []
    info = any_pb2.Any()
    info.Pack(
        error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.metadata)
    )
    details.append(info)
    if error.violations:
        bad_request = any_pb2.Any()
        bad_request.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
        details.append(bad_request)
    return rpc_status.to_status(
        status_pb2.Status(code=error.code.value[0], message=error.message, details=details)
    )


def internal_status() -> grpc.Status:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN))
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INTERNAL, message=INTERNAL_MESSAGE, details=[info])
    )
