"""Direct SQL on the embedded store's writer connection, for the metric-logging hot path.

Logging one metric point through an ORM session costs about 0.5 ms of SQLAlchemy bookkeeping
(session, events, result objects, a greenlet switch per driver call) around 0.06 ms of SQLite.
On the embedded store that bookkeeping is most of a LogMetricBatch, so the hot path runs its
statements straight on the writer's sqlite3 connection. The statements are still built with
SQLAlchemy Core from the models and compiled once, so the SQL cannot drift from the schema.

The rules of ``Database.write`` hold here too, enforced in this module:

* tenancy, by construction: every tenant-owned table a statement reads or writes must be
  scoped to the bind parameter ``tenant_id`` on its own (``check_scoped``, run when the
  statement is prepared, so an unscoped statement fails at import), and the unit always binds
  that parameter to the current tenant (a caller cannot pass another);
* audit: a unit that executed a write must record an audit event, or it does not commit;
* one writer: the unit holds the writer (its connection and lock), so it queues behind any
  open write transaction instead of failing with "database is locked".
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql import ClauseElement, compiler, operators, visitors
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ColumnClause,
    Grouping,
    TextClause,
)
from sqlalchemy.sql.selectable import Alias, FromClause, FromGrouping, Join, Select, TableClause

from controlplane.store.audit import AUDIT_COLUMNS, AUDIT_INSERT, audit_row
from controlplane.store.tenancy import TenancyViolation, current_tenant, tenant_tables

_DIALECT = sqlite.dialect()
TENANT_PARAM = "tenant_id"
# Every statement prepared in this process, checked or declared platform-level (for the tests
# that assert each one was checked).
PREPARED: list[Prepared] = []


class Prepared:
    """A Core statement compiled once for SQLite: its SQL, parameter order and converters."""

    def __init__(self, statement: ClauseElement, *, platform: bool = False) -> None:
        """Compiles ``statement`` after checking that it is scoped to the current tenant on
        every tenant-owned table (``check_scoped``); raises ``TenancyViolation`` if not.
        ``platform=True`` declares a statement that is platform-level on purpose (it reads or
        writes across tenants) and skips the check: keep those few, and reviewed."""
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
        self.statement = statement
        self.platform = platform
        # Where it was prepared (the module that called), for the tests that list them.
        self.origin: str = sys._getframe(1).f_globals.get("__name__", "")
        # The tenant-owned tables the statement was checked to scope (empty if it names none).
        self.scoped_tables: frozenset[str] = (
            frozenset() if platform else check_scoped(statement, self.sql)
        )
        PREPARED.append(self)

    def arguments(self, values: Mapping[str, Any], tenant: str | None) -> tuple[Any, ...]:
        """Positional arguments; ``tenant_id`` is always ``tenant``, whatever ``values`` say."""
        row = []
        for name in self.names:
            value = tenant if name == TENANT_PARAM else values[name]
            converter = self._converters.get(name)
            row.append(converter(value) if converter is not None else value)
        return tuple(row)


# -- the scoping check ----------------------------------------------------------------------------
# SQLite has no row-level security behind these statements, so each tenant-owned table one names
# must be filtered to the tenant on its own: ``<that table>.tenant_id = :tenant_id`` as a
# top-level conjunct of the WHERE clause of the statement that reads it, or of the ON clause
# that joins it (the right side of an outer join; either side of an inner one). A filter on one
# table of a join does not scope the others, and neither does ``a.tenant_id = b.tenant_id``.
# Writes: UPDATE and DELETE scope their target (and any other table) in WHERE; INSERT binds its
# ``tenant_id`` to the parameter (VALUES) or to a scoped table's ``tenant_id`` (INSERT ...
# SELECT), and an upsert's DO UPDATE only touches a row of that tenant. Subqueries are checked
# the same way; raw SQL text cannot be, so it is refused.

_SAFE_LITERAL = re.compile(r"-?[0-9]+(\.[0-9]+)?|NULL|TRUE|FALSE", re.IGNORECASE)


def _key(element: Any) -> Any:
    """One FROM element, whatever ORM annotations a reference to it carries."""
    return element._deannotate() if hasattr(element, "_deannotate") else element


def _tenant_table(element: Any) -> str | None:
    """The tenant-owned table behind a FROM element (a table or an alias of one), or None."""
    if isinstance(element, Alias):
        element = element.element
    if isinstance(element, TableClause) and element.name in tenant_tables():
        return str(element.name)
    return None


def _conjuncts(clause: Any) -> Iterator[Any]:
    """The top-level AND terms of a WHERE or ON clause (nothing under an OR)."""
    if clause is None:
        return
    if isinstance(clause, Grouping):
        yield from _conjuncts(clause.element)
    elif isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
        for term in clause.clauses:
            yield from _conjuncts(term)
    else:
        yield clause


def _is_tenant_param(element: Any) -> bool:
    """The tenant bind parameter itself (not a literal that happens to be named after it)."""
    return (
        isinstance(element, BindParameter)
        and element.key == TENANT_PARAM
        and not element.unique
        and element.value is None
        and element.callable is None
    )


def _tenant_column_of(element: Any) -> Any:
    """The FROM key of ``element`` if it is some table's ``tenant_id`` column, else None."""
    if (
        isinstance(element, ColumnClause)
        and element.name == "tenant_id"
        and element.table is not None
    ):
        return _key(element.table)
    return None


