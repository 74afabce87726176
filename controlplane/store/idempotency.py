"""AIP-155 idempotency: the first response to a Create with a request_id is stored in the same
transaction as the resource, and a retry of the same request gets that response back."""

from __future__ import annotations

import hashlib
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import select

from controlplane import clock
from controlplane.errors import RequestIdReused
from controlplane.store.db import UnitOfWork
from controlplane.store.models import IdempotencyRecord
from controlplane.store.tenancy import current_tenant

M = TypeVar("M", bound=Message)


def _fingerprint(request: Message) -> bytes:
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()


async def replay(
    unit: UnitOfWork, request_id: str, method: str, request: Message, response_type: type[M]
) -> M | None:
    """The stored response for this request_id, None when it is new; a request_id reused with
    a different request is refused."""
    if not request_id:
        return None
    record = await unit.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.request_id == request_id)
    )
    if record is None:
        return None
    if record.method != method or record.request_hash != _fingerprint(request):
        raise RequestIdReused.for_field(
            "request_id", "was already used for a different request; use a new UUID"
        )
    return response_type.FromString(record.response)


def remember(
    unit: UnitOfWork, request_id: str, method: str, request: Message, response: Message
) -> None:
    if not request_id:
        return
    unit.session.add(
        IdempotencyRecord(
            tenant_id=current_tenant(),
            request_id=request_id,
            method=method,
            request_hash=_fingerprint(request),
            response=response.SerializeToString(deterministic=True),
            create_time=clock.now_us(),
        )
    )
