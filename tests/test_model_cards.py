"""ModelCardService over the real server, on SQLite and PostgreSQL: a version trained in the
test (run, dataset, execution, file), its card's facts, written fields and renderings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from controlplane import clock
from controlplane.server.app import RunningServer
from controlplane.store import registry as registry_store
from controlplane.store.models import ModelVersionReview
from controlplane.store.tenancy import tenant_scope
from controlplane.v1 import audit_service_pb2 as au
from controlplane.v1 import experiment_service_pb2 as ex
from controlplane.v1 import metadata_service_pb2 as md
from controlplane.v1 import model_card_service_pb2 as mc
from controlplane.v1 import registry_service_pb2 as rg
from tests.conftest import TenantWorld
from tests.rpc_samples import upload_requests
from tests.test_cli import Cli, _clean_environment  # noqa: F401  (an autouse fixture)
from tests.test_experiments import batch, expect_error

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
ABORTED = grpc.StatusCode.ABORTED
HTML = mc.RenderModelCardRequest.FORMAT_HTML
MARKDOWN = mc.RenderModelCardRequest.FORMAT_MARKDOWN


@dataclass
class Trained:
    version: rg.ModelVersion
    card: str
    run: str
    dataset: str
    dataset_uri: str
    execution: str
    model_file: str


async def train(world: TenantWorld) -> Trained:
    """A version as a training pipeline leaves it: a run with params and metrics, a dataset
    with statistics, a training execution reading it and writing the model file."""
    api = world["editor"]
    experiment = await api.call(
        api.experiments.CreateExperiment,
        ex.CreateExperimentRequest(parent=world.name, experiment_id="churn"),
    )
    run = await api.call(
        api.experiments.CreateRun, ex.CreateRunRequest(parent=experiment.name, run_id="train-1")
    )
    await api.call(
        api.experiments.LogParams,
        ex.LogParamsRequest(run=run.name, params={"learning_rate": "0.05", "max_depth": "7"}),
    )
    await api.call(
        api.experiments.LogMetricBatch,
        ex.LogMetricBatchRequest(
            run=run.name, batch=batch({"train_loss": [0.9, 0.41], "val_auc": [0.87, 0.913]})
        ),
    )
    dataset = await api.call(
        api.metadata.CreateArtifact,
        md.CreateArtifactRequest(
            parent=world.name,
            artifact_id="churn-train",
            artifact=md.Artifact(
                type="Dataset",
                properties={
                    "row_count": md.Value(int_value=48213),
                    "positive_rate": md.Value(double_value=0.137),
                },
            ),
        ),
    )
    dataset_content = b"customer_id,churned\n1,0\n2,1\n"
    await api.artifacts.UploadArtifactContent(
        iter(upload_requests(dataset.name, dataset_content)), metadata=api.auth
    )
    model_file = await api.call(
        api.metadata.CreateArtifact,
        md.CreateArtifactRequest(
            parent=world.name, artifact_id="churn-model", artifact=md.Artifact(type="Model")
        ),
    )
    execution = await api.call(
        api.metadata.CreateExecution,
        md.CreateExecutionRequest(
            parent=world.name, execution_id="train-churn", execution=md.Execution(type="Trainer")
        ),
    )
    await api.call(
        api.metadata.AddExecutionEvents,
        md.AddExecutionEventsRequest(
            execution=execution.name,
            events=[
                md.Event(artifact=dataset.name, type=md.Event.TYPE_INPUT),
                md.Event(artifact=model_file.name, type=md.Event.TYPE_OUTPUT),
            ],
        ),
    )
    await api.artifacts.UploadArtifactContent(
        iter(upload_requests(model_file.name, b"gradient boosted weights")), metadata=api.auth
    )
    model = await api.call(
        api.registry.CreateRegisteredModel,
        rg.CreateRegisteredModelRequest(parent=world.name, model_id="churn"),
    )
    version = await api.call(
        api.registry.CreateModelVersion,
        rg.CreateModelVersionRequest(
            parent=model.name,
            model_version=rg.ModelVersion(
                files=[rg.ModelFile(role="model", artifact=model_file.name)],
                source_run=run.name,
                training_dataset=dataset.name,
                code_version="git:4f2a9c1",
                features=["tenure_months", "monthly_spend"],
                framework="sklearn",
                runtime=rg.RuntimeRequirements(
                    python_version="3.12", packages=["scikit-learn==1.5.0"]
                ),
                signature=rg.ModelSignature(
                    inputs=[rg.TensorSpec(name="features", dtype="float32", shape=[-1, 2])],
                    outputs=[rg.TensorSpec(name="churn_probability", dtype="float32")],
                ),
                evaluation=[
                    rg.EvaluationMetric(key="auc", value=0.9134, split="test"),
                    rg.EvaluationMetric(key="accuracy", value=0.8821, split="test"),
                    rg.EvaluationMetric(key="auc", value=0.8712, split="test", slice="region=emea"),
                    rg.EvaluationMetric(key="auc", value=0.9377, split="test", slice="region=apac"),
                    rg.EvaluationMetric(
                        key="fairness.demographic_parity_gap", value=0.031, split="test"
                    ),
                ],
            ),
        ),
    )
    # Uploading content points the dataset's uri at it.
    dataset_uri = f"sha256:{hashlib.sha256(dataset_content).hexdigest()}"
    return Trained(
        version,
        f"{version.name}/card",
        run.name,
        dataset.name,
        dataset_uri,
        execution.name,
        model_file.name,
    )


async def write_reviews(server: RunningServer, world: TenantWorld, version: str) -> None:
    """Reviews as the GovernanceService records them (written directly: this slice reads them)."""
    number = int(version.rsplit("/", 1)[1])
    db = server.services.db
    with tenant_scope(world.tenant_id):
        async with db.write() as unit:
            row = await registry_store.get_version(unit.session, "churn", number, version)
            now = clock.now_us()
            unit.session.add_all(
                [
                    ModelVersionReview(
                        tenant_id=world.tenant_id,
                        version_pk=row.pk,
                        review_round=1,
                        principal=f"{world.name}/principals/approver",
                        decision="reject",
                        reason="EMEA slice AUC below 0.88",
                        time=now - 60_000_000,
                    ),
                    ModelVersionReview(
                        tenant_id=world.tenant_id,
                        version_pk=row.pk,
                        review_round=2,
                        principal=f"{world.name}/principals/approver",
                        decision="approve",
                        reason="EMEA gap accepted with monitoring",
                        time=now,
                    ),
                ]
            )
            unit.audit(version, action="review_fixture")


async def test_a_new_card_has_the_gathered_facts_and_no_written_fields(
    world: TenantWorld,
) -> None:
    trained = await train(world)
    api = world["viewer"]
    card = await api.call(api.cards.GetModelCard, mc.GetModelCardRequest(name=trained.card))
    assert card.name == trained.card
    assert card.limitations == "" and not card.HasField("update_time")
    facts = card.facts
    assert facts.model_version == trained.version
    assert facts.source_run == trained.run
    assert facts.run_params == {"learning_rate": "0.05", "max_depth": "7"}
    assert dict(facts.run_metrics) == {"train_loss": 0.41, "val_auc": 0.913}
    assert facts.training_dataset == trained.dataset
    assert facts.training_dataset_uri == trained.dataset_uri
    assert dict(facts.training_dataset_properties) == {
        "row_count": 48213,
        "positive_rate": 0.137,
    }
    assert [(m.key, m.slice) for m in facts.evaluation] == [
        ("auc", ""),
        ("accuracy", ""),
        ("auc", "region=emea"),
        ("auc", "region=apac"),
    ]
    assert [(m.key, m.value) for m in facts.fairness] == [
        ("fairness.demographic_parity_gap", 0.031)
    ]
    assert list(facts.upstream_artifacts) == [trained.dataset]
    assert list(facts.upstream_executions) == [trained.execution]
    assert list(facts.reviews) == []


async def test_reviews_of_every_round_are_listed_oldest_first(
    server: RunningServer, world: TenantWorld
) -> None:
    trained = await train(world)
    await write_reviews(server, world, trained.version.name)
    api = world["viewer"]
    card = await api.call(api.cards.GetModelCard, mc.GetModelCardRequest(name=trained.card))
    assert [(r.decision, r.reason) for r in card.facts.reviews] == [
        ("reject", "EMEA slice AUC below 0.88"),
        ("approve", "EMEA gap accepted with monitoring"),
    ]
    assert card.facts.reviews[0].principal == f"{world.name}/principals/approver"
    assert card.facts.reviews[0].time.ToMicroseconds() < card.facts.reviews[1].time.ToMicroseconds()


async def test_rendered_card_shows_facts_reviews_and_written_fields(
    server: RunningServer, world: TenantWorld
) -> None:
    trained = await train(world)
    await write_reviews(server, world, trained.version.name)
    editor = world["editor"]
    await editor.call(
        editor.cards.UpdateModelCard,
        mc.UpdateModelCardRequest(
            model_card=mc.ModelCard(
                name=trained.card,
                intended_use="Rank accounts by churn risk for retention offers.",
                limitations="Trained on 2024 data only.",
            )
        ),
    )
    viewer = world["viewer"]
    expected = [
        "0.9134",
        "0.8821",
        "0.8712",
        "0.9377",
        "region=emea",
        "region=apac",
        "fairness.demographic_parity_gap",
        "0.031",
        trained.dataset_uri,
        "row_count",
        "48213",
        "positive_rate",
        "0.137",
        "learning_rate",
        "0.05",
        "max_depth",
        trained.execution,
        trained.dataset,
        trained.run,
        "git:4f2a9c1",
        f"{world.name}/principals/approver",
        "EMEA slice AUC below 0.88",
        "EMEA gap accepted with monitoring",
        "Rank accounts by churn risk for retention offers.",
        "Trained on 2024 data only.",
        "Not provided.",  # out-of-scope use, ethical considerations ... were never written
    ]
    for fmt, content_type in (
        (MARKDOWN, "text/markdown; charset=utf-8"),
        (HTML, "text/html; charset=utf-8"),
    ):
        rendered = await viewer.call(
            viewer.cards.RenderModelCard, mc.RenderModelCardRequest(name=trained.card, format=fmt)
        )
        assert rendered.content_type == content_type
        for text in expected:
            assert text in rendered.content, (content_type, text)
    default = await viewer.call(
        viewer.cards.RenderModelCard, mc.RenderModelCardRequest(name=trained.card)
    )
    assert default.content_type.startswith("text/markdown")
    assert default.content.startswith("# Model card: churn, version 1")


async def test_html_escapes_written_fields_and_has_no_scripts_or_external_references(
    world: TenantWorld,
) -> None:
    trained = await train(world)
    api = world["editor"]
    await api.call(
        api.cards.UpdateModelCard,
        mc.UpdateModelCardRequest(
            model_card=mc.ModelCard(
                name=trained.card, limitations="<script>alert(1)</script> & <b>bold</b>"
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["limitations"]),
        ),
    )
    page = (
        await api.call(
            api.cards.RenderModelCard, mc.RenderModelCardRequest(name=trained.card, format=HTML)
        )
    ).content
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<b>bold</b>" not in page


async def test_update_writes_masked_fields_bumps_the_etag_and_is_audited(
    world: TenantWorld,
) -> None:
    trained = await train(world)
    api = world["editor"]
    first = await api.call(
        api.cards.UpdateModelCard,
        mc.UpdateModelCardRequest(
            model_card=mc.ModelCard(
                name=trained.card, intended_use="retention", limitations="2024 only"
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["intended_use"]),
        ),
    )
    assert first.intended_use == "retention" and first.limitations == ""
    assert first.HasField("update_time")
    second = await api.call(
        api.cards.UpdateModelCard,
        mc.UpdateModelCardRequest(
            model_card=mc.ModelCard(name=trained.card, limitations="2024 only", etag=first.etag)
        ),
    )
    # An empty mask writes all six fields: intended_use was not sent, so it is cleared.
    assert second.limitations == "2024 only" and second.intended_use == ""
    assert second.etag != first.etag
    read = await api.call(api.cards.GetModelCard, mc.GetModelCardRequest(name=trained.card))
    assert read.etag == second.etag and read.limitations == "2024 only"
    admin = world["admin"]
    events = await admin.call(
        admin.audit.ListAuditEvents,
        au.ListAuditEventsRequest(parent=world.name, filter=f'resource = "{trained.card}"'),
    )
    assert len(events.audit_events) == 2
    assert {e.principal for e in events.audit_events} == {api.principal}


async def test_update_with_a_stale_etag_is_aborted(world: TenantWorld) -> None:
    trained = await train(world)
    api = world["editor"]
    blank = await api.call(api.cards.GetModelCard, mc.GetModelCardRequest(name=trained.card))
    await api.call(
        api.cards.UpdateModelCard,
        mc.UpdateModelCardRequest(
            model_card=mc.ModelCard(name=trained.card, limitations="a", etag=blank.etag)
        ),
    )
    await expect_error(
        ABORTED,
        api.call(
            api.cards.UpdateModelCard,
            mc.UpdateModelCardRequest(
                model_card=mc.ModelCard(name=trained.card, limitations="b", etag=blank.etag)
            ),
        ),
    )
    card = await api.call(api.cards.GetModelCard, mc.GetModelCardRequest(name=trained.card))
    assert card.limitations == "a"


async def test_a_mask_naming_a_fact_or_unknown_field_is_invalid(world: TenantWorld) -> None:
    trained = await train(world)
    api = world["editor"]
    for path in ("facts", "name", "nonsense"):
        _, fields = await expect_error(
            INVALID,
            api.call(
                api.cards.UpdateModelCard,
                mc.UpdateModelCardRequest(
                    model_card=mc.ModelCard(name=trained.card),
                    update_mask=field_mask_pb2.FieldMask(paths=[path]),
                ),
            ),
        )
        assert fields == ["update_mask"]


async def test_an_oversize_written_field_is_invalid_and_named(world: TenantWorld) -> None:
    trained = await train(world)
    api = world["editor"]
    _, fields = await expect_error(
        INVALID,
        api.call(
            api.cards.UpdateModelCard,
            mc.UpdateModelCardRequest(
                model_card=mc.ModelCard(name=trained.card, limitations="x" * 10_001)
            ),
        ),
    )
    assert fields == ["model_card.limitations"]
    exact = await api.call(
        api.cards.UpdateModelCard,
        mc.UpdateModelCardRequest(
            model_card=mc.ModelCard(name=trained.card, ethical_considerations="y" * 10_000)
        ),
    )
    assert len(exact.ethical_considerations) == 10_000


async def test_malformed_card_names_are_invalid_and_name_the_field(world: TenantWorld) -> None:
    trained = await train(world)
    api = world["viewer"]
    for name in (trained.version.name, f"{trained.version.name}/cards", f"{world.name}/card"):
        _, fields = await expect_error(
            INVALID, api.call(api.cards.GetModelCard, mc.GetModelCardRequest(name=name))
        )
        assert fields == ["name"], name
    _, fields = await expect_error(
        INVALID,
        world["editor"].call(
            world["editor"].cards.UpdateModelCard,
            mc.UpdateModelCardRequest(model_card=mc.ModelCard(name=trained.version.name)),
        ),
    )
    assert fields == ["model_card.name"]


async def test_the_card_of_a_missing_version_is_not_found(world: TenantWorld) -> None:
    trained = await train(world)
    api = world["editor"]
    missing = trained.card.replace("/versions/1/", "/versions/9/")
    await expect_error(
        NOT_FOUND, api.call(api.cards.GetModelCard, mc.GetModelCardRequest(name=missing))
    )
    await expect_error(
        NOT_FOUND,
        api.call(
            api.cards.UpdateModelCard,
            mc.UpdateModelCardRequest(model_card=mc.ModelCard(name=missing, limitations="x")),
        ),
    )


async def test_another_tenants_card_is_not_found(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    trained = await train(world)
    intruder = other_world["admin"]
    for call in (
        intruder.call(intruder.cards.GetModelCard, mc.GetModelCardRequest(name=trained.card)),
        intruder.call(intruder.cards.RenderModelCard, mc.RenderModelCardRequest(name=trained.card)),
        intruder.call(
            intruder.cards.UpdateModelCard,
            mc.UpdateModelCardRequest(model_card=mc.ModelCard(name=trained.card, limitations="x")),
        ),
    ):
        await expect_error(NOT_FOUND, call)
    # The same version id in the intruder's own tenant is also just missing.
    await expect_error(
        NOT_FOUND,
        intruder.call(
            intruder.cards.GetModelCard,
            mc.GetModelCardRequest(name=trained.card.replace(world.name, other_world.name)),
        ),
    )
    owner = world["viewer"]
    card = await owner.call(owner.cards.GetModelCard, mc.GetModelCardRequest(name=trained.card))
    assert card.limitations == ""


# -- mlctl ------------------------------------------------------------------------------------


async def test_cli_edits_a_card_and_writes_it_as_html_or_prints_markdown(
    server: RunningServer,
    world: TenantWorld,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    trained = await train(world)
    cli = Cli(server, world["editor"].token, capsys)
    notes = tmp_path / "ethics.txt"
    notes.write_text("Scores must not drive pricing.\n", encoding="utf-8")
    edited = await cli.json(
        "models",
        "card-edit",
        trained.version.name,
        "--intended-use",
        "Retention offers",
        "--limitations",
        "<script>alert(1)</script>",
        "--ethical-considerations",
        f"@{notes}",
    )
    assert edited["name"] == trained.card
    assert edited["limitations"] == "<script>alert(1)</script>"
    assert edited["ethicalConsiderations"] == "Scores must not drive pricing.\n"
    page = tmp_path / "card.html"
    code, out, err = await cli.run(
        "models", "card", trained.version.name, "--html", "--output-file", str(page)
    )
    assert code == 0, err
    assert str(page) in out
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "Retention offers" in html and "Scores must not drive pricing." in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert "0.9134" in html and "region=emea" in html and trained.dataset_uri in html
    code, out, err = await cli.run("models", "card", trained.version.name)
    assert code == 0, err
    assert out.startswith("# Model card: churn, version 1")
    assert "Retention offers" in out and "| test | auc | 0.9134 |" in out
    code, _, err = await cli.run(
        "models", "card-edit", trained.version.name, "--limitations", "x", "--etag", 'W/"0"'
    )
    assert code == 1 and "ABORTED" in err
    code, _, err = await cli.run("models", "card-edit", trained.version.name)
    assert code == 1 and "nothing to change" in err
