"""Experiments, runs, params, tags and metrics. Queries here are tenant-scoped by
``controlplane.store.tenancy``; these functions never take a tenant argument."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import numpy as np
from sqlalchemy import Table, and_, bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane import clock
from controlplane.domain import filtering as fl
from controlplane.domain.metrics import KeyPoints, encode
from controlplane.errors import AlreadyExists, NotFound
from controlplane.names import EXPERIMENT, RUN
from controlplane.store.db import Database, upsert_insert
from controlplane.store.direct import TENANT_PARAM, Prepared
from controlplane.store.models import (
    Experiment,
    ExperimentTag,
    LatestMetric,
    MetricChunk,
    Run,
    RunParam,
    RunTag,
)
from controlplane.store.query import Column, ListSchema, MapField
from controlplane.store.tenancy import current_tenant
from controlplane.v1 import experiment_service_pb2 as pb

EXPERIMENT_SCHEMA = ListSchema(
    model=Experiment,
    pk=Experiment.pk,
    columns={
        "display_name": Column(Experiment.display_name, fl.FieldKind.STRING),
        "create_time": Column(Experiment.create_time, fl.FieldKind.TIMESTAMP),
        "update_time": Column(Experiment.update_time, fl.FieldKind.TIMESTAMP),
    },
    maps={"tags": MapField(ExperimentTag, "experiment_pk", fl.FieldKind.STRING)},
)

RUN_SCHEMA = ListSchema(
    model=Run,
    pk=Run.pk,
    columns={
        "display_name": Column(Run.display_name, fl.FieldKind.STRING),
        "state": Column(Run.state, fl.FieldKind.ENUM, enum=pb.RunState),
        "create_time": Column(Run.create_time, fl.FieldKind.TIMESTAMP),
        "update_time": Column(Run.update_time, fl.FieldKind.TIMESTAMP),
        "start_time": Column(Run.start_time, fl.FieldKind.TIMESTAMP, nullable=True),
        "end_time": Column(Run.end_time, fl.FieldKind.TIMESTAMP, nullable=True),
    },
    maps={
        "metrics": MapField(LatestMetric, "run_pk", fl.FieldKind.NUMBER),
        "params": MapField(RunParam, "run_pk", fl.FieldKind.STRING),
        "tags": MapField(RunTag, "run_pk", fl.FieldKind.STRING),
    },
    default_order=(("create_time", True),),
)


def experiment_name(row: Experiment) -> str:
    return EXPERIMENT.format(row.tenant_id, row.experiment_id)


def run_name(row: Run) -> str:
    return RUN.format(row.tenant_id, row.experiment_id, row.run_id)


# -- experiments ------------------------------------------------------------------------------


async def get_experiment(session: AsyncSession, experiment_id: str, name: str) -> Experiment:
    row = await session.scalar(select(Experiment).where(Experiment.experiment_id == experiment_id))
    if row is None:
        raise NotFound.resource(name)
    return row


async def create_experiment(
    session: AsyncSession, experiment_id: str, display_name: str, description: str
) -> Experiment:
    existing = await session.scalar(
        select(Experiment.pk).where(Experiment.experiment_id == experiment_id)
    )
    if existing is not None:
        raise AlreadyExists.resource(EXPERIMENT.format(current_tenant(), experiment_id))
    now = clock.now_us()
    row = Experiment(
        tenant_id=current_tenant(),
        experiment_id=experiment_id,
        display_name=display_name,
        description=description,
        create_time=now,
        update_time=now,
    )
    session.add(row)
    await session.flush()
    return row


async def experiment_tags(session: AsyncSession, pks: Sequence[int]) -> dict[int, dict[str, str]]:
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    if pks:
        rows = await session.execute(
            select(ExperimentTag.experiment_pk, ExperimentTag.key, ExperimentTag.value).where(
                ExperimentTag.experiment_pk.in_(pks)
            )
        )
        for pk, key, value in rows:
            tags[pk][key] = value
    return tags


async def replace_experiment_tags(session: AsyncSession, pk: int, tags: Mapping[str, str]) -> None:
    await session.execute(delete(ExperimentTag).where(ExperimentTag.experiment_pk == pk))
    session.add_all(
        ExperimentTag(tenant_id=current_tenant(), experiment_pk=pk, key=k, value=v)
        for k, v in tags.items()
    )


# -- runs -------------------------------------------------------------------------------------


@dataclass
class RunData:
    """What a Run message shows beyond the runs row."""

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[LatestPoint] = field(default_factory=list)


class LatestPoint(NamedTuple):
    key: str
    value: float | None  # None: the point was NaN
    step: int
    timestamp_ms: int


async def get_run(session: AsyncSession, experiment_id: str, run_id: str, name: str) -> Run:
    row = await session.scalar(
        select(Run).where(Run.experiment_id == experiment_id, Run.run_id == run_id)
    )
    if row is None:
        raise NotFound.resource(name)
    return row


_RUN_STATE = select(Run.pk, Run.state).where(
    Run.experiment_id == bindparam("experiment_id"), Run.run_id == bindparam("run_id")
)


async def run_state(
    session: AsyncSession, experiment_id: str, run_id: str, name: str
) -> tuple[int, int]:
    """(pk, state) of a run, without loading the rest of it (the metric-logging hot path)."""
    found = (
        await session.execute(_RUN_STATE, {"experiment_id": experiment_id, "run_id": run_id})
    ).first()
    if found is None:
        raise NotFound.resource(name)
    return found[0], found[1]


async def create_run(
    session: AsyncSession,
    experiment: Experiment,
    run_id: str,
    display_name: str,
    state: int,
    params: Mapping[str, str],
    tags: Mapping[str, str],
) -> Run:
    existing = await session.scalar(
        select(Run.pk).where(Run.experiment_id == experiment.experiment_id, Run.run_id == run_id)
    )
    if existing is not None:
        raise AlreadyExists.resource(RUN.format(current_tenant(), experiment.experiment_id, run_id))
    now = clock.now_us()
    row = Run(
        tenant_id=current_tenant(),
        experiment_pk=experiment.pk,
        experiment_id=experiment.experiment_id,
        run_id=run_id,
        display_name=display_name,
        state=state,
        create_time=now,
        update_time=now,
        start_time=now if state == pb.RUN_STATE_RUNNING else None,
    )
    session.add(row)
    await session.flush()
    tenant = current_tenant()
    session.add_all(
        RunParam(tenant_id=tenant, run_pk=row.pk, key=k, value=v) for k, v in params.items()
    )
    session.add_all(
        RunTag(tenant_id=tenant, run_pk=row.pk, key=k, value=v) for k, v in tags.items()
    )
    return row


async def run_data(session: AsyncSession, pks: Sequence[int]) -> dict[int, RunData]:
    """Params, tags and latest metrics of many runs in three indexed queries."""
    data: dict[int, RunData] = defaultdict(RunData)
    if not pks:
        return data
    for model, attr in ((RunParam, "params"), (RunTag, "tags")):
        rows = await session.execute(
            select(model.run_pk, model.key, model.value).where(model.run_pk.in_(pks))
        )
        for pk, key, value in rows:
            getattr(data[pk], attr)[key] = value
    metrics = await session.execute(
        select(
            LatestMetric.run_pk,
            LatestMetric.key,
            LatestMetric.value,
            LatestMetric.step,
            LatestMetric.timestamp_ms,
        )
        .where(LatestMetric.run_pk.in_(pks))
        .order_by(LatestMetric.key)
    )
    for pk, metric_key, metric_value, step, timestamp_ms in metrics:
        data[pk].metrics.append(LatestPoint(metric_key, metric_value, step, timestamp_ms))
    return data


async def replace_run_tags(session: AsyncSession, pk: int, tags: Mapping[str, str]) -> None:
    await session.execute(delete(RunTag).where(RunTag.run_pk == pk))
    session.add_all(
        RunTag(tenant_id=current_tenant(), run_pk=pk, key=k, value=v) for k, v in tags.items()
    )


async def existing_params(
    session: AsyncSession, run_pk: int, keys: Iterable[str]
) -> dict[str, str]:
    rows = await session.execute(
        select(RunParam.key, RunParam.value).where(
            RunParam.run_pk == run_pk, RunParam.key.in_(list(keys))
        )
    )
    return {key: value for key, value in rows}


def add_params(session: AsyncSession, run_pk: int, params: Mapping[str, str]) -> None:
    tenant = current_tenant()
    session.add_all(
        RunParam(tenant_id=tenant, run_pk=run_pk, key=k, value=v) for k, v in params.items()
    )


# -- metrics ----------------------------------------------------------------------------------


_CHUNK_INSERT = cast(Table, MetricChunk.__table__).insert()


def _latest_upsert(dialect: str) -> Any:
    """Moves a key's latest point forward only: the new (step, timestamp) must be at least the
    stored one. One statement for any number of keys; built once per dialect, because building
    ``excluded`` clones the table and costs more than running the statement."""
    table = cast(Table, LatestMetric.__table__)
    insert = upsert_insert(dialect)(table)
    return insert.on_conflict_do_update(
        index_elements=["run_pk", "key"],
        set_={
            "value": insert.excluded.value,
            "step": insert.excluded.step,
            "timestamp_ms": insert.excluded.timestamp_ms,
        },
        # The conflict target is (run_pk, key): the row it finds must be the tenant's too.
        where=and_(
            table.c.tenant_id == insert.excluded.tenant_id,
            or_(
                insert.excluded.step > table.c.step,
                and_(
                    insert.excluded.step == table.c.step,
                    insert.excluded.timestamp_ms >= table.c.timestamp_ms,
                ),
            ),
        ),
    )


_LATEST_UPSERT = {dialect: _latest_upsert(dialect) for dialect in ("sqlite", "postgresql")}
_CHUNK_COLUMNS = ("tenant_id", "run_pk", "key", "point_count", "steps", "values", "timestamps")
_LATEST_COLUMNS = ("tenant_id", "run_pk", "key", "value", "step", "timestamp_ms")


def _chunk_rows(tenant: str, run_pk: int, groups: Sequence[KeyPoints]) -> list[dict[str, Any]]:
    """One chunk row per key: the batch's points of that key, appended as they came."""
    return [
        {
            "tenant_id": tenant,
            "run_pk": run_pk,
            "key": group.key,
            "point_count": len(group.values),
            "steps": encode(group.steps),
            "values": encode(group.values),
            "timestamps": encode(group.timestamps_ms),
        }
        for group in groups
    ]


