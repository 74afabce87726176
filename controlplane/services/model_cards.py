"""ModelCardService: the written fields of a version's card, the facts gathered for it, and
the card rendered to Markdown or to a self-contained HTML page."""

from __future__ import annotations

from controlplane import clock, names
from controlplane.domain import registry as rules
from controlplane.domain import validation as check
from controlplane.errors import InvalidArgument
from controlplane.rendering import model_card as render
from controlplane.services._typing import ServicerContext
from controlplane.services.base import Services
from controlplane.services.registry import version_proto
from controlplane.store import model_cards as store
from controlplane.store import registry as registry_store
from controlplane.store.models import ModelCard
from controlplane.v1 import model_card_service_pb2 as pb
from controlplane.v1 import model_card_service_pb2_grpc as pb_grpc
from controlplane.v1 import registry_service_pb2 as rg

# Each written field is at most this many characters.
MAX_WRITTEN_FIELD = 10_000
FORMATS = frozenset(pb.RenderModelCardRequest.Format.values())


def parse_card(name: str, field: str) -> tuple[str, str, int, str]:
    """(tenant, model id, version number, version name) of a card's name, or INVALID_ARGUMENT
    naming ``field``."""
    version_name = names.MODEL_CARD.parent_name(name, field)
    tenant, model_id, number = rules.parse_version(version_name, field)
    return tenant, model_id, number, version_name


def facts_proto(facts: store.CardFacts) -> pb.ModelCardFacts:
    version = version_proto(facts.version, facts.version_data)
    evaluation: list[rg.EvaluationMetric] = []
    fairness: list[rg.EvaluationMetric] = []
    for metric in version.evaluation:
        (fairness if metric.key.startswith("fairness.") else evaluation).append(metric)
    message = pb.ModelCardFacts(
        model_version=version,
        source_run=facts.version.source_run,
        run_params=facts.run_params,
        run_metrics=facts.run_metrics,
        training_dataset=facts.version.training_dataset,
        training_dataset_uri=facts.training_dataset_uri,
        evaluation=evaluation,
        fairness=fairness,
        upstream_artifacts=facts.upstream_artifacts,
        upstream_executions=facts.upstream_executions,
        online_evaluation=[
            rg.EvaluationMetric(key=m.key, value=m.value, split=m.split, slice=m.slice)
            for m in facts.online_evaluation
        ],
        reviews=[
            pb.ModelCardReview(
                principal=review.principal,
                decision=review.decision,
                reason=review.reason,
                time=clock.to_timestamp(review.time_us),
            )
            for review in facts.reviews
        ],
    )
    message.training_dataset_properties.update(facts.training_dataset_properties)
    return message


def card_proto(name: str, row: ModelCard | None, facts: store.CardFacts) -> pb.ModelCard:
    message = pb.ModelCard(
        name=name,
        facts=facts_proto(facts),
        etag=check.etag_of(store.card_etag_version(row)),
    )
    if row is not None:
        for field in store.WRITTEN_FIELDS:
            setattr(message, field, getattr(row, field))
        message.update_time.FromMicroseconds(row.update_time)
    return message


class ModelCardService(pb_grpc.ModelCardServiceServicer):
    def __init__(self, services: Services) -> None:
        self.db = services.db

    async def _read(self, name: str, field: str) -> pb.ModelCard:
        _, model_id, number, version_name = parse_card(name, field)
        async with self.db.read() as session:
            version = await registry_store.get_version(session, model_id, number, version_name)
            row = await store.get_card(session, version.pk)
            facts = await store.gather_facts(session, version)
        return card_proto(name, row, facts)

    async def GetModelCard(
        self, request: pb.GetModelCardRequest, context: ServicerContext
    ) -> pb.ModelCard:
        return await self._read(request.name, "name")

    async def UpdateModelCard(
        self, request: pb.UpdateModelCardRequest, context: ServicerContext
    ) -> pb.ModelCard:
        patch = request.model_card
        _, model_id, number, version_name = parse_card(patch.name, "model_card.name")
        paths = check.update_paths(list(request.update_mask.paths), store.WRITTEN_FIELDS)
        values = {
            field: check.string(
                getattr(patch, field), f"model_card.{field}", maximum=MAX_WRITTEN_FIELD
            )
            for field in sorted(paths)
        }
        async with self.db.write() as unit:
            version = await registry_store.get_version(unit.session, model_id, number, version_name)
            row = await store.get_card(unit.session, version.pk)
            check.check_etag(patch.etag, store.card_etag_version(row), patch.name)
            row = store.write_card(unit.session, row, version.pk, values)
            unit.audit(patch.name, action="update", fields=sorted(paths))
            await unit.session.flush()
            facts = await store.gather_facts(unit.session, version)
            result = card_proto(patch.name, row, facts)
        return result

    async def RenderModelCard(
        self, request: pb.RenderModelCardRequest, context: ServicerContext
    ) -> pb.RenderedModelCard:
        if request.format not in FORMATS:
            raise InvalidArgument.for_field("format", f"unknown format {request.format}")
        card = await self._read(request.name, "name")
        if request.format == pb.RenderModelCardRequest.FORMAT_HTML:
            return pb.RenderedModelCard(
                content_type="text/html; charset=utf-8", content=render.to_html(card)
            )
        return pb.RenderedModelCard(
            content_type="text/markdown; charset=utf-8", content=render.to_markdown(card)
        )
