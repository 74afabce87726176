"""Audit records: one row per mutation, written in the mutation's own transaction by both
write paths (``Database.write`` and ``Database.direct_write``)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table

from controlplane import clock
from controlplane.store.models import AuditEvent
from controlplane.store.tenancy import current_tenant


@dataclass(frozen=True)
class CallInfo:
    """Who is calling and why, for audit records (set by the server per RPC)."""

    principal: str = "system"
    method: str = ""
    request_id: str = ""


# CallInfo is frozen, so sharing one default instance is safe.
call_info: ContextVar[CallInfo] = ContextVar("controlplane_call_info", default=CallInfo())  # noqa: B039

AUDIT_INSERT = cast(Table, AuditEvent.__table__).insert()
# The columns of an audit row (the keys of ``audit_row``); the rest are the database's.
AUDIT_COLUMNS = ("tenant_id", "time", "principal", "method", "resource", "request_id", "detail")


def audit_row(resource: str, detail: dict[str, Any]) -> dict[str, Any]:
    """The audit row of a change to ``resource`` by the current caller, in the current tenant."""
    info = call_info.get()
    return {
        "tenant_id": current_tenant(),
        "time": clock.now_us(),
        "principal": info.principal,
        "method": info.method,
        "resource": resource,
        "request_id": info.request_id,
        "detail": detail,
    }