def _latest_rows(tenant: str, run_pk: int, groups: Sequence[KeyPoints]) -> list[dict[str, Any]]:
    """Each key's latest point of the batch, for the upsert that moves it forward."""
    rows = []
    for group in groups:
        value, step, ts = group.latest()
        rows.append(
            {
                "tenant_id": tenant,
                "run_pk": run_pk,
                "key": group.key,
                "value": None if math.isnan(value) else value,
                "step": step,
                "timestamp_ms": ts,
            }
        )
    return rows


# The same statements, compiled for the embedded store's direct writes.
_RUN_STATE_DIRECT = Prepared(
    select(Run.pk, Run.state).where(
        Run.tenant_id == bindparam(TENANT_PARAM),
        Run.experiment_id == bindparam("experiment_id"),
        Run.run_id == bindparam("run_id"),
    )
)
_CHUNK_INSERT_DIRECT = Prepared(_CHUNK_INSERT.values({c: bindparam(c) for c in _CHUNK_COLUMNS}))
_LATEST_UPSERT_DIRECT = Prepared(
    _LATEST_UPSERT["sqlite"].values({c: bindparam(c) for c in _LATEST_COLUMNS})
)


async def log_metrics(
    db: Database,
    experiment_id: str,
    run_id: str,
    name: str,
    groups: Sequence[KeyPoints],
    check_state: Callable[[int, str], None],
) -> int:
    """Appends one chunk row per key to the run and moves each key's latest point forward,
    after ``check_state(state, name)`` accepts the run's state; audited as ``log_metrics``.
    Returns the number of points. The metric-logging hot path: on the embedded store it runs
    as a direct write, elsewhere through the session (three statements, whatever the batch)."""
    count = sum(len(group.values) for group in groups)
    if db.has_direct_writes:
        async with db.direct_write() as direct:
            found = direct.first(_RUN_STATE_DIRECT, experiment_id=experiment_id, run_id=run_id)
            if found is None:
                raise NotFound.resource(name)
            run_pk, state = found
            check_state(state, name)
            tenant = current_tenant()
            direct.execute_many(_CHUNK_INSERT_DIRECT, _chunk_rows(tenant, run_pk, groups))
            direct.execute_many(_LATEST_UPSERT_DIRECT, _latest_rows(tenant, run_pk, groups))
            direct.audit(name, action="log_metrics", points=count)
        return count
    async with db.write() as unit:
        run_pk, state = await run_state(unit.session, experiment_id, run_id, name)
        check_state(state, name)
        tenant = current_tenant()
        session = unit.session
        await session.execute(_CHUNK_INSERT, _chunk_rows(tenant, run_pk, groups))
        await session.execute(
            _LATEST_UPSERT[session.get_bind().dialect.name], _latest_rows(tenant, run_pk, groups)
        )
        unit.audit(name, action="log_metrics", points=count)
    return count


async def metric_history(
    session: AsyncSession, run_pk: int, key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All points of one metric, ordered by step, then timestamp, then arrival."""
    chunks = (
        await session.execute(
            select(MetricChunk.steps, MetricChunk.values, MetricChunk.timestamps)
            .where(MetricChunk.run_pk == run_pk, MetricChunk.key == key)
            .order_by(MetricChunk.pk)
        )
    ).all()
    if not chunks:
        empty = np.empty(0, dtype=np.int64)
        return empty, np.empty(0, dtype=np.float64), empty
    steps = np.concatenate([np.frombuffer(c[0], dtype="<i8") for c in chunks])
    values = np.concatenate([np.frombuffer(c[1], dtype="<f8") for c in chunks])
    stamps = np.concatenate([np.frombuffer(c[2], dtype="<i8") for c in chunks])
    if len(steps) > 1 and not (
        np.all(np.diff(steps) >= 0) and np.all((np.diff(steps) > 0) | (np.diff(stamps) >= 0))
    ):
        order = np.lexsort((stamps, steps))
        steps, values, stamps = steps[order], values[order], stamps[order]
    return steps, values, stamps
