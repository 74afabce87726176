"""Direct SQL on the embedded store's writer connection, for the metric-logging hot path.

Logging one metric point through an ORM session costs about 0.5 ms of SQLAlchemy bookkeeping
(session, events, result objects, a greenlet switch per driver call) around 0.06 ms of SQLite.
On the embedded store that bookkeeping is most of a LogMetricBatch, so the hot path runs its
statements straight on the writer's sqlite3 connection. The statements are still built with
SQLAlchemy Core from the models and compiled once, so the SQL cannot drift from the schema.

The rules of ``Database.write`` hold here too, enforced in this module:

* tenancy: every statement on a tenant-owned table must take the bind parameter ``tenant_id``,
  and the unit always binds it to the current tenant (a caller cannot pass another);
* audit: a unit that executed a write must record an audit event, or it does not commit;
* one writer: the unit holds the writer (its connection and lock), so it queues behind any
  open write transaction instead of failing with "database is locked".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql import ClauseElement, compiler, visitors

from controlplane.store.audit import AUDIT_COLUMNS, AUDIT_INSERT, audit_row
from controlplane.store.tenancy import TenancyViolation, current_tenant, tenant_tables

_DIALECT = sqlite.dialect()
TENANT_PARAM = "tenant_id"


class Prepared:
    """A Core statement compiled once for SQLite: its SQL, parameter order and converters."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        if not isinstance(compiled, compiler.SQLCompiler):
            raise TypeError(f"not a SQL statement: {statement!r}")
        self.sql = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.writes = bool(compiled.isinsert or compiled.isupdate or compiled.isdelete)
        converters: dict[str, Callable[[Any], Any]] = {}
        for name in self.names:
            converter = compiled.binds[name].type.bind_processor(_DIALECT)
            if converter is not None:
                converters[name] = converter
        self._converters = converters
        touches_tenant_rows = any(
            isinstance(element, Table) and element.name in tenant_tables()
            for element in visitors.iterate(statement)
        )
        if touches_tenant_rows and TENANT_PARAM not in self.names:
            raise TenancyViolation(
                f"a direct statement on tenant-owned rows must bind {TENANT_PARAM!r}: {self.sql}"
            )

    def arguments(self, values: Mapping[str, Any], tenant: str | None) -> tuple[Any, ...]:
        """Positional arguments; ``tenant_id`` is always ``tenant``, whatever ``values`` say."""
        row = []
        for name in self.names:
            value = tenant if name == TENANT_PARAM else values[name]
            converter = self._converters.get(name)
            row.append(converter(value) if converter is not None else value)
        return tuple(row)


_AUDIT = Prepared(AUDIT_INSERT.values({column: bindparam(column) for column in AUDIT_COLUMNS}))


class DirectUnit:
    """One write transaction on the raw connection (see ``Database.direct_write``)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._tenant: str | None = None
        self._mutated = False
        self._audit_rows: list[dict[str, Any]] = []
        self.appended: set[tuple[str, str]] = set()

    def _tenant_for(self, statement: Prepared) -> str | None:
        if TENANT_PARAM not in statement.names:
            return None
        if self._tenant is None:
            self._tenant = current_tenant()  # raises outside a tenant scope
        return self._tenant

    def first(self, statement: Prepared, **values: Any) -> tuple[Any, ...] | None:
        """The first row of ``statement`` (a query, or a write with RETURNING)."""
        self._mutated = self._mutated or statement.writes
        cursor = self._connection.execute(
            statement.sql, statement.arguments(values, self._tenant_for(statement))
        )
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return tuple(row) if row is not None else None

    def execute_many(self, statement: Prepared, rows: Iterable[Mapping[str, Any]]) -> None:
        tenant = self._tenant_for(statement)
        self._mutated = self._mutated or statement.writes
        self._connection.executemany(
            statement.sql, [statement.arguments(row, tenant) for row in rows]
        )

    def audit(self, resource: str, **detail: Any) -> None:
        self._audit_rows.append(audit_row(resource, detail))

    def append_to_feed(self, feed: str) -> None:
        """Declares that this transaction appends to ``feed`` for the current tenant, so its
        watchers are woken after commit (``UnitOfWork.append_to_feed``; the embedded store's
        one writer already commits a feed's rows in pk order)."""
        self.appended.add((feed, current_tenant()))

    def finish(self) -> None:
        """Writes the audit rows; refuses to let a mutation without one commit."""
        if self._mutated and not self._audit_rows:
            raise RuntimeError("a mutation was about to commit without an audit event")
        if self._audit_rows:
            self._connection.executemany(
                _AUDIT.sql, [_AUDIT.arguments(row, row["tenant_id"]) for row in self._audit_rows]
            )
