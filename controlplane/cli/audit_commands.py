"""``mlctl audit``: the tenant's audit trail."""

from __future__ import annotations

import argparse
import json

from controlplane.cli import output
from controlplane.cli.commands import _list, command, tenant_name
from controlplane.client import Client
from controlplane.v1 import audit_service_pb2 as pb


def _row(event: pb.AuditEvent) -> list[str]:
    detail = output.to_dict(event.detail) if event.detail.fields else {}
    return [
        output.timestamp(event.time, milliseconds=True),
        event.principal,
        event.method,
        event.resource,
        event.request_id,
        json.dumps(detail, sort_keys=True, separators=(",", ":")),
    ]


@command
def audit_list(args: argparse.Namespace, client: Client) -> None:
    request = pb.ListAuditEventsRequest(parent=tenant_name(args.tenant), filter=args.filter)
    events = client.paginate(
        client.audit.ListAuditEvents, request, "audit_events", limit=args.limit
    )
    _list(
        args,
        "audit_events",
        events,
        ["TIME", "PRINCIPAL", "METHOD", "RESOURCE", "REQUEST ID", "DETAIL"],
        _row,
    )
