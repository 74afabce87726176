"""ML metadata: artifacts, executions, contexts, the events between executions and artifacts,
context memberships, and the lineage walk. Queries here are tenant-scoped by
``controlplane.store.tenancy``; these functions never take a tenant argument."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane import clock
from controlplane.domain import filtering as fl
from controlplane.errors import AlreadyExists, NotFound
from controlplane.names import ARTIFACT, CONTEXT, EXECUTION
from controlplane.store.db import upsert_insert
from controlplane.store.models import (
    ContextArtifact,
    ContextExecution,
    MetadataArtifact,
    MetadataContext,
    MetadataEvent,
    MetadataExecution,
)
from controlplane.store.query import Column, ListSchema
from controlplane.store.tenancy import current_tenant
from controlplane.v1 import metadata_service_pb2 as pb

# Most pks bound into one IN list; keeps every statement far below the drivers' parameter
# limits (SQLite 32766, asyncpg 32767) however large a lineage level grows.
IN_CHUNK = 1000

ARTIFACT_SCHEMA = ListSchema(
    model=MetadataArtifact,
    pk=MetadataArtifact.pk,
    columns={
        "display_name": Column(MetadataArtifact.display_name, fl.FieldKind.STRING),
        "type": Column(MetadataArtifact.type, fl.FieldKind.STRING),
        "uri": Column(MetadataArtifact.uri, fl.FieldKind.STRING),
        "state": Column(MetadataArtifact.state, fl.FieldKind.ENUM, enum=pb.Artifact.State),
        "create_time": Column(MetadataArtifact.create_time, fl.FieldKind.TIMESTAMP),
        "update_time": Column(MetadataArtifact.update_time, fl.FieldKind.TIMESTAMP),
    },
)

EXECUTION_SCHEMA = ListSchema(
    model=MetadataExecution,
    pk=MetadataExecution.pk,
    columns={
        "display_name": Column(MetadataExecution.display_name, fl.FieldKind.STRING),
        "type": Column(MetadataExecution.type, fl.FieldKind.STRING),
        "state": Column(MetadataExecution.state, fl.FieldKind.ENUM, enum=pb.Execution.State),
        "create_time": Column(MetadataExecution.create_time, fl.FieldKind.TIMESTAMP),
        "update_time": Column(MetadataExecution.update_time, fl.FieldKind.TIMESTAMP),
    },
)

CONTEXT_SCHEMA = ListSchema(
    model=MetadataContext,
    pk=MetadataContext.pk,
    columns={
        "display_name": Column(MetadataContext.display_name, fl.FieldKind.STRING),
        "type": Column(MetadataContext.type, fl.FieldKind.STRING),
        "create_time": Column(MetadataContext.create_time, fl.FieldKind.TIMESTAMP),
        "update_time": Column(MetadataContext.update_time, fl.FieldKind.TIMESTAMP),
    },
)

T = TypeVar("T")


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def artifact_name(row: MetadataArtifact) -> str:
    return ARTIFACT.format(row.tenant_id, row.artifact_id)


def execution_name(row: MetadataExecution) -> str:
    return EXECUTION.format(row.tenant_id, row.execution_id)


def context_name(row: MetadataContext) -> str:
    return CONTEXT.format(row.tenant_id, row.context_id)


def _insert_for(session: AsyncSession) -> Any:
    return upsert_insert(session.get_bind().dialect.name)


# -- artifacts, executions, contexts ----------------------------------------------------------


async def get_artifact(session: AsyncSession, artifact_id: str, name: str) -> MetadataArtifact:
    row = await session.scalar(
        select(MetadataArtifact).where(MetadataArtifact.artifact_id == artifact_id)
    )
    if row is None:
        raise NotFound.resource(name)
    return row


async def get_execution(session: AsyncSession, execution_id: str, name: str) -> MetadataExecution:
    row = await session.scalar(
        select(MetadataExecution).where(MetadataExecution.execution_id == execution_id)
    )
    if row is None:
        raise NotFound.resource(name)
    return row


async def get_context(session: AsyncSession, context_id: str, name: str) -> MetadataContext:
    row = await session.scalar(
        select(MetadataContext).where(MetadataContext.context_id == context_id)
    )
    if row is None:
        raise NotFound.resource(name)
    return row


async def create_artifact(
    session: AsyncSession,
    artifact_id: str,
    *,
    display_name: str,
    type_name: str,
    uri: str,
    state: int,
    properties: dict[str, Any],
) -> MetadataArtifact:
    existing = await session.scalar(
        select(MetadataArtifact.pk).where(MetadataArtifact.artifact_id == artifact_id)
    )
    if existing is not None:
        raise AlreadyExists.resource(ARTIFACT.format(current_tenant(), artifact_id))
    now = clock.now_us()
    row = MetadataArtifact(
        tenant_id=current_tenant(),
        artifact_id=artifact_id,
        display_name=display_name,
        type=type_name,
        uri=uri,
        state=state,
        properties=properties,
        version=1,
        create_time=now,
        update_time=now,
    )
    session.add(row)
    await session.flush()
    return row


async def create_execution(
    session: AsyncSession,
    execution_id: str,
    *,
    display_name: str,
    type_name: str,
    state: int,
    properties: dict[str, Any],
) -> MetadataExecution:
    existing = await session.scalar(
        select(MetadataExecution.pk).where(MetadataExecution.execution_id == execution_id)
    )
    if existing is not None:
        raise AlreadyExists.resource(EXECUTION.format(current_tenant(), execution_id))
    now = clock.now_us()
    row = MetadataExecution(
        tenant_id=current_tenant(),
        execution_id=execution_id,
        display_name=display_name,
        type=type_name,
        state=state,
        properties=properties,
        version=1,
        create_time=now,
        update_time=now,
    )
    session.add(row)
    await session.flush()
    return row


async def create_context(
    session: AsyncSession,
    context_id: str,
    *,
    display_name: str,
    type_name: str,
    properties: dict[str, Any],
) -> MetadataContext:
    existing = await session.scalar(
        select(MetadataContext.pk).where(MetadataContext.context_id == context_id)
    )
    if existing is not None:
        raise AlreadyExists.resource(CONTEXT.format(current_tenant(), context_id))
    now = clock.now_us()
    row = MetadataContext(
        tenant_id=current_tenant(),
        context_id=context_id,
        display_name=display_name,
        type=type_name,
        properties=properties,
        version=1,
        create_time=now,
        update_time=now,
    )
    session.add(row)
    await session.flush()
    return row


async def artifact_pks(session: AsyncSession, artifact_ids: Iterable[str]) -> dict[str, int]:
    """The pks of the artifacts with these ids (those that exist), by id."""
    ids = sorted(set(artifact_ids))
    found: dict[str, int] = {}
    for chunk in chunks(ids):
        rows = await session.execute(
            select(MetadataArtifact.artifact_id, MetadataArtifact.pk).where(
                MetadataArtifact.artifact_id.in_(chunk)
            )
        )
        found.update({artifact_id: pk for artifact_id, pk in rows})
    return found


async def execution_pks(session: AsyncSession, execution_ids: Iterable[str]) -> dict[str, int]:
    """The pks of the executions with these ids (those that exist), by id."""
    ids = sorted(set(execution_ids))
    found: dict[str, int] = {}
    for chunk in chunks(ids):
        rows = await session.execute(
            select(MetadataExecution.execution_id, MetadataExecution.pk).where(
                MetadataExecution.execution_id.in_(chunk)
            )
        )
        found.update({execution_id: pk for execution_id, pk in rows})
    return found


# -- context membership -----------------------------------------------------------------------


async def add_context_members(
    session: AsyncSession, context_pk: int, artifacts: Iterable[int], executions: Iterable[int]
) -> tuple[int, int]:
    """Puts artifacts and executions into a context; members already there stay as they are.
    Returns how many artifacts and executions were added."""
    tenant = current_tenant()
    insert = _insert_for(session)
    added: list[int] = []
    for model, column, pks in (
        (ContextArtifact, ContextArtifact.artifact_pk, sorted(set(artifacts))),
        (ContextExecution, ContextExecution.execution_pk, sorted(set(executions))),
    ):
        present: set[int] = set()
        for chunk in chunks(pks):
            present.update(
                await session.scalars(
                    select(column).where(model.context_pk == context_pk, column.in_(chunk))
                )
            )
        rows = [
            {"tenant_id": tenant, "context_pk": context_pk, column.key: pk}
            for pk in pks
            if pk not in present
        ]
        if rows:
            # ON CONFLICT DO NOTHING: a concurrent call adding the same member is not an error.
            await session.execute(insert(model).on_conflict_do_nothing(), rows)
        added.append(len(rows))
    return added[0], added[1]


# -- events -----------------------------------------------------------------------------------


async def add_events(
    session: AsyncSession, execution_pk: int, events: Sequence[tuple[int, int]]
) -> int:
    """Records (artifact_pk, type) events of one execution, skipping those already recorded
    (and repeats within ``events``). Returns how many were added."""
    wanted = list(dict.fromkeys(events))
    present: set[tuple[int, int]] = set()
    for chunk in chunks(sorted({pk for pk, _ in wanted})):
        rows = await session.execute(
            select(MetadataEvent.artifact_pk, MetadataEvent.type).where(
                MetadataEvent.execution_pk == execution_pk, MetadataEvent.artifact_pk.in_(chunk)
            )
        )
        present.update((pk, kind) for pk, kind in rows)
    tenant = current_tenant()
    now = clock.now_us()
    rows_to_add = [
        {
            "tenant_id": tenant,
            "execution_pk": execution_pk,
            "artifact_pk": pk,
            "type": kind,
            "time": now,
        }
        for pk, kind in wanted
        if (pk, kind) not in present
    ]
    if rows_to_add:
        await session.execute(
            _insert_for(session)(MetadataEvent).on_conflict_do_nothing(), rows_to_add
        )
    return len(rows_to_add)


# -- lineage ----------------------------------------------------------------------------------


class Kind(enum.Enum):
    ARTIFACT = "artifact"
    EXECUTION = "execution"

    @property
    def other(self) -> Kind:
        return Kind.EXECUTION if self is Kind.ARTIFACT else Kind.ARTIFACT


@dataclass
class Lineage:
    """The nodes and edges a lineage walk reached, ordered by pk (creation order)."""

    artifacts: list[MetadataArtifact] = field(default_factory=list)
    executions: list[MetadataExecution] = field(default_factory=list)
    events: list[MetadataEvent] = field(default_factory=list)
    truncated: bool = False


def _edge_type(kind: Kind, upstream: bool) -> int:
    """The event type followed out of a node of ``kind``: upstream from an artifact means the
    executions that OUTPUT it, upstream from an execution means its INPUT artifacts, and
    downstream the other way round."""
    if kind is Kind.ARTIFACT:
        return pb.Event.TYPE_OUTPUT if upstream else pb.Event.TYPE_INPUT
    return pb.Event.TYPE_INPUT if upstream else pb.Event.TYPE_OUTPUT


async def _neighbours(
    session: AsyncSession, kind: Kind, pks: Sequence[int], edge_type: int, limit: int
) -> list[int]:
    """Distinct nodes across ``edge_type`` events from the ``kind`` nodes ``pks`` (one IN-list
    statement, at most ``limit`` rows)."""
    if kind is Kind.ARTIFACT:
        source, target = MetadataEvent.artifact_pk, MetadataEvent.execution_pk
    else:
        source, target = MetadataEvent.execution_pk, MetadataEvent.artifact_pk
    result = await session.scalars(
        select(target)
        .where(source.in_(pks), MetadataEvent.type == edge_type)
        .distinct()
        .order_by(target)
        .limit(limit)
    )
    return list(result)


class _CapReached(Exception):
    pass


@dataclass
class _Walk:
    session: AsyncSession
    max_nodes: int
    found: dict[Kind, set[int]]
    truncated: bool = False

    @property
    def budget(self) -> int:
        return self.max_nodes - sum(len(pks) for pks in self.found.values())

    async def walk(self, kind: Kind, start: int, *, upstream: bool, max_hops: int) -> None:
        """One breadth-first walk in one direction; one statement per level (per IN chunk).
        Raises _CapReached when the node cap stops it."""
        visited: dict[Kind, set[int]] = {Kind.ARTIFACT: set(), Kind.EXECUTION: set()}
        visited[kind].add(start)
        frontier = [start]
        for _ in range(max_hops):
            if not frontier:
                return
            other = kind.other
            edge_type = _edge_type(kind, upstream)
            following: list[int] = []
            for chunk in chunks(frontier):
                # Every node already found can come back at most once; past those, budget + 1
                # rows are enough to tell that the cap is exceeded.
                limit = len(self.found[other]) + self.budget + 1
                for pk in await _neighbours(self.session, kind, chunk, edge_type, limit):
                    if pk in visited[other]:
                        continue
                    if pk not in self.found[other]:
                        if self.budget <= 0:
                            self.truncated = True
                            raise _CapReached
                        self.found[other].add(pk)
                    visited[other].add(pk)
                    following.append(pk)
            kind, frontier = other, following
        if frontier and await self._continues(kind, frontier, visited, upstream=upstream):
            self.truncated = True

    async def _continues(
        self,
        kind: Kind,
        frontier: Sequence[int],
        visited: Mapping[Kind, set[int]],
        *,
        upstream: bool,
    ) -> bool:
        """Whether any edge leads on from the last level to a node this walk has not seen."""
        other = kind.other
        edge_type = _edge_type(kind, upstream)
        for chunk in chunks(frontier):
            limit = len(visited[other]) + 1
            pks = await _neighbours(self.session, kind, chunk, edge_type, limit)
            if any(pk not in visited[other] for pk in pks):
                return True
        return False


async def lineage(
    session: AsyncSession,
    kind: Kind,
    start: int,
    *,
    upstream: bool,
    downstream: bool,
    max_hops: int,
    max_nodes: int,
) -> Lineage:
    """The subgraph around one node. Upstream and downstream are separate walks (a path never
    turns around, as in MLMD) whose results are united; ``max_nodes`` caps the union (the
    start node included), and ``truncated`` says the cap or ``max_hops`` cut a walk short."""
    walker = _Walk(session, max_nodes, {Kind.ARTIFACT: set(), Kind.EXECUTION: set()})
    walker.found[kind].add(start)
    try:
        for direction, wanted in ((True, upstream), (False, downstream)):
            if wanted:
                await walker.walk(kind, start, upstream=direction, max_hops=max_hops)
    except _CapReached:
        pass
    result = Lineage(truncated=walker.truncated)
    artifact_pks = sorted(walker.found[Kind.ARTIFACT])
    execution_pks = sorted(walker.found[Kind.EXECUTION])
    for chunk in chunks(artifact_pks):
        result.artifacts.extend(
            await session.scalars(select(MetadataArtifact).where(MetadataArtifact.pk.in_(chunk)))
        )
    for chunk in chunks(execution_pks):
        result.executions.extend(
            await session.scalars(select(MetadataExecution).where(MetadataExecution.pk.in_(chunk)))
        )
    result.artifacts.sort(key=lambda row: row.pk)
    result.executions.sort(key=lambda row: row.pk)
    # The events among the returned nodes: one statement per chunk of executions, each bounded
    # by the returned artifacts (at most IN_CHUNK + max_nodes parameters).
    if artifact_pks:
        for chunk in chunks(execution_pks):
            result.events.extend(
                await session.scalars(
                    select(MetadataEvent).where(
                        MetadataEvent.execution_pk.in_(chunk),
                        MetadataEvent.artifact_pk.in_(artifact_pks),
                    )
                )
            )
    result.events.sort(key=lambda row: row.pk)
    return result