def _scoped_by(clause: Any) -> set[Any]:
    """The FROM keys that ``clause`` filters to the tenant parameter."""
    scoped = set()
    for term in _conjuncts(clause):
        if isinstance(term, BinaryExpression) and term.operator is operators.eq:
            for column, other in ((term.left, term.right), (term.right, term.left)):
                key = _tenant_column_of(column)
                if key is not None and _is_tenant_param(other):
                    scoped.add(key)
    return scoped


def _leaves(element: Any) -> Iterator[Any]:
    """The tables, aliases and subqueries of a FROM element, through its joins."""
    if isinstance(element, FromGrouping):
        yield from _leaves(element.element)
    elif isinstance(element, Join):
        yield from _leaves(element.left)
        yield from _leaves(element.right)
    else:
        yield element


def _join_scoped(element: Any) -> set[Any]:
    """The leaves of a FROM element that its joins' ON clauses scope."""
    if isinstance(element, FromGrouping):
        return _join_scoped(element.element)
    if not isinstance(element, Join):
        return set()
    scoped = _join_scoped(element.left) | _join_scoped(element.right)
    on = _scoped_by(element.onclause)
    if element.full:
        return scoped
    sides = [element.right] if element.isouter else [element.left, element.right]
    for side in sides:
        scoped |= {key for key in map(_key, _leaves(side)) if key in on}
    return scoped


