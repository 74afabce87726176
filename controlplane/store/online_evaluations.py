"""Online evaluations: results of a model version measured while it serves, recorded after
registration (append-only). The newest value of each (key, split, slice) stands beside the
version's registered evaluation wherever versions are compared or judged. Tenant-scoped by
``controlplane.store.tenancy``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from controlplane.domain import filtering as fl
from controlplane.domain import governance as rules
from controlplane.domain.registry import NewOnlineEvaluation
from controlplane.store.models import (
    ModelVersionMetric,
    OnlineEvaluation,
    OnlineEvaluationMetric,
)
from controlplane.store.query import Column, ListSchema
from controlplane.store.tenancy import current_tenant

Result = tuple[str, str, str, float]  # key, split, slice, value

SCHEMA = ListSchema(
    model=OnlineEvaluation,
    pk=OnlineEvaluation.pk,
    columns={"record_time": Column(OnlineEvaluation.record_time, fl.FieldKind.TIMESTAMP)},
    default_order=(("record_time", False),),  # as recorded, the pk breaking ties
)


async def registered_triples(session: AsyncSession, version_pk: int) -> set[tuple[str, str, str]]:
    """The (key, split, slice) of each result of the version's registered evaluation."""
    rows = await session.execute(
        select(ModelVersionMetric.key, ModelVersionMetric.split, ModelVersionMetric.slice).where(
            ModelVersionMetric.version_pk == version_pk
        )
    )
    return {(key, split, slice_) for key, split, slice_ in rows}


async def record(
    session: AsyncSession, version_pk: int, new: NewOnlineEvaluation, principal: str, now: int
) -> OnlineEvaluation:
    """Records an online evaluation of a version the caller read in this write transaction (so
    its row is locked: the evaluation's number, the next of the version's, is this one's)."""
    tenant = current_tenant()
    last = await session.scalar(
        select(func.max(OnlineEvaluation.number)).where(OnlineEvaluation.version_pk == version_pk)
    )
    row = OnlineEvaluation(
        tenant_id=tenant,
        version_pk=version_pk,
        number=int(last or 0) + 1,
        window_start=new.window_start,
        window_end=new.window_end,
        record_time=now,
        recorded_by=principal,
    )
    session.add(row)
    await session.flush()
    session.add_all(
        OnlineEvaluationMetric(
            tenant_id=tenant,
            evaluation_pk=row.pk,
            version_pk=version_pk,
            key=key,
            split=split,
            slice=slice_,
            value=value,
            window_end=new.window_end,
        )
        for key, split, slice_, value in new.metrics
    )
    return row


async def results_of(
    session: AsyncSession, evaluation_pks: Sequence[int]
) -> dict[int, list[Result]]:
    """The results of each online evaluation, in the order they were given."""
    found: dict[int, list[Result]] = {pk: [] for pk in evaluation_pks}
    if not evaluation_pks:
        return found
    rows = await session.execute(
        select(
            OnlineEvaluationMetric.evaluation_pk,
            OnlineEvaluationMetric.key,
            OnlineEvaluationMetric.split,
            OnlineEvaluationMetric.slice,
            OnlineEvaluationMetric.value,
        )
        .where(OnlineEvaluationMetric.evaluation_pk.in_(evaluation_pks))
        .order_by(OnlineEvaluationMetric.pk)
    )
    for evaluation_pk, key, split, slice_, value in rows:
        found[evaluation_pk].append((key, split, slice_, float(value)))
    return found


async def newest_results(session: AsyncSession, version_pk: int) -> list[rules.Metric]:
    """The newest value of each (key, split, slice) recorded online for the version: the one
    whose window ends last (the later record on a tie). Only those rows are returned, however
    long the history: a result is the newest when no newer one of its triple exists."""
    metric = OnlineEvaluationMetric
    newer = aliased(OnlineEvaluationMetric)
    rows = await session.execute(
        select(metric.key, metric.split, metric.slice, metric.value)
        .where(
            metric.version_pk == version_pk,
            ~exists().where(
                newer.version_pk == metric.version_pk,
                newer.key == metric.key,
                newer.split == metric.split,
                newer.slice == metric.slice,
                or_(
                    newer.window_end > metric.window_end,
                    and_(newer.window_end == metric.window_end, newer.pk > metric.pk),
                ),
            ),
        )
        .order_by(metric.key, metric.split, metric.slice)
    )
    return [rules.Metric(key, float(value), split, slice_) for key, split, slice_, value in rows]
