"""Model cards: the written fields of a version's card, and the facts gathered for it from the
registry, the experiment that trained it and the metadata graph. Queries here are
tenant-scoped by ``controlplane.store.tenancy``; these functions never take a tenant argument.

Reviews are read from ``model_version_reviews``, which the GovernanceService writes; this
module never writes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane import clock, names
from controlplane.domain.governance import Metric
from controlplane.errors import InvalidArgument
from controlplane.store import experiments as experiment_store
from controlplane.store import metadata as metadata_store
from controlplane.store import online_evaluations
from controlplane.store import registry as registry_store
from controlplane.store.models import (
    MetadataArtifact,
    MetadataExecution,
    ModelCard,
    ModelVersion,
    ModelVersionFile,
    ModelVersionReview,
    Run,
)
from controlplane.store.tenancy import current_tenant
from controlplane.v1 import metadata_service_pb2 as md

# The written fields, in the order a card shows them.
WRITTEN_FIELDS = (
    "intended_use",
    "out_of_scope_use",
    "limitations",
    "ethical_considerations",
    "training_data_description",
    "caveats_and_recommendations",
)
# Upstream lineage of a version's files is cut at this many nodes (the files included).
MAX_LINEAGE_NODES = 100
# How far upstream a card looks from each file.
MAX_LINEAGE_HOPS = 20
# The etag of a card that was never written (a row's ``version`` starts at 1).
UNWRITTEN_VERSION = 0


@dataclass
class Review:
    principal: str
    decision: str
    reason: str
    time_us: int


@dataclass
class CardFacts:
    """What the server knows about a version, as rows and plain values (the servicer turns
    them into a ModelCardFacts message)."""

    version: ModelVersion
    version_data: registry_store.VersionData
    run_params: dict[str, str] = field(default_factory=dict)
    run_metrics: dict[str, float] = field(default_factory=dict)
    training_dataset_uri: str = ""
    training_dataset_properties: dict[str, Any] = field(default_factory=dict)
    upstream_artifacts: list[str] = field(default_factory=list)
    upstream_executions: list[str] = field(default_factory=list)
    lineage_truncated: bool = False
    reviews: list[Review] = field(default_factory=list)
    online_evaluation: list[Metric] = field(default_factory=list)


# -- written fields ---------------------------------------------------------------------------


async def get_card(session: AsyncSession, version_pk: int) -> ModelCard | None:
    """The card's written fields, or None when nobody has written any yet."""
    row: ModelCard | None = await session.scalar(
        select(ModelCard).where(ModelCard.version_pk == version_pk)
    )
    return row


def card_etag_version(row: ModelCard | None) -> int:
    return UNWRITTEN_VERSION if row is None else row.version


def write_card(
    session: AsyncSession, row: ModelCard | None, version_pk: int, values: Mapping[str, str]
) -> ModelCard:
    """Sets ``values`` (written fields only) on the card, creating its row on first write.
    The caller read ``row`` in this write transaction (so it is locked) and checked its etag;
    two first writes racing meet the unique ``version_pk`` and one is ABORTED."""
    unknown = set(values) - set(WRITTEN_FIELDS)
    if unknown:
        raise ValueError(f"not written fields of a model card: {sorted(unknown)}")
    now = clock.now_us()
    if row is None:
        row = ModelCard(
            tenant_id=current_tenant(),
            version_pk=version_pk,
            version=1,
            create_time=now,
            update_time=now,
            **{name: "" for name in WRITTEN_FIELDS},
        )
        session.add(row)
    else:
        row.touch(now)
    for name, value in values.items():
        setattr(row, name, value)
    return row


# -- facts ------------------------------------------------------------------------------------


def _plain(stored: Any) -> Any:
    """A stored property (a metadata Value in its proto3 JSON mapping) as a plain JSON value,
    so it fits a google.protobuf.Struct."""
    value = json_format.ParseDict(stored, md.Value())
    kind = value.WhichOneof("kind")
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return json_format.MessageToDict(value.struct_value)
    return None


