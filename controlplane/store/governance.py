"""Governance facts: the tenant's release policy, review rounds and their reviews, governance
events, and what the policy judges a version on (its evaluation, its card, the champion's
evaluation). Tenant-scoped by ``controlplane.store.tenancy``; the rules live in
``controlplane.domain.governance``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.domain import filtering as fl
from controlplane.domain import governance as rules
from controlplane.store import online_evaluations, registry, sequences
from controlplane.store.direct import TENANT_PARAM, DirectUnit, Prepared
from controlplane.store.feeds import GOVERNANCE_EVENTS
from controlplane.store.models import (
    GovernanceEvent,
    ModelAlias,
    ModelCard,
    ModelVersion,
    ModelVersionMetric,
    ModelVersionReview,
    Principal,
    ReleasePolicy,
    RoleBinding,
)
from controlplane.store.query import Column, ListSchema
from controlplane.store.tenancy import current_tenant

# The written fields of a model card that a policy can require.
CARD_FIELDS = (
    "intended_use",
    "out_of_scope_use",
    "limitations",
    "ethical_considerations",
    "training_data_description",
    "caveats_and_recommendations",
)

EVENT_SCHEMA = ListSchema(
    model=GovernanceEvent,
    pk=GovernanceEvent.pk,
    columns={
        "action": Column(GovernanceEvent.action, fl.FieldKind.STRING),
        "principal": Column(GovernanceEvent.principal, fl.FieldKind.STRING),
        "time": Column(GovernanceEvent.time, fl.FieldKind.TIMESTAMP),
    },
    default_order=(("time", False),),  # oldest first, the pk breaking ties
)

APPROVE = "approve"
REJECT = "reject"


# -- the release policy -----------------------------------------------------------------------


async def get_policy(session: AsyncSession) -> ReleasePolicy | None:
    """The tenant's policy row; None means the default policy (one approval, no checks)."""
    return await session.scalar(select(ReleasePolicy))


async def protected_aliases(session: AsyncSession) -> list[str]:
    """The aliases only governance moves (none without a policy)."""
    found = await session.scalar(select(ReleasePolicy.protected_aliases))
    return list(found or [])


_PROTECTED_ALIASES_DIRECT = Prepared(
    select(ReleasePolicy.protected_aliases).where(
        ReleasePolicy.tenant_id == bindparam(TENANT_PARAM)
    )
)


def protected_aliases_direct(direct: DirectUnit) -> list[str]:
    """``protected_aliases`` inside a direct write (the registry's hot path)."""
    found = direct.first(_PROTECTED_ALIASES_DIRECT)
    return list(json.loads(found[0])) if found is not None and found[0] else []


async def upsert_policy(
    session: AsyncSession, row: ReleasePolicy | None, values: dict[str, Any], now: int
) -> ReleasePolicy:
    """Writes ``values`` (column -> value) onto the policy, creating the row on first use."""
    if row is None:
        row = ReleasePolicy(
            tenant_id=current_tenant(),
            thresholds=[],
            champion_rules=[],
            required_approvals=1,
            required_card_fields=[],
            require_signature=False,
            protected_aliases=[],
            require_non_admin_approvers=False,
            create_time=now,
            update_time=now,
        )
        for column, value in values.items():
            setattr(row, column, value)
        session.add(row)
    else:
        for column, value in values.items():
            setattr(row, column, value)
        row.touch(now)
    await session.flush()
    return row


async def principal_roles(
    session: AsyncSession, principal_ids: Sequence[str]
) -> dict[str, set[int]]:
    """The roles bound to each of the tenant's principals ``principal_ids`` (none: absent)."""
    roles: dict[str, set[int]] = {}
    if principal_ids:
        rows = await session.execute(
            select(Principal.principal_id, RoleBinding.role)
            .join(RoleBinding, RoleBinding.principal_pk == Principal.pk)
            .where(Principal.principal_id.in_(set(principal_ids)))
        )
        for principal_id, role in rows:
            roles.setdefault(principal_id, set()).add(int(role))
    return roles


# -- review rounds ----------------------------------------------------------------------------


async def current_round(session: AsyncSession, version_pk: int) -> int:
    """The version's review round: how many times it was submitted (0 before the first)."""
    count = await session.scalar(
        select(func.count(GovernanceEvent.pk)).where(
            GovernanceEvent.version_pk == version_pk,
            GovernanceEvent.action == rules.Action.SUBMIT.value,
        )
    )
    return int(count or 0)


async def round_reviews(
    session: AsyncSession, version_pk: int, review_round: int
) -> list[ModelVersionReview]:
    rows = await session.scalars(
        select(ModelVersionReview)
        .where(
            ModelVersionReview.version_pk == version_pk,
            ModelVersionReview.review_round == review_round,
        )
        .order_by(ModelVersionReview.pk)
    )
    return list(rows)


def add_review(
    session: AsyncSession,
    version_pk: int,
    review_round: int,
    principal: str,
    decision: str,
    reason: str,
    request_id: str,
    now: int,
) -> None:
    session.add(
        ModelVersionReview(
            tenant_id=current_tenant(),
            version_pk=version_pk,
            review_round=review_round,
            principal=principal,
            decision=decision,
            reason=reason,
            request_id=request_id,
            time=now,
        )
    )


# -- events -----------------------------------------------------------------------------------