class _Check:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.checked: set[Any] = set()  # every FROM key some statement of the tree scoped
        self.tables: set[str] = set()

    def fail(self, why: str) -> None:
        raise TenancyViolation(
            f"{why} (a direct statement must scope {TENANT_PARAM!r}): {self.sql}"
        )

    def require(self, froms: Iterable[Any], scoped: set[Any], where: str) -> None:
        for element in froms:
            key = _key(element)
            table = _tenant_table(key)
            if table is None:
                continue
            if key not in scoped:
                self.fail(
                    f"the tenant-owned table {table!r} is not filtered on its tenant_id in {where}"
                )
            self.checked.add(key)
            self.tables.add(table)

    def statement(self, element: Any, enclosing: frozenset[Any]) -> None:
        if isinstance(element, Select):
            self.select(element, enclosing)
        elif isinstance(element, Insert):
            self.insert(element, enclosing)
        elif isinstance(element, (Update, Delete)):
            self.update_or_delete(element, enclosing)
        else:
            self.children(element, enclosing)

    def children(self, element: Any, enclosing: frozenset[Any]) -> None:
        """Checks the statements nested in ``element``, and refuses SQL text it cannot read."""
        if isinstance(element, TextClause):
            self.fail("raw SQL text cannot be checked for tenant scoping; build it from the models")
        if (
            isinstance(element, ColumnClause)
            and element.is_literal
            and not _SAFE_LITERAL.fullmatch(element.name)
        ):
            self.fail(f"literal SQL {element.name!r} cannot be checked for tenant scoping")
        # A subquery in FROM is not correlated to the statement around it.
        inner = frozenset() if isinstance(element, FromClause) else enclosing
        for child in element.get_children():
            self.statement(child, inner)

    def select(self, select: Select[Any], enclosing: frozenset[Any]) -> None:
        froms = select.get_final_froms()
        scoped = _scoped_by(select.whereclause)
        for element in froms:
            scoped |= _join_scoped(element)
        # A table of an enclosing statement (a correlated subquery) was checked there.
        leaves = [leaf for element in froms for leaf in _leaves(element)]
        self.require([leaf for leaf in leaves if _key(leaf) not in enclosing], scoped, "its SELECT")
        self.children(select, enclosing | {_key(leaf) for leaf in leaves})

    def update_or_delete(self, statement: Update | Delete, enclosing: frozenset[Any]) -> None:
        where = statement.whereclause
        froms = [statement.table, *(where._from_objects if where is not None else ())]
        self.require(froms, _scoped_by(where), "the WHERE clause of its UPDATE or DELETE")
        leaves = [leaf for element in froms for leaf in _leaves(element)]
        self.children(statement, enclosing | {_key(leaf) for leaf in leaves})

    def insert(self, insert: Insert, enclosing: frozenset[Any]) -> None:
        target = _key(insert.table)
        table = _tenant_table(target)
        if table is not None:
            self._insert_tenant(insert, table)
            self.checked.add(target)
            self.tables.add(table)
            self._upsert(insert, table)
        self.children(insert, enclosing | {target})

    def _insert_tenant(self, insert: Insert, table: str) -> None:
        """The inserted rows' tenant_id is the tenant parameter (or a scoped table's)."""
        if insert.select is not None:
            names = [getattr(c, "name", c) for c in insert._select_names or ()]
            columns = list(insert.select.selected_columns)
            if "tenant_id" in names and len(columns) == len(names):
                value = columns[names.index("tenant_id")]
                # The parameter, or a tenant-owned table's tenant_id (the SELECT is checked
                # to scope every one).
                if _is_tenant_param(value) or _tenant_table(_tenant_column_of(value)):
                    return
            self.fail(f"INSERT INTO {table!r} ... SELECT must select tenant_id from the parameter")
        rows: list[Mapping[Any, Any]] = []
        if insert._multi_values:
            for batch in insert._multi_values:
                rows.extend(row for row in batch if isinstance(row, Mapping))
        elif insert._values:
            rows.append(insert._values)
        if not rows:
            self.fail(f"INSERT INTO {table!r} must set tenant_id=bindparam({TENANT_PARAM!r})")
        for row in rows:
            value = next((v for k, v in row.items() if getattr(k, "name", k) == "tenant_id"), None)
            if not _is_tenant_param(value):
                self.fail(
                    f"INSERT INTO {table!r} must bind tenant_id to the parameter "
                    f"{TENANT_PARAM!r}, not {value!r}"
                )

    def _upsert(self, insert: Insert, table: str) -> None:
        """ON CONFLICT DO UPDATE updates the row the new one collides with: it must be the
        tenant's (the conflict target includes tenant_id, or the DO UPDATE's WHERE says so)."""
        clause: Any = insert._post_values_clause
        if clause is None or not hasattr(clause, "update_values_to_set"):
            return
        target = [getattr(c, "name", c) for c in clause.inferred_target_elements or ()]
        if "tenant_id" in target:
            return
        if _key(insert.table) in _scoped_by(clause.update_whereclause):
            return
        for term in _conjuncts(clause.update_whereclause):
            if isinstance(term, BinaryExpression) and term.operator is operators.eq:
                keys = [_tenant_column_of(term.left), _tenant_column_of(term.right)]
                if any(k is not None and k is _key(insert.table) for k in keys) and any(
                    isinstance(k, Alias) and k.name == "excluded" for k in keys
                ):
                    return
        self.fail(
            f"INSERT INTO {table!r} ... ON CONFLICT DO UPDATE must update only the tenant's row "
            "(tenant_id in the conflict target, or tenant_id = excluded.tenant_id in its WHERE)"
        )

    def everything_checked(self, statement: ClauseElement) -> None:
        """The safety net: no column of a tenant-owned table is left that no check covered."""
        for element in visitors.iterate(statement):
            if isinstance(element, ColumnClause) and element.table is not None:
                key = _key(element.table)
                table = _tenant_table(key)
                if table is None or key in self.checked:
                    continue
                if isinstance(key, Alias) and key.name == "excluded":
                    continue  # an upsert's new row, checked with the INSERT
                self.fail(f"a column of the tenant-owned table {table!r} is not scoped")


def check_scoped(statement: ClauseElement, sql: str | None = None) -> frozenset[str]:
    """Raises ``TenancyViolation`` unless every tenant-owned table ``statement`` reads or
    writes is filtered to the tenant parameter on its own (see above); returns those tables."""
    check = _Check(sql if sql is not None else str(statement))
    check.statement(statement, frozenset())
    check.everything_checked(statement)
    return frozenset(check.tables)


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