async def _run_facts(session: AsyncSession, source_run: str, facts: CardFacts) -> None:
    if not source_run:
        return
    _, experiment_id, run_id = names.RUN.parse(source_run, "source_run")
    run = await session.scalar(
        select(Run).where(Run.experiment_id == experiment_id, Run.run_id == run_id)
    )
    if run is None:  # deleted since the version was registered
        return
    data = (await experiment_store.run_data(session, [run.pk]))[run.pk]
    facts.run_params = dict(data.params)
    facts.run_metrics = {
        point.key: float("nan") if point.value is None else point.value for point in data.metrics
    }


async def _dataset_facts(session: AsyncSession, training_dataset: str, facts: CardFacts) -> None:
    if not training_dataset:
        return
    _, artifact_id = names.ARTIFACT.parse(training_dataset, "training_dataset")
    row = await session.scalar(
        select(MetadataArtifact).where(MetadataArtifact.artifact_id == artifact_id)
    )
    if row is None:  # deleted since the version was registered
        return
    facts.training_dataset_uri = row.uri
    facts.training_dataset_properties = {
        key: _plain(value) for key, value in sorted(row.properties.items())
    }


async def _lineage_facts(session: AsyncSession, version_pk: int, facts: CardFacts) -> None:
    """The artifacts and executions upstream of the version's files, at most
    ``MAX_LINEAGE_NODES`` nodes in all (the files included), in creation order."""
    file_pks = list(
        await session.scalars(
            select(ModelVersionFile.artifact_pk)
            .where(ModelVersionFile.version_pk == version_pk)
            .order_by(ModelVersionFile.role)
        )
    )
    starts = set(file_pks)
    artifacts: dict[int, MetadataArtifact] = {}
    executions: dict[int, MetadataExecution] = {}
    truncated = False
    for pk in dict.fromkeys(file_pks):
        budget = MAX_LINEAGE_NODES - len(starts) - len(artifacts) - len(executions)
        if budget <= 0:
            truncated = True
            break
        found = await metadata_store.lineage(
            session,
            metadata_store.Kind.ARTIFACT,
            pk,
            upstream=True,
            downstream=False,
            max_hops=MAX_LINEAGE_HOPS,
            max_nodes=budget + 1,  # the walk counts its start node
        )
        truncated = truncated or found.truncated
        artifacts.update((row.pk, row) for row in found.artifacts if row.pk not in starts)
        executions.update((row.pk, row) for row in found.executions)
    facts.upstream_artifacts = [
        metadata_store.artifact_name(artifacts[pk]) for pk in sorted(artifacts)
    ]
    facts.upstream_executions = [
        metadata_store.execution_name(executions[pk]) for pk in sorted(executions)
    ]
    facts.lineage_truncated = truncated


async def reviews(session: AsyncSession, version_pk: int) -> list[Review]:
    """Every approval and rejection of the version, all rounds, oldest first."""
    rows = await session.scalars(
        select(ModelVersionReview)
        .where(ModelVersionReview.version_pk == version_pk)
        .order_by(ModelVersionReview.time, ModelVersionReview.pk)
    )
    return [Review(row.principal, row.decision, row.reason, row.time) for row in rows]


async def gather_facts(session: AsyncSession, version: ModelVersion) -> CardFacts:
    """Everything a card shows beyond its written fields, read in the caller's transaction."""
    data = (await registry_store.version_data(session, [version.pk]))[version.pk]
    facts = CardFacts(version=version, version_data=data)
    try:
        await _run_facts(session, version.source_run, facts)
        await _dataset_facts(session, version.training_dataset, facts)
    except InvalidArgument as exc:  # names the registry validated when it stored them
        raise RuntimeError(f"stored reference of {version.pk} is malformed: {exc}") from exc
    await _lineage_facts(session, version.pk, facts)
    facts.reviews = await reviews(session, version.pk)
    facts.online_evaluation = await online_evaluations.newest_results(session, version.pk)
    return facts
