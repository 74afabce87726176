"""The tenant a request addresses must exist.

The server lets a platform administrator address any ``tenants/{t}/...``; without a check, a
tenant that does not exist would look like an empty one (an empty list, an empty audit trail).
So every transaction run for a request checks that the tenant it addressed
(``tenancy.addressed_tenant``) is in the tenants table, and fails with NOT_FOUND naming the
tenant otherwise. It is one check for every RPC, made where the transaction starts:

- PostgreSQL: in the statement that already hands the tenant to row-level security at the
  start of every transaction, so it costs no round trip and is exact for that transaction.
- SQLite writes: on the writer's own connection inside the transaction (which holds the
  database's write lock), so it is exact and costs a few microseconds.
- SQLite reads: from ``TenantCheck``'s cache of tenants found, filled by a query in the read's
  transaction on a miss. Deleting a tenant through this process removes it from the cache at
  commit; a deletion made by another process sharing the file is seen within ``TTL_SECONDS``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.errors import NotFound
from controlplane.names import TENANT
from controlplane.store.tenancy import addressed_tenant, scope_setting

# Where ``delete_tenant`` notes the tenants a write session deleted (``AsyncSession.info``).
DELETED_TENANTS = "controlplane_deleted_tenants"
# How long the embedded store's readers trust that a tenant they found still exists.
TTL_SECONDS = 5.0

_SET_SCOPE = text("SELECT set_config('controlplane.tenant', :scope, true)")
_SET_SCOPE_AND_FIND = text(
    "SELECT set_config('controlplane.tenant', :scope, true),"
    " EXISTS (SELECT 1 FROM tenants WHERE id = :tenant)"
)
_FIND = text("SELECT 1 FROM tenants WHERE id = :tenant")
_FIND_RAW = "SELECT 1 FROM tenants WHERE id = ?"


def missing(tenant: str) -> NotFound:
    return NotFound.resource(TENANT.format(tenant))


def note_deleted(session: AsyncSession, tenant: str) -> None:
    """Records in the write session that it deletes ``tenant`` (forgotten at commit)."""
    session.info.setdefault(DELETED_TENANTS, set()).add(tenant)


class TenantCheck:
    """The check for one database (see the module's docstring)."""

    def __init__(self, *, sqlite: bool) -> None:
        self.sqlite = sqlite
        # SQLite readers: tenant -> when it was last found.
        self._found: dict[str, float] = {}

    async def begin_postgres(self, session: AsyncSession) -> None:
        """Hands the scope to row-level security for this transaction and checks the
        addressed tenant, in one statement."""
        tenant = addressed_tenant()
        if tenant is None:
            await session.execute(_SET_SCOPE, {"scope": scope_setting()})
            return
        row = (
            await session.execute(_SET_SCOPE_AND_FIND, {"scope": scope_setting(), "tenant": tenant})
        ).one()
        if not row[1]:
            raise missing(tenant)

    async def begin_sqlite_read(self, session: AsyncSession) -> None:
        tenant = addressed_tenant()
        if tenant is None:
            return
        found = self._found.get(tenant)
        now = time.monotonic()
        if found is not None and now - found < TTL_SECONDS:
            return
        if await session.scalar(_FIND, {"tenant": tenant}) is None:
            self._found.pop(tenant, None)
            raise missing(tenant)
        self._found[tenant] = now

    def begin_sqlite_write(self, connection: sqlite3.Connection) -> None:
        """Checks on the writer's connection, in its transaction."""
        tenant = addressed_tenant()
        if tenant is None:
            return
        cursor = connection.execute(_FIND_RAW, (tenant,))
        try:
            found = cursor.fetchone()
        finally:
            cursor.close()
        if found is None:
            raise missing(tenant)

    def forget(self, tenants: Iterable[str]) -> None:
        """Tenants a committed transaction deleted."""
        for tenant in tenants:
            self._found.pop(tenant, None)
