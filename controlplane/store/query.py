"""List queries: the filter language and order_by compiled to SQL, and keyset pages.

Each List RPC describes its resource once as a ``ListSchema`` (which fields filter and sort,
which map-valued fields like ``metrics.<key>`` live in side tables); this module is the one
place that turns a request's filter, order_by, page_size and page_token into a statement.
Comparisons on map fields become correlated EXISTS subqueries on indexed side tables, never a
join of everything, so a search costs what its page costs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from sqlalchemy import ColumnElement, Integer, Select, and_, exists, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.functions import FunctionElement

from controlplane import clock
from controlplane.domain import filtering as fl
from controlplane.errors import InvalidArgument, InvalidPageToken
from controlplane.store.pagination import PageTokens, SortKey, after_position, page_size


@dataclass(frozen=True)
class Column:
    """A filterable/sortable scalar field of the resource."""

    expr: InstrumentedAttribute[Any]
    kind: fl.FieldKind
    nullable: bool = False
    enum: EnumTypeWrapper | None = None


@dataclass(frozen=True)
class MapField:
    """A map-valued field stored as (owner, key, value) rows in a side table."""

    model: type[Any]
    owner: str  # the side table's column pointing at the resource's pk
    kind: fl.FieldKind


@dataclass(frozen=True)
class ListSchema:
    model: type[Any]
    pk: InstrumentedAttribute[Any]
    columns: Mapping[str, Column]
    maps: Mapping[str, MapField] = field(default_factory=dict)
    default_order: tuple[tuple[str, bool], ...] = (("create_time", False),)

    @property
    def spec(self) -> fl.FieldSpec:
        return fl.FieldSpec(
            {name: column.kind for name, column in self.columns.items()},
            {name: side.kind for name, side in self.maps.items()},
        )


@dataclass
class Page:
    rows: list[Any]
    next_page_token: str


def _literal(value: fl.Literal, kind: fl.FieldKind, column: Column | None, name: str) -> Any:
    if kind is fl.FieldKind.TIMESTAMP:
        return clock.parse_rfc3339(str(value.value))
    if kind is fl.FieldKind.ENUM and column is not None and column.enum is not None:
        try:
            return column.enum.Value(str(value.value))
        except ValueError:
            names = ", ".join(column.enum.keys())
            raise InvalidArgument.for_field(
                "filter", f"{value.value!r} is not a value of {name}; one of {names}"
            ) from None
    return value.value


class Contains(FunctionElement[int]):
    """Position of a substring, case-sensitive on every backend (SQLite's LIKE ignores ASCII
    case, PostgreSQL's does not, so ``:`` is not compiled to LIKE)."""

    type = Integer()
    inherit_cache = True


@compiles(Contains)
def _contains_default(element: Contains, compiler: Any, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"strpos({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)})"


@compiles(Contains, "sqlite")
def _contains_sqlite(element: Contains, compiler: Any, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"instr({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)})"


def _compare(expr: Any, op: fl.Operator, value: Any) -> ColumnElement[bool]:
    if op is fl.Operator.HAS:
        return Contains(expr, str(value)) > 0
    compare: Callable[[], Any] = {
        fl.Operator.EQ: lambda: expr == value,
        fl.Operator.NE: lambda: expr != value,
        fl.Operator.LT: lambda: expr < value,
        fl.Operator.LE: lambda: expr <= value,
        fl.Operator.GT: lambda: expr > value,
        fl.Operator.GE: lambda: expr >= value,
    }[op]
    return cast("ColumnElement[bool]", compare())


class _Compiler:
    def __init__(self, schema: ListSchema) -> None:
        self.schema = schema
        # Side-table aliases joined for sorting, by (map, key); comparisons on the same key at
        # the top level of the filter reuse them so the database can walk one index.
        self.joined: dict[tuple[str, str], Any] = {}

    def condition(self, node: fl.Node) -> ColumnElement[bool]:
        if isinstance(node, fl.And):
            return and_(*(self.condition(item) for item in node.items))
        if isinstance(node, fl.Or):
            return or_(*(self.condition(item) for item in node.items))
        if isinstance(node, fl.Not):
            return not_(self.condition(node.item))
        return self.comparison(node, top_level=False)

    def comparison(self, node: fl.Comparison, *, top_level: bool) -> ColumnElement[bool]:
        name = fl.format_field(node.field)
        if len(node.field) == 1:
            column = self.schema.columns[node.field[0]]
            value = _literal(node.value, column.kind, column, name)
            return _compare(column.expr, node.op, value)
        prefix, key = node.field
        side = self.schema.maps[prefix]
        value = _literal(node.value, side.kind, None, name)
        joined = self.joined.get((prefix, key))
        if top_level and joined is not None:
            return _compare(joined.value, node.op, value)
        table = side.model
        return exists().where(
            getattr(table, side.owner) == self.schema.pk,
            table.key == key,
            _compare(table.value, node.op, value),
        )

    def where(self, node: fl.Node | None) -> list[ColumnElement[bool]]:
        if node is None:
            return []
        items = node.items if isinstance(node, fl.And) else (node,)
        return [
            self.comparison(item, top_level=True)
            if isinstance(item, fl.Comparison)
            else self.condition(item)
            for item in items
        ]

    def sort_keys(
        self, order: Sequence[fl.OrderKey], stmt: Select[Any], *, lead_present: bool = False
    ) -> tuple[list[SortKey], Select[Any]]:
        """The sort keys, joining a side table for each map key. With ``lead_present`` the
        first key only takes rows that have it: an inner join, and not nullable."""
        keys: list[SortKey] = []
        for index, item in enumerate(order):
            present = lead_present and index == 0
            if len(item.field) == 1:
                column = self.schema.columns[item.field[0]]
                if present and column.nullable:
                    stmt = stmt.where(column.expr.is_not(None))
                keys.append(SortKey(column.expr, item.descending, column.nullable and not present))
                continue
            prefix, key = item.field
            side = self.schema.maps[prefix]
            alias = aliased(side.model)
            on = and_(getattr(alias, side.owner) == self.schema.pk, alias.key == key)
            stmt = stmt.join(alias, on) if present else stmt.outerjoin(alias, on)
            if present:
                stmt = stmt.where(alias.value.is_not(None))  # NaN latest values are NULL
            self.joined[(prefix, key)] = alias
            keys.append(SortKey(alias.value, item.descending, nullable=not present))
        keys.append(SortKey(self.schema.pk))  # unique tie-breaker
        return keys, stmt


def _parse(
    schema: ListSchema, filter_text: str, order_by: str
) -> tuple[fl.Node | None, tuple[fl.OrderKey, ...]]:
    spec = schema.spec
    try:
        node = fl.parse_filter(filter_text)
        fl.validate_fields(node, spec.fields, spec.map_prefixes)
    except fl.QueryError as exc:
        raise InvalidArgument.for_field("filter", str(exc)) from None
    try:
        order = fl.parse_order_by(order_by, spec.fields, spec.map_prefixes)
    except fl.QueryError as exc:
        raise InvalidArgument.for_field("order_by", str(exc)) from None
    if not order:
        order = tuple(fl.OrderKey((name,), desc) for name, desc in schema.default_order)
    return node, order


def filter_conditions(schema: ListSchema, filter_text: str) -> list[ColumnElement[bool]]:
    """The conditions of a filter in the list filter language, for a query that is not a
    page (a watch); a bad filter is INVALID_ARGUMENT naming ``filter``."""
    node, _ = _parse(schema, filter_text, "")
    return _Compiler(schema).where(node)


async def list_page(
    session: AsyncSession,
    schema: ListSchema,
    *,
    tokens: PageTokens,
    query_id: Sequence[Any],
    scope: Sequence[ColumnElement[bool]] = (),
    filter_text: str = "",
    order_by: str = "",
    requested_page_size: int = 0,
    page_token: str = "",
) -> Page:
    """One page of ``schema.model`` rows matching ``scope`` and the request's filter, in the
    request's order. ``query_id`` identifies the query (method, parent, ...) so a token of one
    query cannot be replayed on another.

    When the first sort key can be missing (a map key such as ``metrics.loss``, or a nullable
    time), the page is read in two parts: the rows that have it, by an inner join the database
    can walk in index order, then the rows without it, which sort last. One query over both is
    an outer join that must be sorted in full (70 ms instead of under 1 ms at 100k runs)."""
    size = page_size(requested_page_size)
    node, order = _parse(schema, filter_text, order_by)
    fingerprint = [*query_id, filter_text, order_by]
    position = tokens.decode(page_token, fingerprint)

    def build(*, lead_present: bool) -> tuple[list[SortKey], Select[Any]]:
        compiler = _Compiler(schema)
        keys, stmt = compiler.sort_keys(order, select(schema.model), lead_present=lead_present)
        stmt = stmt.add_columns(*(key.expr for key in keys)).where(*scope, *compiler.where(node))
        return keys, stmt

    keys, stmt = build(lead_present=False)
    if position is not None and len(position) != len(keys):
        raise InvalidPageToken.for_field("page_token", "is not a token this server issued")
    limit = size + 1
    if not keys[0].nullable:
        result = await _fetch(session, stmt, keys, position, limit)
    else:
        result = []
        in_present_part = position is None or position[0] is not None
        if in_present_part:
            present_keys, present_stmt = build(lead_present=True)
            result = await _fetch(session, present_stmt, present_keys, position, limit)
        if len(result) < limit:
            after = None if in_present_part else list(position or ())[1:]
            missing = stmt.where(keys[0].expr.is_(None))
            result += await _fetch(session, missing, keys[1:], after, limit - len(result))
    rows = [row[0] for row in result[:size]]
    next_token = ""
    if len(result) > size:
        next_token = tokens.encode(fingerprint, list(result[size - 1][1:]))
    return Page(rows, next_token)


async def _fetch(
    session: AsyncSession,
    stmt: Select[Any],
    keys: Sequence[SortKey],
    position: Sequence[Any] | None,
    limit: int,
) -> list[Any]:
    if position is not None:
        stmt = stmt.where(after_position(keys, position))
    ordered = stmt.order_by(*(key.order_clause() for key in keys)).limit(limit)
    return list((await session.execute(ordered)).all())
