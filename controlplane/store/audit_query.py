"""Reading the audit trail (writing it is ``controlplane.store.audit``'s). Tenant-scoped by
``controlplane.store.tenancy`` like every other query."""

from __future__ import annotations

from controlplane.domain import filtering as fl
from controlplane.store.models import AuditEvent
from controlplane.store.query import Column, ListSchema

AUDIT_SCHEMA = ListSchema(
    model=AuditEvent,
    pk=AuditEvent.pk,
    columns={
        "principal": Column(AuditEvent.principal, fl.FieldKind.STRING),
        "method": Column(AuditEvent.method, fl.FieldKind.STRING),
        "resource": Column(AuditEvent.resource, fl.FieldKind.STRING),
        "request_id": Column(AuditEvent.request_id, fl.FieldKind.STRING),
        "time": Column(AuditEvent.time, fl.FieldKind.TIMESTAMP),
    },
    # Newest first; the pk breaks ties between events of the same microsecond.
    default_order=(("time", True),),
)
