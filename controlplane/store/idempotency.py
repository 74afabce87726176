"""AIP-155 idempotency: the first response to a Create with a request_id is stored in the same
transaction as the resource, and a retry of the same request gets that response back."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar, cast

from google.protobuf.message import Message
from sqlalchemy import Table, bindparam, select

from controlplane import clock
from controlplane.errors import RequestIdReused
from controlplane.store.db import UnitOfWork
from controlplane.store.direct import TENANT_PARAM, DirectUnit, Prepared
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
    return _stored(
        record.method, record.request_hash, record.response, method, request, response_type
    )


def _stored(
    stored_method: str,
    stored_hash: bytes,
    response: bytes,
    method: str,
    request: Message,
    response_type: type[M],
) -> M:
    """The stored response, if it answered this very request; RequestIdReused otherwise."""
    if stored_method != method or stored_hash != _fingerprint(request):
        raise RequestIdReused.for_field(
            "request_id", "was already used for a different request; use a new UUID"
        )
    return response_type.FromString(response)


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


# The same on a direct write (the embedded store's hot paths, ``controlplane.store.direct``).
_RECORDS = cast(Table, IdempotencyRecord.__table__)
_DIRECT_GET = Prepared(
    select(IdempotencyRecord.method, IdempotencyRecord.request_hash, IdempotencyRecord.response)
    .where(IdempotencyRecord.tenant_id == bindparam(TENANT_PARAM))
    .where(IdempotencyRecord.request_id == bindparam("request_id"))
)
_DIRECT_INSERT = Prepared(
    _RECORDS.insert().values(
        {c.name: bindparam(c.name) for c in _RECORDS.columns if c.name != "pk"}
    )
)


def replay_direct(
    direct: DirectUnit, request_id: str, method: str, request: Message, response_type: type[M]
) -> M | None:
    """``replay`` inside a direct write."""
    if not request_id:
        return None
    record = direct.first(_DIRECT_GET, request_id=request_id)
    if record is None:
        return None
    stored_method, stored_hash, response = cast(tuple[str, bytes, bytes], record)
    return _stored(stored_method, stored_hash, response, method, request, response_type)


def remember_direct(
    direct: DirectUnit, request_id: str, method: str, request: Message, response: Message
) -> None:
    """``remember`` inside a direct write."""
    if not request_id:
        return
    row: dict[str, Any] = {
        "request_id": request_id,
        "method": method,
        "request_hash": _fingerprint(request),
        "response": response.SerializeToString(deterministic=True),
        "create_time": clock.now_us(),
    }
    direct.execute_many(_DIRECT_INSERT, [row])
