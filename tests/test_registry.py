"""RegistryService behaviour over the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import select

from controlplane.client import Client
from controlplane.server.app import RunningServer
from controlplane.store.models import RegisteredModel
from controlplane.store.tenancy import tenant_scope
from controlplane.v1 import audit_service_pb2 as au
from controlplane.v1 import experiment_service_pb2 as ex
from controlplane.v1 import metadata_service_pb2 as md
from controlplane.v1 import registry_service_pb2 as rg
from tests.conftest import Api, TenantWorld
from tests.rpc_samples import upload_requests
from tests.test_experiments import details, expect_error

NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
ABORTED = grpc.StatusCode.ABORTED


async def artifact(api: Api, world: TenantWorld, content: bytes | None = b"weights") -> str:
    row = await api.call(
        api.metadata.CreateArtifact,
        md.CreateArtifactRequest(parent=world.name, artifact=md.Artifact(type="Model")),
    )
    if content is not None:
        await api.artifacts.UploadArtifactContent(
            iter(upload_requests(row.name, content)), metadata=api.auth
        )
    return str(row.name)


async def model(api: Api, world: TenantWorld, model_id: str = "", **fields: object) -> str:
    row = await api.call(
        api.registry.CreateRegisteredModel,
        rg.CreateRegisteredModelRequest(
            parent=world.name, model_id=model_id, registered_model=rg.RegisteredModel(**fields)
        ),
    )
    return str(row.name)


async def version(api: Api, parent: str, file: str, **fields: object) -> rg.ModelVersion:
    return await api.call(
        api.registry.CreateModelVersion,
        rg.CreateModelVersionRequest(
            parent=parent,
            model_version=rg.ModelVersion(
                files=[rg.ModelFile(role="model", artifact=file)], **fields
            ),
        ),
    )


def set_alias(
    api: Api, model_name: str, alias: str, target: str, etag: str = "", **fields: object
) -> object:
    return api.call(
        api.registry.SetModelAlias,
        rg.SetModelAliasRequest(
            alias=rg.ModelAlias(name=f"{model_name}/aliases/{alias}", version=target, etag=etag),
            **fields,
        ),
    )


# -- models -----------------------------------------------------------------------------------


async def test_model_create_get_update_list_delete(world: TenantWorld) -> None:
    api = world["editor"]
    name = await model(api, world, "churn", display_name="Churn", tags={"team": "growth"})
    got = await api.call(api.registry.GetRegisteredModel, rg.GetRegisteredModelRequest(name=name))
    assert (got.display_name, dict(got.tags), got.latest_version) == (
        "Churn",
        {"team": "growth"},
        0,
    )
    updated = await api.call(
        api.registry.UpdateRegisteredModel,
        rg.UpdateRegisteredModelRequest(
            registered_model=rg.RegisteredModel(name=name, description="d", etag=got.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        ),
    )
    assert updated.description == "d" and updated.etag != got.etag
    reason, _ = await expect_error(
        ABORTED,
        api.call(
            api.registry.UpdateRegisteredModel,
            rg.UpdateRegisteredModelRequest(
                registered_model=rg.RegisteredModel(name=name, description="x", etag=got.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            ),
        ),
    )
    assert reason == "ETAG_MISMATCH"
    await expect_error(grpc.StatusCode.ALREADY_EXISTS, model(api, world, "churn"))
    listed = await api.call(
        api.registry.ListRegisteredModels,
        rg.ListRegisteredModelsRequest(parent=world.name, filter='tags.team = "growth"'),
    )
    assert [m.name for m in listed.registered_models] == [name]
    maintainer = world["maintainer"]
    await maintainer.call(
        maintainer.registry.DeleteRegisteredModel, rg.DeleteRegisteredModelRequest(name=name)
    )
    await expect_error(
        NOT_FOUND,
        api.call(api.registry.GetRegisteredModel, rg.GetRegisteredModelRequest(name=name)),
    )


async def test_create_model_with_request_id_is_idempotent(world: TenantWorld) -> None:
    api = world["editor"]
    request = rg.CreateRegisteredModelRequest(parent=world.name, request_id=str(uuid.uuid4()))
    first = await api.call(api.registry.CreateRegisteredModel, request)
    again = await api.call(api.registry.CreateRegisteredModel, request)
    assert first == again
    request.registered_model.display_name = "other"
    reason, _ = await expect_error(INVALID, api.call(api.registry.CreateRegisteredModel, request))
    assert reason == "REQUEST_ID_REUSED"


async def test_models_page_with_signed_tokens(world: TenantWorld) -> None:
    api = world["editor"]
    names = [await model(api, world) for _ in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await api.call(
            api.registry.ListRegisteredModels,
            rg.ListRegisteredModelsRequest(parent=world.name, page_size=2, page_token=token),
        )
        seen += [m.name for m in page.registered_models]
        token = page.next_page_token
        if not token:
            break
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        reason, _ = await expect_error(
            INVALID,
            api.call(
                api.registry.ListRegisteredModels,
                rg.ListRegisteredModelsRequest(parent=world.name, page_size=2, page_token=tampered),
            ),
        )
        assert reason == "INVALID_PAGE_TOKEN"
    assert seen == names


# -- versions ---------------------------------------------------------------------------------


async def test_versions_are_numbered_per_model_and_never_reused(world: TenantWorld) -> None:
    api, maintainer = world["editor"], world["maintainer"]
    file = await artifact(api, world)
    first, second = await model(api, world), await model(api, world)
    numbers = [(await version(api, first, file)).version for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert (await version(api, second, file)).version == 1
    await maintainer.call(
        maintainer.registry.DeleteModelVersion,
        rg.DeleteModelVersionRequest(name=f"{first}/versions/3"),
    )
    assert (await version(api, first, file)).version == 4
    got = await api.call(api.registry.GetRegisteredModel, rg.GetRegisteredModelRequest(name=first))
    assert got.latest_version == 4


async def test_numbers_past_32_bits_work_the_same_on_both_stores(
    world: TenantWorld, server: RunningServer
) -> None:
    """Version numbers and etag counters are signed 64-bit on SQLite and PostgreSQL alike."""
    editor, maintainer = world["editor"], world["maintainer"]
    name = await model(editor, world)
    big = 2**40
    with tenant_scope(world.tenant_id):
        async with server.services.db.write() as unit:
            row = await unit.session.scalar(
                select(RegisteredModel).where(RegisteredModel.model_id == name.rsplit("/", 1)[1])
            )
            assert row is not None
            row.latest_version, row.version = big, big
            unit.audit(name, action="test")
    got = await editor.call(
        editor.registry.GetRegisteredModel, rg.GetRegisteredModelRequest(name=name)
    )
    assert got.latest_version == big
    updated = await editor.call(
        editor.registry.UpdateRegisteredModel,
        rg.UpdateRegisteredModelRequest(
            registered_model=rg.RegisteredModel(name=name, description="d", etag=got.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        ),
    )
    assert updated.etag != got.etag
    created = await version(editor, name, await artifact(world["admin"], world))
    assert created.version == big + 1 and created.name == f"{name}/versions/{big + 1}"
    assert (await set_alias(maintainer, name, "champion", created.name)) is not None
    history = await maintainer.call(
        maintainer.registry.ListModelAliasHistory,
        rg.ListModelAliasHistoryRequest(alias=f"{name}/aliases/champion"),
    )
    assert [c.version for c in history.changes] == [created.name]
    listed = await editor.call(
        editor.registry.ListModelVersions,
        rg.ListModelVersionsRequest(parent=name, filter=f"version > {2**35}"),
    )
    assert [v.name for v in listed.model_versions] == [created.name]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await editor.call(
            editor.registry.GetModelVersion,
            rg.GetModelVersionRequest(name=f"{name}/versions/{2**62}"),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_concurrent_versions_get_distinct_numbers(world: TenantWorld) -> None:
    api = world["editor"]
    file = await artifact(api, world)
    parent = await model(api, world)
    created = await asyncio.gather(*(version(api, parent, file) for _ in range(6)))
    assert sorted(v.version for v in created) == [1, 2, 3, 4, 5, 6]


async def test_version_records_what_it_is_made_of(world: TenantWorld) -> None:
    api = world["editor"]
    experiment = await api.call(
        api.experiments.CreateExperiment, ex.CreateExperimentRequest(parent=world.name)
    )
    run = await api.call(api.experiments.CreateRun, ex.CreateRunRequest(parent=experiment.name))
    file = await artifact(api, world, b"the weights")
    dataset = await artifact(api, world, None)
    parent = await model(api, world)
    created = await version(
        api,
        parent,
        file,
        source_run=run.name,
        training_dataset=dataset,
        code_version="abc123",
        framework="sklearn",
        features=["fv1"],
        signature=rg.ModelSignature(
            inputs=[rg.TensorSpec(name="x", dtype="float32", shape=[-1, 4])],
            outputs=[rg.TensorSpec(name="y", dtype="int64", shape=[-1])],
        ),
        runtime=rg.RuntimeRequirements(python_version="3.11", packages=["scikit-learn==1.9.1"]),
        evaluation=[rg.EvaluationMetric(key="auc", value=0.91, split="test")],
        tags={"k": "v"},
    )
    got = await api.call(api.registry.GetModelVersion, rg.GetModelVersionRequest(name=created.name))
    assert got == created
    assert got.state == rg.ModelVersion.STATE_REGISTERED
    assert got.author == api.principal
    assert got.files[0].sha256 == hashlib.sha256(b"the weights").hexdigest()
    assert got.signature.inputs[0].shape == [-1, 4]
    assert got.evaluation[0].key == "auc" and got.evaluation[0].value == pytest.approx(0.91)


async def test_version_is_immutable_but_description_and_tags_change(world: TenantWorld) -> None:
    api = world["editor"]
    created = await version(api, await model(api, world), await artifact(api, world))
    _, fields = await expect_error(
        INVALID,
        api.call(
            api.registry.UpdateModelVersion,
            rg.UpdateModelVersionRequest(
                model_version=rg.ModelVersion(name=created.name, framework="torch"),
                update_mask=field_mask_pb2.FieldMask(paths=["framework"]),
            ),
        ),
    )
    assert fields == ["update_mask"]
    updated = await api.call(
        api.registry.UpdateModelVersion,
        rg.UpdateModelVersionRequest(
            model_version=rg.ModelVersion(name=created.name, description="d", tags={"a": "b"}),
            update_mask=field_mask_pb2.FieldMask(paths=["description", "tags"]),
        ),
    )
    assert (updated.description, dict(updated.tags)) == ("d", {"a": "b"})
    assert updated.files == created.files and updated.etag != created.etag


async def test_version_file_must_have_content(world: TenantWorld) -> None:
    api = world["editor"]
    empty = await artifact(api, world, None)
    reason, _ = await expect_error(PRECONDITION, version(api, await model(api, world), empty))
    assert reason == "FAILED_PRECONDITION"


@pytest.mark.parametrize(
    ("files", "field"),
    [
        ([], "model_version.files"),
        ([("m", "A"), ("m", "A")], "model_version.files[1].role"),
        ([("Bad Role", "A")], "model_version.files[0].role"),
        ([("m", "not-a-name")], "model_version.files[0].artifact"),
    ],
)
async def test_bad_files_name_their_field(
    world: TenantWorld, files: list[tuple[str, str]], field: str
) -> None:
    api = world["editor"]
    file = await artifact(api, world)
    request = rg.CreateModelVersionRequest(
        parent=await model(api, world),
        model_version=rg.ModelVersion(
            files=[
                rg.ModelFile(role=role, artifact=file if target == "A" else target)
                for role, target in files
            ]
        ),
    )
    _, fields = await expect_error(INVALID, api.call(api.registry.CreateModelVersion, request))
    assert fields == [field]


async def test_bad_signature_and_evaluation_are_refused(world: TenantWorld) -> None:
    api = world["editor"]
    parent, file = await model(api, world), await artifact(api, world)
    _, fields = await expect_error(
        INVALID,
        version(
            api,
            parent,
            file,
            signature=rg.ModelSignature(inputs=[rg.TensorSpec(name="x", dtype="float33")]),
        ),
    )
    assert fields == ["model_version.signature.inputs[0].dtype"]
    _, fields = await expect_error(
        INVALID,
        version(api, parent, file, evaluation=[rg.EvaluationMetric(key="k", value=float("inf"))]),
    )
    assert fields == ["model_version.evaluation[0].value"]


async def test_another_tenants_artifact_or_run_is_not_found(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    api = world["editor"]
    foreign = await artifact(other_world["editor"], other_world)
    parent = await model(api, world)
    await expect_error(NOT_FOUND, version(api, parent, foreign))
    other = other_world["editor"]
    experiment = await other.call(
        other.experiments.CreateExperiment, ex.CreateExperimentRequest(parent=other_world.name)
    )
    run = await other.call(other.experiments.CreateRun, ex.CreateRunRequest(parent=experiment.name))
    await expect_error(
        NOT_FOUND, version(api, parent, await artifact(api, world), source_run=run.name)
    )
    missing = f"{world.name}/experiments/nope/runs/nope"
    await expect_error(
        NOT_FOUND, version(api, parent, await artifact(api, world), source_run=missing)
    )


async def test_create_version_with_request_id_is_idempotent(world: TenantWorld) -> None:
    api = world["editor"]
    request = rg.CreateModelVersionRequest(
        parent=await model(api, world),
        model_version=rg.ModelVersion(
            files=[rg.ModelFile(role="model", artifact=await artifact(api, world))]
        ),
        request_id=str(uuid.uuid4()),
    )
    first = await api.call(api.registry.CreateModelVersion, request)
    again = await api.call(api.registry.CreateModelVersion, request)
    assert first == again and first.version == 1


async def test_list_versions_filters_pages_and_spans_models(world: TenantWorld) -> None:
    api = world["editor"]
    file = await artifact(api, world)
    first, second = await model(api, world), await model(api, world)
    for index in range(3):
        await version(api, first, file, tags={"i": str(index)}, framework="sklearn")
    await version(api, second, file, framework="torch")
    tagged = await api.call(
        api.registry.ListModelVersions,
        rg.ListModelVersionsRequest(parent=first, filter='tags.i = "1"'),
    )
    assert [v.version for v in tagged.model_versions] == [2]
    registered = await api.call(
        api.registry.ListModelVersions,
        rg.ListModelVersionsRequest(
            parent=f"{world.name}/models/-",
            filter='state = STATE_REGISTERED AND framework = "torch"',
        ),
    )
    assert [v.name for v in registered.model_versions] == [f"{second}/versions/1"]
    page = await api.call(
        api.registry.ListModelVersions,
        rg.ListModelVersionsRequest(parent=first, page_size=2, order_by="version desc"),
    )
    rest = await api.call(
        api.registry.ListModelVersions,
        rg.ListModelVersionsRequest(
            parent=first, page_size=2, order_by="version desc", page_token=page.next_page_token
        ),
    )
    assert [v.version for v in [*page.model_versions, *rest.model_versions]] == [3, 2, 1]
    await expect_error(
        INVALID,
        api.call(
            api.registry.ListModelVersions,
            rg.ListModelVersionsRequest(parent=first, filter="state = STATE_NOPE"),
        ),
    )


# -- aliases ----------------------------------------------------------------------------------


async def test_alias_create_move_etag_and_history(world: TenantWorld) -> None:
    api, boss = world["editor"], world["maintainer"]
    file = await artifact(api, world)
    parent = await model(api, world)
    v1, v2 = await version(api, parent, file), await version(api, parent, file)
    created = await set_alias(boss, parent, "champion", v1.name, etag="new", reason="first")
    assert created.version == v1.name  # type: ignore[attr-defined]
    reason, _ = await expect_error(
        ABORTED, set_alias(boss, parent, "champion", v2.name, etag="new")
    )
    assert reason == "ETAG_MISMATCH"
    moved = await set_alias(
        boss,
        parent,
        "champion",
        v2.name,
        etag=created.etag,
        reason="better",  # type: ignore[attr-defined]
    )
    await expect_error(
        ABORTED,
        set_alias(boss, parent, "champion", v1.name, etag=created.etag),  # type: ignore[attr-defined]
    )
    got = await api.call(api.registry.GetRegisteredModel, rg.GetRegisteredModelRequest(name=parent))
    assert dict(got.aliases) == {"champion": 2}
    got_version = await api.call(
        api.registry.GetModelVersion, rg.GetModelVersionRequest(name=v2.name)
    )
    assert list(got_version.aliases) == ["champion"]
    await boss.call(
        boss.registry.DeleteModelAlias,
        rg.DeleteModelAliasRequest(
            name=moved.name,
            etag=moved.etag,
            reason="retired",  # type: ignore[attr-defined]
        ),
    )
    await expect_error(
        NOT_FOUND,
        api.call(api.registry.GetModelAlias, rg.GetModelAliasRequest(name=moved.name)),  # type: ignore[attr-defined]
    )
    history = await api.call(
        api.registry.ListModelAliasHistory,
        rg.ListModelAliasHistoryRequest(alias=moved.name, page_size=2),  # type: ignore[attr-defined]
    )
    rest = await api.call(
        api.registry.ListModelAliasHistory,
        rg.ListModelAliasHistoryRequest(
            alias=moved.name,
            page_size=2,
            page_token=history.next_page_token,  # type: ignore[attr-defined]
        ),
    )
    changes = [*history.changes, *rest.changes]
    assert [(c.previous_version, c.version, c.reason) for c in changes] == [
        (v2.name, "", "retired"),
        (v1.name, v2.name, "better"),
        ("", v1.name, "first"),
    ]
    assert {c.principal for c in changes} == {boss.principal}


async def test_concurrent_moves_with_the_same_etag_exactly_one_wins(world: TenantWorld) -> None:
    api, boss = world["editor"], world["maintainer"]
    file = await artifact(api, world)
    parent = await model(api, world)
    v1, v2, v3 = [await version(api, parent, file) for _ in range(3)]
    alias = await set_alias(boss, parent, "champion", v1.name)
    results = await asyncio.gather(
        set_alias(boss, parent, "champion", v2.name, etag=alias.etag),  # type: ignore[attr-defined]
        set_alias(boss, parent, "champion", v3.name, etag=alias.etag),  # type: ignore[attr-defined]
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(failures) == 1 and failures[0].code() == ABORTED
    created = await asyncio.gather(
        set_alias(boss, parent, "fresh", v2.name, etag="new"),
        set_alias(boss, parent, "fresh", v3.name, etag="new"),
        return_exceptions=True,
    )
    failures = [r for r in created if isinstance(r, grpc.aio.AioRpcError)]
    assert len(failures) == 1 and failures[0].code() == ABORTED


async def test_alias_target_rules(world: TenantWorld, other_world: TenantWorld) -> None:
    api, boss = world["editor"], world["maintainer"]
    file = await artifact(api, world)
    parent, other = await model(api, world), await model(api, world)
    own = await version(api, parent, file)
    foreign_model = await version(api, other, file)
    _, fields = await expect_error(INVALID, set_alias(boss, parent, "champion", foreign_model.name))
    assert fields == ["alias.version"]
    stranger = other_world["editor"]
    foreign = await version(
        stranger, await model(stranger, other_world), await artifact(stranger, other_world)
    )
    error = await expect_error(NOT_FOUND, set_alias(boss, parent, "champion", foreign.name))
    assert error[0] == "NOT_FOUND"
    await expect_error(NOT_FOUND, set_alias(boss, parent, "champion", f"{parent}/versions/9"))
    await boss.call(boss.registry.DeleteModelVersion, rg.DeleteModelVersionRequest(name=own.name))
    await expect_error(NOT_FOUND, set_alias(boss, parent, "champion", own.name))
    for bad in ("3", "Champion", "-x"):
        _, fields = await expect_error(INVALID, set_alias(boss, parent, bad, foreign_model.name))
        assert fields == ["alias.name"]


async def test_delete_rules(world: TenantWorld) -> None:
    api, boss = world["editor"], world["maintainer"]
    file = await artifact(api, world)
    parent = await model(api, world)
    v1 = await version(api, parent, file)
    alias = await set_alias(boss, parent, "champion", v1.name)
    for call in (
        boss.call(boss.registry.DeleteModelVersion, rg.DeleteModelVersionRequest(name=v1.name)),
        boss.call(
            boss.registry.DeleteRegisteredModel, rg.DeleteRegisteredModelRequest(name=parent)
        ),
        boss.call(boss.metadata.DeleteArtifact, md.DeleteArtifactRequest(name=file)),
    ):
        await expect_error(PRECONDITION, call)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await boss.call(boss.metadata.DeleteArtifact, md.DeleteArtifactRequest(name=file))
    assert v1.name in (caught.value.details() or "")
    await boss.call(
        boss.registry.DeleteModelAlias,
        rg.DeleteModelAliasRequest(name=alias.name),  # type: ignore[attr-defined]
    )
    await boss.call(
        boss.registry.DeleteRegisteredModel, rg.DeleteRegisteredModelRequest(name=parent)
    )
    await expect_error(
        NOT_FOUND,
        api.call(api.registry.GetModelVersion, rg.GetModelVersionRequest(name=v1.name)),
    )
    await boss.call(boss.metadata.DeleteArtifact, md.DeleteArtifactRequest(name=file))


async def test_alias_moves_are_audited_with_the_request_id(world: TenantWorld) -> None:
    api, boss, admin = world["editor"], world["maintainer"], world["admin"]
    parent = await model(api, world)
    v1 = await version(api, parent, await artifact(api, world))
    request_id = str(uuid.uuid4())
    alias = await set_alias(boss, parent, "champion", v1.name, request_id=request_id)
    events = await admin.call(
        admin.audit.ListAuditEvents,
        au.ListAuditEventsRequest(parent=world.name, filter=f'request_id = "{request_id}"'),
    )
    assert [(e.resource, e.method) for e in events.audit_events] == [
        (alias.name, "SetModelAlias")  # type: ignore[attr-defined]
    ]
    history = await api.call(
        api.registry.ListModelAliasHistory,
        rg.ListModelAliasHistoryRequest(alias=alias.name),  # type: ignore[attr-defined]
    )
    assert [c.request_id for c in history.changes] == [request_id]


# -- the Python client ------------------------------------------------------------------------


async def test_client_register_model_uploads_creates_and_moves_the_alias(
    server: RunningServer, world: TenantWorld, tmp_path: Path
) -> None:
    weights = tmp_path / "model.skops"
    weights.write_bytes(b"pretend weights")
    existing = await artifact(world["editor"], world, b"tokenizer")

    def work() -> tuple[rg.ModelVersion, rg.ModelVersion, rg.RegisteredModel, str]:
        with Client(
            f"127.0.0.1:{server.port}", world["maintainer"].token, tenant=world.tenant_id
        ) as client:
            with client.start_run(experiment="churn") as run:
                first = client.register_model(
                    run,
                    {"model": weights, "tokenizer": existing, "extra": b"bytes"},
                    "churn",
                    framework="sklearn",
                    evaluation={"auc": 0.9},
                    alias="champion",
                    reason="first model",
                )
                second = client.register_model(run, {"model": str(weights)}, "churn")
            got = client.registry.GetRegisteredModel(
                rg.GetRegisteredModelRequest(name=client.model_name("churn"))
            )
            return first, second, got, run.name

    first, second, got, run_name = await asyncio.to_thread(work)
    assert (first.version, second.version) == (1, 2)
    assert [f.role for f in first.files] == ["extra", "model", "tokenizer"]
    files = {f.role: f for f in first.files}
    assert files["model"].sha256 == hashlib.sha256(b"pretend weights").hexdigest()
    assert files["tokenizer"].artifact == existing
    assert first.source_run == second.source_run == run_name
    assert list(first.aliases) == ["champion"]
    assert dict(got.aliases) == {"champion": 1} and got.latest_version == 2
    # One call moved the alias (no SetModelAlias), with the reason in its history.
    admin = world["admin"]
    alias_name = f"{got.name}/aliases/champion"
    events = await admin.call(
        admin.audit.ListAuditEvents,
        au.ListAuditEventsRequest(parent=world.name, filter=f'resource = "{alias_name}"'),
    )
    assert [e.method for e in events.audit_events] == ["CreateModelVersion"]
    history = await admin.call(
        admin.registry.ListModelAliasHistory, rg.ListModelAliasHistoryRequest(alias=alias_name)
    )
    assert [c.reason for c in history.changes] == ["first model"]


# -- the direct path (SQLite) and what it must keep -------------------------------------------


async def test_version_and_alias_writes_are_audited_once_each(world: TenantWorld) -> None:
    api, admin = world["editor"], world["admin"]
    parent = await model(api, world)
    created = await version(api, parent, await artifact(api, world))
    await set_alias(world["maintainer"], parent, "staging", created.name)
    events = await admin.call(
        admin.audit.ListAuditEvents,
        au.ListAuditEventsRequest(parent=world.name, filter=f'resource = "{created.name}"'),
    )
    assert [(e.method, e.resource) for e in events.audit_events] == [
        ("CreateModelVersion", created.name)
    ]
    events = await admin.call(
        admin.audit.ListAuditEvents,
        au.ListAuditEventsRequest(
            parent=world.name, filter=f'resource = "{parent}/aliases/staging"'
        ),
    )
    assert [e.method for e in events.audit_events] == ["SetModelAlias"]


async def test_created_version_reads_back_as_it_was_returned(world: TenantWorld) -> None:
    api = world["editor"]
    parent = await model(api, world)
    created = await version(
        api,
        parent,
        await artifact(api, world),
        description="d",
        tags={"team": "a"},
        features=["x", "y"],
        framework="torch",
        signature=rg.ModelSignature(inputs=[rg.TensorSpec(name="x", dtype="float32", shape=[-1])]),
        runtime=rg.RuntimeRequirements(python_version="3.11", packages=["torch==2.3"]),
        evaluation=[rg.EvaluationMetric(key="auc", value=0.9, split="test")],
    )
    read = await api.call(
        api.registry.GetModelVersion, rg.GetModelVersionRequest(name=created.name)
    )
    assert read == created
    moved = await set_alias(world["maintainer"], parent, "prod", created.name)
    alias = await api.call(
        api.registry.GetModelAlias,
        rg.GetModelAliasRequest(name=moved.name),  # type: ignore[attr-defined]
    )
    assert alias == moved


async def test_request_id_reused_for_another_version_is_refused(world: TenantWorld) -> None:
    api = world["editor"]
    parent, file = await model(api, world), await artifact(api, world)
    request_id = str(uuid.uuid4())
    first = rg.CreateModelVersionRequest(
        parent=parent,
        model_version=rg.ModelVersion(files=[rg.ModelFile(role="model", artifact=file)]),
        request_id=request_id,
    )
    await api.call(api.registry.CreateModelVersion, first)
    other = rg.CreateModelVersionRequest()
    other.CopyFrom(first)
    other.model_version.description = "another"
    reason, fields = await expect_error(INVALID, api.call(api.registry.CreateModelVersion, other))
    assert (reason, fields) == ("REQUEST_ID_REUSED", ["request_id"])
    listed = await api.call(
        api.registry.ListModelVersions, rg.ListModelVersionsRequest(parent=parent)
    )
    assert [v.version for v in listed.model_versions] == [1]


async def test_a_failed_direct_version_write_leaves_nothing(
    server: RunningServer, world: TenantWorld
) -> None:
    from controlplane.domain import registry as rules
    from controlplane.names import MODEL_VERSION
    from controlplane.store import idempotency
    from controlplane.store import registry as store
    from controlplane.store.audit import CallInfo, call_info
    from controlplane.store.tenancy import tenant_scope

    db = server.services.db
    if not db.has_direct_writes:
        pytest.skip("direct writes exist only on the embedded SQLite store")
    api, admin = world["editor"], world["admin"]
    parent, file = await model(api, world), await artifact(api, world)
    request = rg.ModelVersion(files=[rg.ModelFile(role="model", artifact=file)])
    data = rules.new_version(request, world.tenant_id)
    model_id = parent.rsplit("/", 1)[1]
    token = call_info.set(CallInfo("tests", "CreateModelVersion", str(uuid.uuid4())))
    try:
        with tenant_scope(world.tenant_id), pytest.raises(RuntimeError, match="boom"):
            async with db.direct_write() as direct:
                row, _ = store.create_version_direct(direct, model_id, parent, data, "tests")
                direct.audit(MODEL_VERSION.format(world.tenant_id, model_id, "1"))
                idempotency.remember_direct(direct, "rid", "CreateModelVersion", request, request)
                raise RuntimeError("boom")
    finally:
        call_info.reset(token)
    assert row.number == 1
    got = await api.call(api.registry.GetRegisteredModel, rg.GetRegisteredModelRequest(name=parent))
    assert got.latest_version == 0
    listed = await api.call(
        api.registry.ListModelVersions, rg.ListModelVersionsRequest(parent=parent)
    )
    assert list(listed.model_versions) == []
    events = await admin.call(
        admin.audit.ListAuditEvents,
        au.ListAuditEventsRequest(parent=world.name, filter='method = "CreateModelVersion"'),
    )
    assert list(events.audit_events) == []
    # The number was not used up: the next version is 1.
    assert (await version(api, parent, file)).version == 1


async def test_a_refused_alias_move_changes_nothing(world: TenantWorld) -> None:
    api, boss = world["editor"], world["maintainer"]
    parent, file = await model(api, world), await artifact(api, world)
    v1, v2 = await version(api, parent, file), await version(api, parent, file)
    alias = await set_alias(boss, parent, "prod", v1.name)
    await expect_error(ABORTED, set_alias(boss, parent, "prod", v2.name, etag="new"))
    await expect_error(ABORTED, set_alias(boss, parent, "prod", v2.name, etag='"99"'))
    await expect_error(NOT_FOUND, set_alias(boss, parent, "prod", f"{parent}/versions/7"))
    again = await api.call(
        api.registry.GetModelAlias,
        rg.GetModelAliasRequest(name=alias.name),  # type: ignore[attr-defined]
    )
    assert again == alias
    history = await api.call(
        api.registry.ListModelAliasHistory,
        rg.ListModelAliasHistoryRequest(alias=alias.name),  # type: ignore[attr-defined]
    )
    assert len(history.changes) == 1


async def test_a_version_registered_with_aliases_moves_them_in_the_same_call(
    world: TenantWorld,
) -> None:
    maintainer = world["maintainer"]
    model_name = await model(maintainer, world)
    file = await artifact(maintainer, world)
    first = await version(maintainer, model_name, file)

    async def register(*aliases: str, request_id: str = "", reason: str = "") -> rg.ModelVersion:
        return await maintainer.call(
            maintainer.registry.CreateModelVersion,
            rg.CreateModelVersionRequest(
                parent=model_name,
                model_version=rg.ModelVersion(files=[rg.ModelFile(role="model", artifact=file)]),
                aliases=list(aliases),
                request_id=request_id,
                alias_reason=reason,
            ),
        )

    await set_alias(maintainer, model_name, "staging", first.name)
    request_id = str(uuid.uuid4())
    second = await register("staging", "latest", request_id=request_id)
    assert sorted(second.aliases) == ["latest", "staging"]
    again = await register("staging", "latest", request_id=request_id)  # a retry: the same
    assert again == second
    for alias in ("staging", "latest"):
        found = await maintainer.call(
            maintainer.registry.GetModelAlias,
            rg.GetModelAliasRequest(name=f"{model_name}/aliases/{alias}"),
        )
        assert found.version == second.name
    history = await maintainer.call(
        maintainer.registry.ListModelAliasHistory,
        rg.ListModelAliasHistoryRequest(alias=f"{model_name}/aliases/staging"),
    )
    newest = history.changes[0]
    assert (newest.previous_version, newest.version, newest.reason) == (
        first.name,
        second.name,
        "registered",
    )
    # With alias_reason, the history and the audit trail carry that reason instead.
    third = await register("staging", reason="nightly retrain passed its checks")
    history = await maintainer.call(
        maintainer.registry.ListModelAliasHistory,
        rg.ListModelAliasHistoryRequest(alias=f"{model_name}/aliases/staging"),
    )
    assert (history.changes[0].version, history.changes[0].reason) == (
        third.name,
        "nightly retrain passed its checks",
    )
    admin = world["admin"]
    events = await admin.call(
        admin.audit.ListAuditEvents,
        au.ListAuditEventsRequest(
            parent=world.name, filter=f'resource = "{model_name}/aliases/staging"'
        ),
    )
    assert events.audit_events[0].detail["reason"] == "nightly retrain passed its checks"
    # Bad aliases or reasons name the field, and nothing is registered.
    for aliases, reason, field in (
        (["Bad!"], "", "aliases[0]"),
        (["a", "a"], "", "aliases[1]"),
        ([], "a reason with nothing to move", "alias_reason"),
        (["a"], "x" * 1001, "alias_reason"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await register(*aliases, reason=reason)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert details(caught.value)[1] == [field]
    listed = await maintainer.call(
        maintainer.registry.ListModelVersions, rg.ListModelVersionsRequest(parent=model_name)
    )
    assert len(listed.model_versions) == 3
