"""Tenant scoping by construction.

The tenant of the current call lives in a context variable (set by the server's tenancy
interceptor, or explicitly by ``tenant_scope``). Every ORM statement that touches a
``TenantOwned`` model gets ``tenant_id = <current tenant>`` added to it for every such entity
(aliases and relationship loads included), and every flushed row must carry the current
tenant. A statement on tenant-owned data with no tenant in context fails loudly instead of
reading across tenants; the few platform operations (bootstrap, authentication, the tenants
table) opt out explicitly with ``platform_scope``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import Delete, Update
from sqlalchemy.sql.elements import ColumnClause, TextClause
from sqlalchemy.sql.selectable import (
    Alias,
    FromGrouping,
    Join,
    Select,
    TableClause,
    TextualSelect,
)

from controlplane.store.models import Base, TenantOwned

_PLATFORM = object()
_scope: ContextVar[str | object | None] = ContextVar("controlplane_tenant_scope", default=None)
# The tenant a request addressed (``set_tenant``), which must exist: every transaction run for
# it checks that it does (``Database``), for platform administrators too, whom the server lets
# address any tenant name. ``tenant_scope`` and ``platform_scope`` (the server's own work, such
# as creating a tenant) lift the check for their block.
_addressed: ContextVar[str | None] = ContextVar("controlplane_addressed_tenant", default=None)


class TenancyViolation(RuntimeError):
    """A query or write on tenant-owned data outside a tenant scope, or across tenants."""


@contextmanager
def tenant_scope(tenant_id: str) -> Iterator[None]:
    token = _scope.set(tenant_id)
    addressed = _addressed.set(None)
    try:
        yield
    finally:
        _addressed.reset(addressed)
        _scope.reset(token)


@contextmanager
def platform_scope() -> Iterator[None]:
    """Lifts scoping for platform work that must see every tenant (use sparingly)."""
    token = _scope.set(_PLATFORM)
    addressed = _addressed.set(None)
    try:
        yield
    finally:
        _addressed.reset(addressed)
        _scope.reset(token)


def set_tenant(tenant_id: str) -> None:
    """Sets the tenant for the rest of the current task (used by the tenancy interceptor):
    the tenant a request addresses, which must exist (``addressed_tenant``)."""
    _scope.set(tenant_id)
    _addressed.set(tenant_id)


def addressed_tenant() -> str | None:
    """The tenant the current request addressed, which each of its transactions must find in
    the tenants table (None for the server's own work, in ``tenant_scope`` or
    ``platform_scope``)."""
    return _addressed.get()


def current_tenant() -> str:
    scope = _scope.get()
    if not isinstance(scope, str):
        raise TenancyViolation("no tenant in context")
    return scope


def scope_setting() -> str:
    """The scope as the database's row-level security reads it: a tenant id, ``*`` for
    platform work, or empty (which matches no row) when there is no scope."""
    scope = _scope.get()
    if scope is _PLATFORM:
        return "*"
    return scope if isinstance(scope, str) else ""


def _is_platform() -> bool:
    return _scope.get() is _PLATFORM


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, TenantOwned) for mapper in state.all_mappers)


@functools.cache
def tenant_tables() -> frozenset[str]:
    return frozenset(
        mapper.local_table.name  # type: ignore[attr-defined]
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, TenantOwned)
    )


def _names_tenant_table(statement: Any) -> bool:
    return any(
        isinstance(element, Table) and element.name in tenant_tables()
        for element in visitors.iterate(statement)
    )


def _is_tenant_from(element: Any) -> bool:
    """A tenant-owned table, or an alias of one, referenced as Core (not through a model, so
    ``with_loader_criteria`` cannot scope it)."""
    if "parententity" in getattr(element, "_annotations", {}):
        return False
    base = element.element if isinstance(element, Alias) else element
    return isinstance(base, TableClause) and base.name in tenant_tables()


def _from_leaves(element: Any) -> Iterator[Any]:
    if isinstance(element, FromGrouping):
        yield from _from_leaves(element.element)
    elif isinstance(element, Join):
        yield from _from_leaves(element.left)
        yield from _from_leaves(element.right)
    else:
        yield element


def _names_core_tenant_table(statement: Any) -> bool:
    """Whether a statement on models also reads a tenant-owned table as Core: a column of it,
    or the table (or a Core alias) in ``select_from``, a join or a DML target, anywhere in the
    statement, subqueries included. The criteria added to the models would miss it."""
    for element in visitors.iterate(statement):
        if isinstance(element, ColumnClause):
            if (
                element.table is not None
                and "parententity" not in element._annotations
                and _is_tenant_from(element.table)
            ):
                return True
        elif isinstance(element, Select):
            froms = [leaf for f in element._from_obj for leaf in _from_leaves(f)]
            joined = [join[0] for join in element._setup_joins]
            if any(_is_tenant_from(f) for f in (*froms, *joined)):
                return True
        elif isinstance(element, (Update, Delete)) and _is_tenant_from(element.table):
            return True
    return False


@functools.cache
def _tenant_table_names() -> re.Pattern[str]:
    names = "|".join(sorted(map(re.escape, tenant_tables())))
    return re.compile(rf"\b({names})\b", re.IGNORECASE)


def _check_text(state: ORMExecuteState) -> None:
    """Raw SQL cannot be given criteria. PostgreSQL's row-level security scopes it; SQLite has
    none, so there SQL text that names a tenant-owned table is refused outside platform work."""
    if state.session.get_bind().dialect.name != "sqlite":
        return
    sql = str(state.statement)
    found = _tenant_table_names().search(sql)
    if found:
        raise TenancyViolation(
            f"raw SQL on the tenant-owned table {found.group(1)!r} cannot be scoped on SQLite; "
            "build it from the models"
        )


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if _is_platform():
        return
    if isinstance(state.statement, (TextClause, TextualSelect)):
        _check_text(state)
        return
    if state.is_insert:
        _check_insert(state)
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if not _touches_tenant_data(state):
        # Criteria can only be added to ORM entities: a Core statement on a table, or a
        # UNION, that reads tenant-owned rows would run unscoped, so it is refused.
        if _names_tenant_table(state.statement):
            raise TenancyViolation(
                "statement on tenant-owned tables that the ORM cannot scope (a Core table "
                "statement or a compound select); select model entities or columns instead"
            )
        return
    if _names_core_tenant_table(state.statement):
        raise TenancyViolation(
            "statement on tenant-owned tables that the ORM cannot scope (a Core table or "
            "column beside the models); select model entities or columns instead"
        )
    tenant = _scope.get()
    if not isinstance(tenant, str):
        raise TenancyViolation("query on tenant-owned data with no tenant in context")
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantOwned,
            lambda cls: cls.tenant_id == tenant,
            include_aliases=True,
            propagate_to_loaders=True,
        )
    )


def _check_insert(state: ORMExecuteState) -> None:
    """Every inserted row of a tenant-owned table must carry the current tenant, whether the
    statement names a model or its table."""
    table = getattr(state.statement, "table", None)
    if not (
        _touches_tenant_data(state) or (isinstance(table, Table) and table.name in tenant_tables())
    ):
        return
    tenant = current_tenant()
    params: Any = state.parameters
    rows = params if isinstance(params, list) else [params] if params else []
    if not rows:
        raise TenancyViolation("insert into a tenant-owned table must pass its rows as parameters")
    for row in rows:
        if row.get("tenant_id") != tenant:
            raise TenancyViolation(f"insert of a row of tenant {row.get('tenant_id')!r}")


@event.listens_for(Session, "before_flush")
def _check_flushed_rows(session: Session, flush: UOWTransaction, instances: Any) -> None:
    if _is_platform():
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, TenantOwned):
            continue
        tenant = current_tenant()
        if obj.tenant_id is None:
            obj.tenant_id = tenant
        elif obj.tenant_id != tenant:
            raise TenancyViolation(f"write of a row of tenant {obj.tenant_id!r} in {tenant!r}")
