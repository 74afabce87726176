"""AuditService: the tenant's append-only trail of changes, newest first. An event's id is
opaque (``controlplane.store.opaque_ids``): its row's pk counts every tenant's writes."""

from __future__ import annotations

from google.protobuf import json_format

from controlplane import names
from controlplane.services._typing import ServicerContext
from controlplane.services.base import Services
from controlplane.store.audit_query import AUDIT_SCHEMA
from controlplane.store.models import AuditEvent
from controlplane.store.opaque_ids import OpaqueIds
from controlplane.store.query import list_page
from controlplane.v1 import audit_service_pb2 as pb
from controlplane.v1 import audit_service_pb2_grpc as pb_grpc

AUDIT_EVENT = names.Pattern("tenants/{tenant}/auditEvents/{audit_event}")


def audit_event_proto(row: AuditEvent, ids: OpaqueIds) -> pb.AuditEvent:
    event = pb.AuditEvent(
        name=AUDIT_EVENT.format(row.tenant_id, ids.encode(row.pk)),
        principal=row.principal,
        method=row.method,
        resource=row.resource,
        request_id=row.request_id,
    )
    event.time.FromMicroseconds(row.time)
    json_format.ParseDict(row.detail or {}, event.detail)
    return event


class AuditService(pb_grpc.AuditServiceServicer):
    def __init__(self, services: Services) -> None:
        self.db = services.db
        self.tokens = services.tokens
        self.ids = OpaqueIds(services.tokens.derive_key("audit-event-ids"))

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: ServicerContext
    ) -> pb.ListAuditEventsResponse:
        names.TENANT.parse(request.parent, "parent")
        async with self.db.read() as session:
            page = await list_page(
                session,
                AUDIT_SCHEMA,
                tokens=self.tokens,
                query_id=["ListAuditEvents", request.parent],
                filter_text=request.filter,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListAuditEventsResponse(
            audit_events=[audit_event_proto(row, self.ids) for row in page.rows],
            next_page_token=page.next_page_token,
        )
