"""Per-tenant sequences: the numbers in the names of a tenant's feed rows (governance events,
alias changes) and in its watch cursors.

Primary keys are shared by every tenant, so an id taken from one would jump by the writes other
tenants made in between. A sequence is one ``tenant_sequences`` row per (tenant, name) holding
the last number handed out; taking the next is one upsert that locks that row until commit.

Feed rows take their number after the feed's turn (``UnitOfWork.append_to_feed``): appenders
of a tenant already commit in turn, so the row lock adds no waiting, and numbers become
visible in the order they were handed out, which is what keeps a watch resumed ``after`` a
number exact. A number is never handed out twice, even when the row that had it is deleted
(a model's events go with it), so a watcher's cursor never lands behind a later row. The
session path and the embedded store's direct path run the same statement.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.store.direct import TENANT_PARAM, DirectUnit, Prepared
from controlplane.store.models import TenantSequence
from controlplane.store.tenancy import current_tenant

_TABLE = cast(Table, TenantSequence.__table__)


def _next(insert: Any) -> Any:
    """INSERT (tenant, name, 1) or add one to the existing value, returning the new value."""
    one: Any = literal_column("1")  # not a parameter: the direct path binds only named ones
    statement = insert(_TABLE).values(
        tenant_id=bindparam(TENANT_PARAM), name=bindparam("name"), value=one
    )
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.tenant_id, _TABLE.c.name],
        set_={"value": _TABLE.c.value + one},
    ).returning(_TABLE.c.value)


_NEXT = {"postgresql": _next(postgresql.insert), "sqlite": _next(sqlite.insert)}
_NEXT_DIRECT = Prepared(_NEXT["sqlite"])


async def next_value(session: AsyncSession, name: str) -> int:
    """The next number of the current tenant's sequence ``name`` (1 first)."""
    statement = _NEXT[session.get_bind().dialect.name]
    value = await session.scalar(statement, {TENANT_PARAM: current_tenant(), "name": name})
    return int(cast(int, value))


def next_value_direct(direct: DirectUnit, name: str) -> int:
    """``next_value`` inside a direct write (the embedded store's hot path)."""
    row = direct.first(_NEXT_DIRECT, name=name)
    if row is None:
        raise RuntimeError(f"the sequence {name!r} returned no value")
    return int(row[0])


async def current_value(session: AsyncSession, name: str) -> int:
    """The last number the current tenant's sequence ``name`` handed out (0 before the
    first)."""
    value = await session.scalar(select(TenantSequence.value).where(TenantSequence.name == name))
    return int(value or 0)