async def add_event(
    session: AsyncSession,
    version: ModelVersion,
    action: str,
    from_state: int,
    to_state: int,
    principal: str,
    reason: str,
    request_id: str,
    now: int,
    detail: dict[str, Any],
) -> GovernanceEvent:
    """Appends an event, numbered in the tenant's sequence; the caller holds the feed's turn
    (``UnitOfWork.append_to_feed``)."""
    event = GovernanceEvent(
        tenant_id=current_tenant(),
        seq=await sequences.next_value(session, GOVERNANCE_EVENTS),
        model_pk=version.model_pk,
        version_pk=version.pk,
        action=action,
        from_state=from_state,
        to_state=to_state,
        principal=principal,
        reason=reason,
        request_id=request_id,
        time=now,
        detail=detail,
    )
    session.add(event)
    return event


async def events_after(
    session: AsyncSession,
    conditions: Sequence[ColumnElement[bool]],
    after_seq: int,
    limit: int,
) -> list[tuple[GovernanceEvent, str, int]]:
    """The tenant's events matching ``conditions`` numbered above ``after_seq``, in order (the
    order they committed in: ``controlplane.store.feeds``), each with its version's model id
    and number (for its name), in one query."""
    rows = await session.execute(
        select(GovernanceEvent, ModelVersion.model_id, ModelVersion.number)
        .join(ModelVersion, ModelVersion.pk == GovernanceEvent.version_pk)
        .where(*conditions, GovernanceEvent.seq > after_seq)
        .order_by(GovernanceEvent.seq)
        .limit(limit)
    )
    return [(event, model_id, int(number)) for event, model_id, number in rows]


async def last_event(session: AsyncSession) -> GovernanceEvent | None:
    """The tenant's newest event."""
    return await session.scalar(
        select(GovernanceEvent).order_by(GovernanceEvent.seq.desc()).limit(1)
    )


async def version_numbers(session: AsyncSession, pks: Sequence[int]) -> dict[int, tuple[str, int]]:
    """(model id, number) of each version pk, for event names."""
    if not pks:
        return {}
    rows = await session.execute(
        select(ModelVersion.pk, ModelVersion.model_id, ModelVersion.number).where(
            ModelVersion.pk.in_(set(pks))
        )
    )
    return {pk: (model_id, int(number)) for pk, model_id, number in rows}


# -- what the policy judges -------------------------------------------------------------------


async def version_metrics(session: AsyncSession, version_pk: int) -> list[rules.Metric]:
    """What a version is judged and compared on: its registered evaluation, then the newest
    value of each (key, split, slice) recorded online (never one of the registered ones)."""
    rows = await session.execute(
        select(
            ModelVersionMetric.key,
            ModelVersionMetric.value,
            ModelVersionMetric.split,
            ModelVersionMetric.slice,
        )
        .where(ModelVersionMetric.version_pk == version_pk)
        .order_by(ModelVersionMetric.pk)
    )
    registered = [
        rules.Metric(key, float(value), split, slice_) for key, value, split, slice_ in rows
    ]
    return registered + await online_evaluations.newest_results(session, version_pk)


async def card_fields(session: AsyncSession, version_pk: int) -> dict[str, str]:
    """The written fields of the version's model card (all empty without a card)."""
    row = await session.scalar(select(ModelCard).where(ModelCard.version_pk == version_pk))
    if row is None:
        return dict.fromkeys(CARD_FIELDS, "")
    return {name: str(getattr(row, name)) for name in CARD_FIELDS}


async def alias_target(session: AsyncSession, model_pk: int, alias: str) -> ModelVersion | None:
    """The version ``alias`` points at, or None when it points nowhere."""
    row = await registry.get_alias(session, model_pk, alias)
    if row is None:
        return None
    return await session.scalar(select(ModelVersion).where(ModelVersion.pk == row.version_pk))


async def champion_evaluations(
    session: AsyncSession, model_pk: int, aliases: Sequence[str]
) -> dict[str, list[rules.Metric] | None]:
    """For each alias, the evaluation of the version it points at now (None: nowhere)."""
    champions: dict[str, list[rules.Metric] | None] = {}
    for alias in dict.fromkeys(aliases):
        target = await alias_target(session, model_pk, alias)
        champions[alias] = None if target is None else await version_metrics(session, target.pk)
    return champions


async def aliases_of(session: AsyncSession, version_pk: int) -> list[str]:
    rows = await session.scalars(
        select(ModelAlias.alias)
        .where(ModelAlias.version_pk == version_pk)
        .order_by(ModelAlias.alias)
    )
    return list(rows)


async def versions_by_number(
    session: AsyncSession, model_pk: int, numbers: Sequence[int]
) -> dict[int, ModelVersion]:
    if not numbers:
        return {}
    rows = await session.scalars(
        select(ModelVersion).where(
            ModelVersion.model_pk == model_pk, ModelVersion.number.in_(set(numbers))
        )
    )
    return {row.number: row for row in rows}


async def rollback_target(
    session: AsyncSession, model_pk: int, alias: str, current: int
) -> ModelVersion | None:
    """The version an alias goes back to: the ``previous_version`` of its most recent change
    whose previous version is still RELEASED (and is not the one it holds now)."""
    before: int | None = None
    while True:
        changes = await registry.alias_history(session, model_pk, alias, before, 100)
        if not changes:
            return None
        candidates = [
            c.previous_version
            for c in changes
            if c.previous_version is not None and c.previous_version != current
        ]
        versions = await versions_by_number(session, model_pk, candidates)
        for number in candidates:
            row = versions.get(number)
            if row is not None and row.state == rules.RELEASED:
                return row
        before = changes[-1].seq
