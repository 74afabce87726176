"""MetadataService behaviour over the real server, on SQLite and PostgreSQL: artifacts,
executions and contexts (CRUD, properties, etags, idempotency, bad input, lists), events and
context membership, and lineage queries."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from controlplane.v1 import metadata_service_pb2 as md
from tests.conftest import Api, TenantWorld, make_tenant
from tests.test_experiments import expect_error

KINDS = ["artifact", "execution", "context"]
MESSAGES: dict[str, Any] = {
    "artifact": md.Artifact,
    "execution": md.Execution,
    "context": md.Context,
}
INPUT, OUTPUT = md.Event.TYPE_INPUT, md.Event.TYPE_OUTPUT
Q = md.QueryLineageSubgraphRequest


@pytest.fixture(scope="module")
async def shared(admin: Api, channel: grpc.aio.Channel) -> TenantWorld:
    """One tenant for the tests that only read or whose writes are refused: cheaper than a fresh
    tenant per test. Tests that list everything, or whose writes must not meet others', use
    ``world``."""
    return await make_tenant(admin, channel, prefix="m")


# -- helpers ------------------------------------------------------------------------------------


def noun(kind: str) -> str:
    return kind.capitalize()


def message(kind: str, **fields: Any) -> Any:
    """An Artifact, Execution or Context; type defaults to one that is valid."""
    fields.setdefault("type", "Dataset")
    return MESSAGES[kind](**fields)


def create_request(
    world: TenantWorld, kind: str, resource_id: str = "", request_id: str = "", **fields: Any
) -> Any:
    return getattr(md, f"Create{noun(kind)}Request")(
        parent=world.name,
        request_id=request_id,
        **{kind: message(kind, **fields), f"{kind}_id": resource_id},
    )


async def create(
    api: Api, world: TenantWorld, kind: str, resource_id: str = "", **fields: Any
) -> Any:
    return await api.call(
        getattr(api.metadata, f"Create{noun(kind)}"),
        create_request(world, kind, resource_id, **fields),
    )


async def get(api: Api, kind: str, name: str) -> Any:
    return await api.call(
        getattr(api.metadata, f"Get{noun(kind)}"), getattr(md, f"Get{noun(kind)}Request")(name=name)
    )


def update_call(api: Api, kind: str, patch: Any, paths: list[str] | None = None) -> Any:
    request = getattr(md, f"Update{noun(kind)}Request")(
        **{kind: patch}, update_mask=field_mask_pb2.FieldMask(paths=paths or [])
    )
    return api.call(getattr(api.metadata, f"Update{noun(kind)}"), request)


def delete_call(api: Api, kind: str, name: str, etag: str = "") -> Any:
    return api.call(
        getattr(api.metadata, f"Delete{noun(kind)}"),
        getattr(md, f"Delete{noun(kind)}Request")(name=name, etag=etag),
    )


def list_call(api: Api, world: TenantWorld, kind: str, **fields: Any) -> Any:
    return api.call(
        getattr(api.metadata, f"List{noun(kind)}s"),
        getattr(md, f"List{noun(kind)}sRequest")(parent=world.name, **fields),
    )


async def list_all(api: Api, world: TenantWorld, kind: str, **fields: Any) -> list[Any]:
    response = await list_call(api, world, kind, **fields)
    assert response.next_page_token == ""
    return list(getattr(response, f"{kind}s"))


def events_call(api: Api, execution: str, *events: tuple[str, int]) -> Any:
    return api.call(
        api.metadata.AddExecutionEvents,
        md.AddExecutionEventsRequest(
            execution=execution,
            events=[md.Event(artifact=artifact, type=kind) for artifact, kind in events],
        ),
    )


async def add_events(api: Api, execution: str, *events: tuple[str, int]) -> None:
    await events_call(api, execution, *events)


def lineage_call(api: Api, node: str, direction: int = Q.DIRECTION_BOTH, max_hops: int = 0) -> Any:
    return api.call(
        api.metadata.QueryLineageSubgraph, Q(node=node, direction=direction, max_hops=max_hops)
    )


@dataclass(frozen=True)
class Graph:
    """A lineage result reduced to names: what came back and whether it was cut short."""

    artifacts: frozenset[str]
    executions: frozenset[str]
    events: frozenset[tuple[str, str, int]]
    truncated: bool


async def lineage(
    api: Api, node: str, direction: int = Q.DIRECTION_BOTH, max_hops: int = 0
) -> Graph:
    result = await lineage_call(api, node, direction, max_hops)
    artifacts = [a.name for a in result.artifacts]
    executions = [e.name for e in result.executions]
    assert len(set(artifacts)) == len(artifacts) and len(set(executions)) == len(executions), (
        "nodes repeat"
    )
    events = [(e.artifact, e.execution, e.type) for e in result.events]
    assert len(set(events)) == len(events), "events repeat"
    for artifact, execution, _ in events:  # every edge joins two returned nodes
        assert artifact in artifacts and execution in executions, (artifact, execution)
    for event in result.events:
        assert event.HasField("event_time")
    return Graph(frozenset(artifacts), frozenset(executions), frozenset(events), result.truncated)


def tampered(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


# -- create, get, update, delete ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_created_resource_is_named_for_its_id_and_fetched_unchanged(
    shared: TenantWorld, kind: str
) -> None:
    editor = shared["editor"]
    created = await create(
        editor, shared, kind, "first-one", display_name="First", type="Model.v2_x-y"
    )
    assert created.name == f"{shared.name}/{kind}s/first-one"
    assert (created.display_name, created.type) == ("First", "Model.v2_x-y")
    assert created.HasField("create_time") and created.update_time == created.create_time
    assert created.etag
    assert await get(editor, kind, created.name) == created
    assert await get(shared["viewer"], kind, created.name) == created


@pytest.mark.parametrize("kind", KINDS)
async def test_create_without_id_generates_one(shared: TenantWorld, kind: str) -> None:
    editor = shared["editor"]
    first = await create(editor, shared, kind)
    second = await create(editor, shared, kind)
    assert first.name.startswith(f"{shared.name}/{kind}s/") and second.name.startswith(
        f"{shared.name}/{kind}s/"
    )
    assert first.name != second.name
    assert await get(editor, kind, first.name) == first


async def test_artifact_keeps_uri_and_state(shared: TenantWorld) -> None:
    editor = shared["editor"]
    created = await create(
        editor, shared, "artifact", uri="s3://bucket/data.parquet", state=md.Artifact.STATE_LIVE
    )
    fetched = await get(editor, "artifact", created.name)
    assert (fetched.uri, fetched.state) == ("s3://bucket/data.parquet", md.Artifact.STATE_LIVE)


async def test_artifact_without_state_stays_unspecified(shared: TenantWorld) -> None:
    editor = shared["editor"]
    created = await create(editor, shared, "artifact")
    assert created.state == md.Artifact.STATE_UNSPECIFIED


async def test_execution_without_state_is_new(shared: TenantWorld) -> None:
    editor = shared["editor"]
    created = await create(editor, shared, "execution")
    assert created.state == md.Execution.STATE_NEW
    running = await create(editor, shared, "execution", state=md.Execution.STATE_RUNNING)
    assert (await get(editor, "execution", running.name)).state == md.Execution.STATE_RUNNING


def every_value_kind() -> dict[str, md.Value]:
    nested = struct_pb2.Struct()
    nested.update(
        {
            "number": 1.5,
            "integral": 3,
            "text": "x",
            "flag": True,
            "nothing": None,
            "list": [1, "two", False, None, {"deep": []}],
            "object": {"k": "v", "empty": {}},
        }
    )
    return {
        "int": md.Value(int_value=42),
        "int_zero": md.Value(int_value=0),
        "int_max": md.Value(int_value=2**63 - 1),
        "int_min": md.Value(int_value=-(2**63)),
        "double": md.Value(double_value=0.1),
        "double_third": md.Value(double_value=1 / 3),
        "double_zero": md.Value(double_value=0.0),
        "double_negative": md.Value(double_value=-2.5e-7),
        "double_huge": md.Value(double_value=1.7976931348623157e308),
        "double_tiny": md.Value(double_value=5e-324),
        "string": md.Value(string_value='héllo "quoted" \\ ✓\nline'),
        "string_empty": md.Value(string_value=""),
        "bool_true": md.Value(bool_value=True),
        "bool_false": md.Value(bool_value=False),
        "struct": md.Value(struct_value=nested),
        "struct_empty": md.Value(struct_value=struct_pb2.Struct()),
        "dotted.key with spaces": md.Value(string_value="k"),
    }


def assert_same_properties(actual: Any, expected: dict[str, md.Value]) -> None:
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        assert actual[key].WhichOneof("kind") == value.WhichOneof("kind"), key
        assert actual[key] == value, key


@pytest.mark.parametrize("kind", KINDS)
async def test_properties_of_every_value_kind_round_trip_exactly(
    world: TenantWorld, kind: str
) -> None:
    editor = world["editor"]
    properties = every_value_kind()
    created = await create(editor, world, kind, properties=properties)
    assert_same_properties(created.properties, properties)
    assert_same_properties((await get(editor, kind, created.name)).properties, properties)
    [listed] = await list_all(editor, world, kind)
    assert_same_properties(listed.properties, properties)


@pytest.mark.parametrize("kind", KINDS)
async def test_properties_set_by_update_round_trip_exactly(shared: TenantWorld, kind: str) -> None:
    editor = shared["editor"]
    created = await create(editor, shared, kind, properties={"old": md.Value(int_value=1)})
    properties = every_value_kind()
    updated = await update_call(
        editor, kind, message(kind, name=created.name, properties=properties), ["properties"]
    )
    assert_same_properties(updated.properties, properties)
    assert_same_properties((await get(editor, kind, created.name)).properties, properties)


@pytest.mark.parametrize("kind", KINDS)
async def test_update_with_field_mask_changes_only_masked_fields(
    shared: TenantWorld, kind: str
) -> None:
    editor = shared["editor"]
    extra: dict[str, Any] = {
        "artifact": {"uri": "s3://a", "state": md.Artifact.STATE_PENDING},
        "execution": {"state": md.Execution.STATE_RUNNING},
        "context": {},
    }[kind]
    created = await create(
        editor, shared, kind, display_name="v1", properties={"a": md.Value(int_value=1)}, **extra
    )
    changed: dict[str, Any] = {
        "artifact": {"uri": "s3://b", "state": md.Artifact.STATE_LIVE},
        "execution": {"state": md.Execution.STATE_FAILED},
        "context": {},
    }[kind]
    patch = message(
        kind,
        name=created.name,
        display_name="v2",
        type="Other",
        properties={"b": md.Value(bool_value=True)},
        etag=created.etag,
        **changed,
    )
    updated = await update_call(editor, kind, patch, ["display_name"])
    expected = type(created)()
    expected.CopyFrom(created)
    expected.display_name = "v2"
    expected.etag = updated.etag
    expected.update_time.CopyFrom(updated.update_time)
    assert updated == expected
    assert updated.etag != created.etag
    assert updated.update_time.ToNanoseconds() >= created.update_time.ToNanoseconds()
    assert updated.create_time == created.create_time
    assert await get(editor, kind, created.name) == updated

    patch.etag = updated.etag
    again = await update_call(editor, kind, patch, ["properties"])
    assert dict(again.properties) == {"b": md.Value(bool_value=True)}
    assert again.display_name == "v2" and again.type == created.type
    for field, value in extra.items():
        assert getattr(again, field) == value


@pytest.mark.parametrize("kind", KINDS)
async def test_update_with_empty_mask_replaces_every_mutable_field_but_not_type(
    shared: TenantWorld, kind: str
) -> None:
    editor = shared["editor"]
    created = await create(
        editor, shared, kind, display_name="v1", properties={"a": md.Value(int_value=1)}
    )
    changed: dict[str, Any] = {
        "artifact": {"uri": "s3://b", "state": md.Artifact.STATE_LIVE},
        "execution": {"state": md.Execution.STATE_COMPLETE},
        "context": {},
    }[kind]
    patch = message(
        kind, name=created.name, display_name="v2", type="Changed", properties={}, **changed
    )
    updated = await update_call(editor, kind, patch)
    assert (updated.display_name, updated.type, dict(updated.properties)) == ("v2", "Dataset", {})
    for field, value in changed.items():
        assert getattr(updated, field) == value
    assert await get(editor, kind, created.name) == updated


@pytest.mark.parametrize("kind", KINDS)
async def test_update_with_stale_etag_is_aborted_and_changes_nothing(
    shared: TenantWorld, kind: str
) -> None:
    editor = shared["editor"]
    created = await create(editor, shared, kind, display_name="v1")
    current = await update_call(
        editor,
        kind,
        message(kind, name=created.name, display_name="v2", etag=created.etag),
        ["display_name"],
    )
    reason, _ = await expect_error(
        grpc.StatusCode.ABORTED,
        update_call(
            editor,
            kind,
            message(kind, name=created.name, display_name="v3", etag=created.etag),
            ["display_name"],
        ),
    )
    assert reason == "ETAG_MISMATCH"
    assert await get(editor, kind, created.name) == current


@pytest.mark.parametrize("kind", KINDS)
async def test_delete_with_stale_etag_is_aborted_and_keeps_the_resource(
    shared: TenantWorld, kind: str
) -> None:
    editor, maintainer = shared["editor"], shared["maintainer"]
    created = await create(editor, shared, kind, display_name="v1")
    current = await update_call(
        editor, kind, message(kind, name=created.name, display_name="v2"), ["display_name"]
    )
    reason, _ = await expect_error(
        grpc.StatusCode.ABORTED, delete_call(maintainer, kind, created.name, created.etag)
    )
    assert reason == "ETAG_MISMATCH"
    assert await get(editor, kind, created.name) == current


@pytest.mark.parametrize("kind", KINDS)
async def test_delete_with_current_etag_removes_it_and_get_is_not_found(
    world: TenantWorld, kind: str
) -> None:
    editor, maintainer = world["editor"], world["maintainer"]
    created = await create(editor, world, kind)
    await delete_call(maintainer, kind, created.name, created.etag)
    reason, _ = await expect_error(grpc.StatusCode.NOT_FOUND, get(editor, kind, created.name))
    assert reason == "NOT_FOUND"
    await expect_error(grpc.StatusCode.NOT_FOUND, delete_call(maintainer, kind, created.name))
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        update_call(editor, kind, message(kind, name=created.name, display_name="x")),
    )
    assert await list_all(editor, world, kind) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_deleted_id_can_be_used_again(world: TenantWorld, kind: str) -> None:
    editor, maintainer = world["editor"], world["maintainer"]
    first = await create(editor, world, kind, "reused", display_name="first")
    await delete_call(maintainer, kind, first.name)
    second = await create(editor, world, kind, "reused", display_name="second")
    assert second.name == first.name and second.display_name == "second"


@pytest.mark.parametrize("kind", KINDS)
async def test_editor_may_not_delete(shared: TenantWorld, kind: str) -> None:
    editor = shared["editor"]
    created = await create(editor, shared, kind)
    await expect_error(grpc.StatusCode.PERMISSION_DENIED, delete_call(editor, kind, created.name))
    assert await get(editor, kind, created.name) == created


@pytest.mark.parametrize("kind", KINDS)
async def test_duplicate_explicit_id_is_already_exists_and_keeps_the_first(
    world: TenantWorld, kind: str
) -> None:
    editor = world["editor"]
    first = await create(editor, world, kind, "dup", display_name="first")
    reason, _ = await expect_error(
        grpc.StatusCode.ALREADY_EXISTS, create(editor, world, kind, "dup", display_name="second")
    )
    assert reason == "ALREADY_EXISTS"
    assert await get(editor, kind, first.name) == first
    assert len(await list_all(editor, world, kind)) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_same_id_in_two_tenants_names_two_resources(
    world: TenantWorld, other_world: TenantWorld, kind: str
) -> None:
    mine = await create(world["editor"], world, kind, "shared", display_name="mine")
    theirs = await create(other_world["editor"], other_world, kind, "shared", display_name="theirs")
    assert mine.name != theirs.name
    assert (await get(world["editor"], kind, mine.name)).display_name == "mine"
    assert (await get(other_world["editor"], kind, theirs.name)).display_name == "theirs"


@pytest.mark.parametrize("kind", KINDS)
async def test_another_tenants_resource_is_not_found_and_not_listed(
    world: TenantWorld, other_world: TenantWorld, kind: str
) -> None:
    theirs = await create(other_world["editor"], other_world, kind)
    editor, maintainer = world["editor"], world["maintainer"]
    await expect_error(grpc.StatusCode.NOT_FOUND, get(editor, kind, theirs.name))
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        update_call(editor, kind, message(kind, name=theirs.name, display_name="x")),
    )
    await expect_error(grpc.StatusCode.NOT_FOUND, delete_call(maintainer, kind, theirs.name))
    assert await list_all(editor, world, kind) == []
    assert await get(other_world["editor"], kind, theirs.name) == theirs


@pytest.mark.parametrize("kind", KINDS)
async def test_retried_create_with_request_id_returns_the_same_resource_and_creates_one(
    world: TenantWorld, kind: str
) -> None:
    editor = world["editor"]
    request = create_request(world, kind, request_id=str(uuid.uuid4()), display_name="once")
    method = getattr(editor.metadata, f"Create{noun(kind)}")
    first = await editor.call(method, request)
    second = await editor.call(method, request)
    assert first == second
    assert [r.name for r in await list_all(editor, world, kind)] == [first.name]


@pytest.mark.parametrize("kind", KINDS)
async def test_request_id_reused_with_a_different_body_is_refused(
    world: TenantWorld, kind: str
) -> None:
    editor = world["editor"]
    request_id = str(uuid.uuid4())
    method = getattr(editor.metadata, f"Create{noun(kind)}")
    first = await editor.call(
        method, create_request(world, kind, request_id=request_id, display_name="a")
    )
    reason, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        editor.call(method, create_request(world, kind, request_id=request_id, display_name="b")),
    )
    assert (reason, fields) == ("REQUEST_ID_REUSED", ["request_id"])
    assert [r.name for r in await list_all(editor, world, kind)] == [first.name]


async def test_retried_create_with_request_id_and_explicit_id_is_not_already_exists(
    shared: TenantWorld,
) -> None:
    editor = shared["editor"]
    request = create_request(shared, "artifact", "retried", request_id=str(uuid.uuid4()))
    first = await editor.call(editor.metadata.CreateArtifact, request)
    assert await editor.call(editor.metadata.CreateArtifact, request) == first


async def test_concurrent_retries_with_one_request_id_create_one_resource(
    world: TenantWorld,
) -> None:
    editor = world["editor"]
    request = create_request(world, "execution", request_id=str(uuid.uuid4()), display_name="x")

    async def attempt() -> Any:
        try:
            return await editor.call(editor.metadata.CreateExecution, request)
        except grpc.aio.AioRpcError as error:  # a loser of the race may be told to retry
            assert error.code() == grpc.StatusCode.ABORTED, error.details()
            return None

    results = [r for r in await asyncio.gather(*(attempt() for _ in range(6))) if r is not None]
    assert results
    [only] = await list_all(editor, world, "execution")
    assert all(result == only for result in results)
    assert await editor.call(editor.metadata.CreateExecution, request) == only


async def test_same_request_id_in_two_tenants_creates_in_each(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    request_id = str(uuid.uuid4())
    mine = await world["editor"].call(
        world["editor"].metadata.CreateContext,
        create_request(world, "context", request_id=request_id),
    )
    theirs = await other_world["editor"].call(
        other_world["editor"].metadata.CreateContext,
        create_request(other_world, "context", request_id=request_id),
    )
    assert mine.name.startswith(world.name + "/") and theirs.name.startswith(other_world.name + "/")


@pytest.mark.parametrize("kind", KINDS)
async def test_concurrent_updates_with_one_etag_let_exactly_one_win(
    shared: TenantWorld, kind: str
) -> None:
    editor = shared["editor"]
    for _ in range(3):
        created = await create(editor, shared, kind, display_name="start")

        async def attempt(i: int, created: Any = created) -> Any:
            patch = message(kind, name=created.name, display_name=f"v{i}", etag=created.etag)
            try:
                return await update_call(editor, kind, patch, ["display_name"])
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.ABORTED, error.details()
                return None

        winners = [
            r for r in await asyncio.gather(*(attempt(i) for i in range(8))) if r is not None
        ]
        assert len(winners) == 1, [(w.display_name, w.etag) for w in winners]
        assert await get(editor, kind, created.name) == winners[0]


async def test_request_id_is_per_method(world: TenantWorld) -> None:
    editor = world["editor"]
    request_id = str(uuid.uuid4())
    await editor.call(
        editor.metadata.CreateArtifact, create_request(world, "artifact", request_id=request_id)
    )
    reason, _ = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        editor.call(
            editor.metadata.CreateExecution,
            create_request(world, "execution", request_id=request_id),
        ),
    )
    assert reason == "REQUEST_ID_REUSED"
    assert await list_all(editor, world, "execution") == []


async def test_viewer_may_read_but_not_write(world: TenantWorld) -> None:
    viewer = world["viewer"]
    await expect_error(grpc.StatusCode.PERMISSION_DENIED, create(viewer, world, "artifact"))
    artifact = await create(world["editor"], world, "artifact")
    await expect_error(
        grpc.StatusCode.PERMISSION_DENIED,
        update_call(viewer, "artifact", message("artifact", name=artifact.name, display_name="x")),
    )
    assert await get(viewer, "artifact", artifact.name) == artifact
    assert (await lineage(viewer, artifact.name)).artifacts == {artifact.name}


# -- bad input ----------------------------------------------------------------------------------


def _nan_struct() -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update({"x": float("nan")})
    return value


def _unset_inside_struct() -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.fields["unset"].SetInParent()  # a Value with no kind, which has no JSON form
    return value


CREATE_BAD_INPUT = [
    pytest.param("artifact", {}, {"type": ""}, "artifact.type", id="artifact-missing-type"),
    pytest.param("execution", {}, {"type": ""}, "execution.type", id="execution-missing-type"),
    pytest.param("context", {}, {"type": ""}, "context.type", id="context-missing-type"),
    pytest.param("artifact", {}, {"type": "data set"}, "artifact.type", id="type-with-space"),
    pytest.param("execution", {}, {"type": "train/step"}, "execution.type", id="type-with-slash"),
    pytest.param("context", {}, {"type": "Übung"}, "context.type", id="type-non-ascii"),
    pytest.param("artifact", {}, {"type": "T" * 201}, "artifact.type", id="type-too-long"),
    pytest.param(
        "execution", {}, {"type": "T" * 201}, "execution.type", id="execution-type-too-long"
    ),
    pytest.param("artifact", {}, {"uri": "s3://" + "u" * 2044}, "artifact.uri", id="uri-too-long"),
    pytest.param("artifact", {}, {"uri": "s3://a\x00b"}, "artifact.uri", id="uri-with-nul"),
    pytest.param(
        "artifact",
        {},
        {"display_name": "d" * 201},
        "artifact.display_name",
        id="display-name-too-long",
    ),
    pytest.param(
        "artifact", {"artifact_id": "Bad_Id"}, {}, "artifact_id", id="artifact-id-uppercase"
    ),
    pytest.param(
        "execution",
        {"execution_id": "ends-with-"},
        {},
        "execution_id",
        id="execution-id-trailing-hyphen",
    ),
    pytest.param("context", {"context_id": "c" * 64}, {}, "context_id", id="context-id-too-long"),
    pytest.param("artifact", {"parent": "tenants/UPPER"}, {}, "parent", id="parent-bad-tenant-id"),
    pytest.param("execution", {"parent": "projects/p"}, {}, "parent", id="parent-not-a-tenant"),
    pytest.param("context", {"parent": ""}, {}, "parent", id="parent-missing"),
    pytest.param(
        "artifact", {"request_id": "not-a-uuid"}, {}, "request_id", id="request-id-not-uuid"
    ),
    pytest.param(
        "artifact",
        {},
        {"properties": {"p": md.Value()}},
        'artifact.properties["p"]',
        id="property-no-kind",
    ),
    pytest.param(
        "execution",
        {},
        {"properties": {"p": md.Value(double_value=float("nan"))}},
        'execution.properties["p"]',
        id="property-nan",
    ),
    pytest.param(
        "context",
        {},
        {"properties": {"p": md.Value(double_value=float("-inf"))}},
        'context.properties["p"]',
        id="property-infinite",
    ),
    pytest.param(
        "artifact",
        {},
        {"properties": {"p": md.Value(struct_value=_nan_struct())}},
        'artifact.properties["p"]',
        id="property-nan-inside-struct",
    ),
    pytest.param(
        "artifact",
        {},
        {"properties": {"p": md.Value(struct_value=_unset_inside_struct())}},
        'artifact.properties["p"]',
        id="property-unset-value-inside-struct",
    ),
    pytest.param(
        "artifact",
        {},
        {"properties": {f"k{i}": md.Value(int_value=i) for i in range(201)}},
        "artifact.properties",
        id="too-many-properties",
    ),
    pytest.param(
        "context",
        {},
        {"properties": {"": md.Value(int_value=1)}},
        "context.properties",
        id="property-empty-key",
    ),
    pytest.param(
        "artifact",
        {},
        {"properties": {"k" * 251: md.Value(int_value=1)}},
        f'artifact.properties["{"k" * 40}"]',
        id="property-key-too-long",
    ),
    pytest.param(
        "execution",
        {},
        {"properties": {"big": md.Value(string_value="x" * 70_000)}},
        "execution.properties",
        id="properties-too-large",
    ),
    pytest.param("artifact", {}, {"state": 99}, "artifact.state", id="artifact-state-not-in-enum"),
    pytest.param(
        "execution", {}, {"state": 42}, "execution.state", id="execution-state-not-in-enum"
    ),
]


@pytest.mark.parametrize(("kind", "request_fields", "resource_fields", "field"), CREATE_BAD_INPUT)
async def test_create_with_bad_input_is_invalid_and_names_the_field(
    shared: TenantWorld,
    kind: str,
    request_fields: dict[str, str],
    resource_fields: dict[str, Any],
    field: str,
) -> None:
    editor = shared["editor"]
    marker = uuid.uuid4().hex
    request = create_request(shared, kind, **{"display_name": marker, **resource_fields})
    for key, value in request_fields.items():
        setattr(request, key, value)
    reason, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        editor.call(getattr(editor.metadata, f"Create{noun(kind)}"), request),
    )
    assert (reason, fields) == ("INVALID_ARGUMENT", [field])
    assert await list_all(editor, shared, kind, filter=f'display_name = "{marker}"') == []


async def test_limits_are_inclusive(shared: TenantWorld) -> None:
    editor = shared["editor"]
    created = await create(
        editor,
        shared,
        "artifact",
        "a" * 63,
        type="T" * 200,
        uri="s3://" + "u" * 2043,
        display_name="d" * 200,
        properties={f"k{i}": md.Value(int_value=i) for i in range(200)},
    )
    assert (
        len(created.type),
        len(created.uri),
        len(created.display_name),
        len(created.properties),
    ) == (200, 2048, 200, 200)


UPDATE_BAD_INPUT = [
    pytest.param("artifact", {}, ["type"], "update_mask", id="artifact-mask-type"),
    pytest.param("artifact", {}, ["create_time"], "update_mask", id="artifact-mask-output-only"),
    pytest.param("execution", {}, ["uri"], "update_mask", id="execution-mask-uri"),
    pytest.param("context", {}, ["state"], "update_mask", id="context-mask-state"),
    pytest.param(
        "context", {}, ["display_name", "nope"], "update_mask", id="context-mask-one-unknown"
    ),
    pytest.param("artifact", {"state": 99}, ["state"], "artifact.state", id="artifact-bad-state"),
    pytest.param(
        "execution", {"state": 42}, ["state"], "execution.state", id="execution-bad-state"
    ),
    pytest.param(
        "artifact", {"uri": "u" * 2049}, ["uri"], "artifact.uri", id="artifact-uri-too-long"
    ),
    pytest.param(
        "execution",
        {"properties": {"p": md.Value(double_value=float("nan"))}},
        ["properties"],
        'execution.properties["p"]',
        id="execution-nan-property",
    ),
    pytest.param(
        "context",
        {"properties": {"p": md.Value()}},
        ["properties"],
        'context.properties["p"]',
        id="context-property-no-kind",
    ),
]


@pytest.mark.parametrize(("kind", "patch_fields", "paths", "field"), UPDATE_BAD_INPUT)
async def test_update_with_bad_input_is_invalid_and_changes_nothing(
    shared: TenantWorld, kind: str, patch_fields: dict[str, Any], paths: list[str], field: str
) -> None:
    editor = shared["editor"]
    created = await create(editor, shared, kind, display_name="v1")
    reason, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        update_call(
            editor, kind, message(kind, name=created.name, display_name="v2", **patch_fields), paths
        ),
    )
    assert (reason, fields) == ("INVALID_ARGUMENT", [field])
    assert await get(editor, kind, created.name) == created


@pytest.mark.parametrize("kind", KINDS)
async def test_update_of_a_malformed_name_is_invalid(shared: TenantWorld, kind: str) -> None:
    editor = shared["editor"]
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        update_call(
            editor, kind, message(kind, name=f"{shared.name}/{kind}s/Bad_Id", display_name="x")
        ),
    )
    assert fields == [f"{kind}.name"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", ["/{kind}s/Bad_Id", "/others/x", "/{kind}s/x/more/y"])
async def test_get_of_a_malformed_name_is_invalid(
    shared: TenantWorld, kind: str, suffix: str
) -> None:
    editor = shared["editor"]
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, get(editor, kind, shared.name + suffix.format(kind=kind))
    )
    assert fields == ["name"]


# -- lists --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_pages_of_two_cover_five_items_in_creation_order(
    world: TenantWorld, kind: str
) -> None:
    editor = world["editor"]
    names = [(await create(editor, world, kind, f"item-{i}")).name for i in range(5)]
    pages: list[list[str]] = []
    token = ""
    while True:
        response = await list_call(editor, world, kind, page_size=2, page_token=token)
        pages.append([r.name for r in getattr(response, f"{kind}s")])
        token = response.next_page_token
        if not token:
            break
    assert pages == [names[0:2], names[2:4], names[4:5]]
    full = await list_all(editor, world, kind)
    assert [r.name for r in full] == names
    assert await list_all(editor, world, kind, page_size=5) == full


async def test_pages_follow_order_by_descending(world: TenantWorld) -> None:
    editor = world["editor"]
    for label in ["c", "a", "e", "b", "d"]:
        await create(editor, world, "artifact", display_name=label)
    collected: list[str] = []
    token = ""
    while True:
        response = await list_call(
            editor, world, "artifact", page_size=2, page_token=token, order_by="display_name desc"
        )
        collected += [a.display_name for a in response.artifacts]
        token = response.next_page_token
        if not token:
            break
    assert collected == ["e", "d", "c", "b", "a"]
    ascending = await list_all(editor, world, "artifact", order_by="display_name")
    assert [a.display_name for a in ascending] == ["a", "b", "c", "d", "e"]


async def test_order_by_ties_are_broken_stably_across_pages(world: TenantWorld) -> None:
    editor = world["editor"]
    names = [
        (await create(editor, world, "execution", type="Same" if i % 2 else "Also")).name
        for i in range(5)
    ]
    full = [e.name for e in await list_all(editor, world, "execution", order_by="type")]
    assert sorted(full) == sorted(names)
    collected: list[str] = []
    token = ""
    while True:
        response = await list_call(
            editor, world, "execution", page_size=2, page_token=token, order_by="type"
        )
        collected += [e.name for e in response.executions]
        token = response.next_page_token
        if not token:
            break
    assert collected == full


@pytest.mark.parametrize("kind", KINDS)
async def test_list_filters_on_type(world: TenantWorld, kind: str) -> None:
    editor = world["editor"]
    models = [(await create(editor, world, kind, type="Model")).name for _ in range(2)]
    await create(editor, world, kind, type="Dataset")
    await create(editor, world, kind, type="Model.v2")
    assert [r.name for r in await list_all(editor, world, kind, filter='type = "Model"')] == models


async def test_list_filters_artifacts_on_state(world: TenantWorld) -> None:
    editor = world["editor"]
    live = (await create(editor, world, "artifact", state=md.Artifact.STATE_LIVE)).name
    pending = (await create(editor, world, "artifact", state=md.Artifact.STATE_PENDING)).name
    unspecified = (await create(editor, world, "artifact")).name
    assert [
        a.name for a in await list_all(editor, world, "artifact", filter="state = STATE_LIVE")
    ] == [live]
    assert [
        a.name for a in await list_all(editor, world, "artifact", filter="state != STATE_LIVE")
    ] == [pending, unspecified]
    both = await list_all(
        editor, world, "artifact", filter="state = STATE_LIVE OR state = STATE_PENDING"
    )
    assert [a.name for a in both] == [live, pending]


async def test_list_filters_executions_on_state(world: TenantWorld) -> None:
    editor = world["editor"]
    new = (await create(editor, world, "execution")).name
    done = (await create(editor, world, "execution", state=md.Execution.STATE_COMPLETE)).name
    await create(editor, world, "execution", state=md.Execution.STATE_FAILED)
    assert [
        e.name for e in await list_all(editor, world, "execution", filter="state = STATE_COMPLETE")
    ] == [done]
    assert [
        e.name for e in await list_all(editor, world, "execution", filter="state = STATE_NEW")
    ] == [new]


@pytest.mark.parametrize("kind", KINDS)
async def test_list_filters_on_display_name_with_has(world: TenantWorld, kind: str) -> None:
    editor = world["editor"]
    wanted = [
        (await create(editor, world, kind, display_name=label)).name
        for label in ["churn-v1", "old churn model"]
    ]
    await create(editor, world, kind, display_name="retention")
    await create(editor, world, kind, display_name="chu rn")
    assert [
        r.name for r in await list_all(editor, world, kind, filter='display_name : "churn"')
    ] == wanted


async def test_has_filter_treats_like_wildcards_literally(world: TenantWorld) -> None:
    editor = world["editor"]
    percent = (await create(editor, world, "artifact", display_name="100% done")).name
    await create(editor, world, "artifact", display_name="100 done")
    await create(editor, world, "artifact", display_name="1x0_done")
    assert [
        a.name for a in await list_all(editor, world, "artifact", filter='display_name : "0%"')
    ] == [percent]
    assert await list_all(editor, world, "artifact", filter='display_name : "1_0"') == []


async def test_has_filter_on_display_name_is_case_sensitive_on_every_backend(
    world: TenantWorld,
) -> None:
    editor = world["editor"]
    lower = (await create(editor, world, "artifact", display_name="churn")).name
    await create(editor, world, "artifact", display_name="CHURN")
    assert [
        a.name for a in await list_all(editor, world, "artifact", filter='display_name : "churn"')
    ] == [lower]


async def test_list_filters_on_create_time(world: TenantWorld) -> None:
    editor = world["editor"]
    created = [await create(editor, world, "artifact") for _ in range(3)]
    since = created[1].create_time.ToJsonString()
    later = await list_all(editor, world, "artifact", filter=f'create_time >= "{since}"')
    assert [a.name for a in later] == [a.name for a in created[1:]]
    newest_first = await list_all(editor, world, "artifact", order_by="create_time desc")
    assert [a.name for a in newest_first] == [a.name for a in reversed(created)]


async def test_list_filters_artifacts_on_uri_and_type_together(world: TenantWorld) -> None:
    editor = world["editor"]
    wanted = (await create(editor, world, "artifact", type="Model", uri="gs://models/a")).name
    await create(editor, world, "artifact", type="Dataset", uri="gs://models/b")
    await create(editor, world, "artifact", type="Model", uri="s3://elsewhere")
    found = await list_all(
        editor, world, "artifact", filter='type = "Model" AND uri : "gs://models/"'
    )
    assert [a.name for a in found] == [wanted]


async def test_list_with_a_filter_pages_within_the_filter(world: TenantWorld) -> None:
    editor = world["editor"]
    wanted = [
        (await create(editor, world, "context", type="Keep" if i % 2 == 0 else "Skip")).name
        for i in range(5)
    ]
    wanted = wanted[0::2]
    first = await list_call(editor, world, "context", page_size=2, filter='type = "Keep"')
    assert [c.name for c in first.contexts] == wanted[:2] and first.next_page_token
    second = await list_call(
        editor,
        world,
        "context",
        page_size=2,
        filter='type = "Keep"',
        page_token=first.next_page_token,
    )
    assert [c.name for c in second.contexts] == wanted[2:] and not second.next_page_token


@pytest.mark.parametrize("kind", KINDS)
async def test_tampered_page_token_is_invalid_page_token(shared: TenantWorld, kind: str) -> None:
    editor = shared["editor"]
    for _ in range(3):
        await create(editor, shared, kind)
    token = (await list_call(editor, shared, kind, page_size=1)).next_page_token
    assert token
    for bad in [tampered(token), token[:-3], "not a token", token + "AAAA"]:
        reason, fields = await expect_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            list_call(editor, shared, kind, page_size=1, page_token=bad),
        )
        assert (reason, fields) == ("INVALID_PAGE_TOKEN", ["page_token"]), bad


async def test_page_token_of_another_query_is_invalid_page_token(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    editor = world["editor"]
    for _ in range(3):
        await create(editor, world, "artifact", type="Model")
    token = (await list_call(editor, world, "artifact", page_size=1)).next_page_token
    for other in [
        list_call(
            editor, world, "artifact", page_size=1, page_token=token, filter='type = "Model"'
        ),
        list_call(
            editor, world, "artifact", page_size=1, page_token=token, order_by="display_name"
        ),
        list_call(editor, world, "execution", page_size=1, page_token=token),
    ]:
        reason, fields = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, other)
        assert (reason, fields) == ("INVALID_PAGE_TOKEN", ["page_token"])
    stranger = other_world["editor"]
    reason, _ = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        list_call(stranger, other_world, "artifact", page_size=1, page_token=token),
    )
    assert reason == "INVALID_PAGE_TOKEN"


LIST_BAD_INPUT = [
    pytest.param(
        "artifact", {"filter": 'etag = "x"'}, "filter", id="artifact-unknown-filter-field"
    ),
    pytest.param(
        "artifact", {"filter": 'properties.a = "x"'}, "filter", id="artifact-filter-on-properties"
    ),
    pytest.param("execution", {"filter": 'uri : "x"'}, "filter", id="execution-has-no-uri"),
    pytest.param("context", {"filter": "state = STATE_LIVE"}, "filter", id="context-has-no-state"),
    pytest.param(
        "artifact",
        {"filter": "state = STATE_RUNNING"},
        "filter",
        id="artifact-state-of-another-enum",
    ),
    pytest.param("artifact", {"filter": 'type = "x" AND'}, "filter", id="filter-syntax"),
    pytest.param("execution", {"order_by": "nonsense"}, "order_by", id="order-by-unknown-field"),
    pytest.param(
        "context", {"order_by": "display_name sideways"}, "order_by", id="order-by-bad-direction"
    ),
    pytest.param("artifact", {"page_size": -1}, "page_size", id="negative-page-size"),
    pytest.param("artifact", {"page_size": 1001}, "page_size", id="page-size-too-large"),
]


@pytest.mark.parametrize(("kind", "request_fields", "field"), LIST_BAD_INPUT)
async def test_list_with_bad_input_is_invalid_and_names_the_field(
    shared: TenantWorld, kind: str, request_fields: dict[str, Any], field: str
) -> None:
    editor = shared["editor"]
    reason, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, list_call(editor, shared, kind, **request_fields)
    )
    assert (reason, fields) == ("INVALID_ARGUMENT", [field])


async def test_list_of_another_tenant_is_not_found(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    await create(other_world["editor"], other_world, "artifact")
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        world["editor"].call(
            world["editor"].metadata.ListArtifacts, md.ListArtifactsRequest(parent=other_world.name)
        ),
    )


# -- events and contexts ------------------------------------------------------------------------


async def test_execution_events_appear_in_lineage(shared: TenantWorld) -> None:
    editor = shared["editor"]
    data = (await create(editor, shared, "artifact", "data")).name
    model = (await create(editor, shared, "artifact", "model")).name
    train = (await create(editor, shared, "execution", "train")).name
    await add_events(editor, train, (data, INPUT), (model, OUTPUT))
    graph = await lineage(editor, train)
    assert graph == Graph(
        frozenset({data, model}),
        frozenset({train}),
        frozenset({(data, train, INPUT), (model, train, OUTPUT)}),
        False,
    )


async def test_adding_the_same_events_again_records_them_once(shared: TenantWorld) -> None:
    editor = shared["editor"]
    data = (await create(editor, shared, "artifact")).name
    train = (await create(editor, shared, "execution")).name
    await add_events(editor, train, (data, INPUT), (data, INPUT))
    await add_events(editor, train, (data, INPUT))
    result = await lineage_call(editor, train)
    assert [(e.artifact, e.execution, e.type) for e in result.events] == [(data, train, INPUT)]


async def test_an_artifact_can_be_both_input_and_output_of_one_execution(
    shared: TenantWorld,
) -> None:
    editor = shared["editor"]
    table = (await create(editor, shared, "artifact")).name
    step = (await create(editor, shared, "execution")).name
    await add_events(editor, step, (table, INPUT), (table, OUTPUT))
    graph = await lineage(editor, step)
    assert graph.events == {(table, step, INPUT), (table, step, OUTPUT)}
    assert not graph.truncated


async def test_event_execution_field_is_ignored(shared: TenantWorld) -> None:
    editor = shared["editor"]
    data = (await create(editor, shared, "artifact")).name
    mine = (await create(editor, shared, "execution")).name
    other = (await create(editor, shared, "execution")).name
    await editor.call(
        editor.metadata.AddExecutionEvents,
        md.AddExecutionEventsRequest(
            execution=mine, events=[md.Event(artifact=data, execution=other, type=INPUT)]
        ),
    )
    assert (await lineage(editor, mine)).events == {(data, mine, INPUT)}
    assert (await lineage(editor, other)).events == set()


async def test_adding_context_members_twice_is_fine(shared: TenantWorld) -> None:
    editor = shared["editor"]
    group = await create(editor, shared, "context", type="Pipeline")
    artifact = (await create(editor, shared, "artifact")).name
    execution = (await create(editor, shared, "execution")).name
    request = md.AddContextArtifactsAndExecutionsRequest(
        context=group.name, artifacts=[artifact, artifact], executions=[execution]
    )
    await editor.call(editor.metadata.AddContextArtifactsAndExecutions, request)
    await editor.call(editor.metadata.AddContextArtifactsAndExecutions, request)
    await editor.call(
        editor.metadata.AddContextArtifactsAndExecutions,
        md.AddContextArtifactsAndExecutionsRequest(context=group.name),
    )
    assert await get(editor, "context", group.name) == group


async def test_context_with_members_can_be_deleted_and_members_stay(shared: TenantWorld) -> None:
    editor, maintainer = shared["editor"], shared["maintainer"]
    group = (await create(editor, shared, "context")).name
    artifact = await create(editor, shared, "artifact")
    await editor.call(
        editor.metadata.AddContextArtifactsAndExecutions,
        md.AddContextArtifactsAndExecutionsRequest(context=group, artifacts=[artifact.name]),
    )
    await delete_call(maintainer, "context", group)
    await expect_error(grpc.StatusCode.NOT_FOUND, get(editor, "context", group))
    assert await get(editor, "artifact", artifact.name) == artifact


async def test_member_can_be_deleted_while_in_a_context(shared: TenantWorld) -> None:
    editor, maintainer = shared["editor"], shared["maintainer"]
    group = (await create(editor, shared, "context")).name
    artifact = (await create(editor, shared, "artifact")).name
    execution = (await create(editor, shared, "execution")).name
    await editor.call(
        editor.metadata.AddContextArtifactsAndExecutions,
        md.AddContextArtifactsAndExecutionsRequest(
            context=group, artifacts=[artifact], executions=[execution]
        ),
    )
    await delete_call(maintainer, "artifact", artifact)
    await delete_call(maintainer, "execution", execution)
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        editor.call(
            editor.metadata.AddContextArtifactsAndExecutions,
            md.AddContextArtifactsAndExecutionsRequest(context=group, artifacts=[artifact]),
        ),
    )


async def test_adding_a_missing_context_member_is_not_found(shared: TenantWorld) -> None:
    editor = shared["editor"]
    group = (await create(editor, shared, "context")).name
    artifact = (await create(editor, shared, "artifact")).name
    for request in [
        md.AddContextArtifactsAndExecutionsRequest(
            context=group, artifacts=[artifact, f"{shared.name}/artifacts/nope"]
        ),
        md.AddContextArtifactsAndExecutionsRequest(
            context=group, executions=[f"{shared.name}/executions/nope"]
        ),
        md.AddContextArtifactsAndExecutionsRequest(
            context=f"{shared.name}/contexts/nope", artifacts=[artifact]
        ),
    ]:
        await expect_error(
            grpc.StatusCode.NOT_FOUND,
            editor.call(editor.metadata.AddContextArtifactsAndExecutions, request),
        )


async def test_adding_another_tenants_artifact_to_a_context_is_not_found(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    editor = world["editor"]
    group = (await create(editor, world, "context")).name
    theirs = (await create(other_world["editor"], other_world, "artifact")).name
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        editor.call(
            editor.metadata.AddContextArtifactsAndExecutions,
            md.AddContextArtifactsAndExecutionsRequest(context=group, artifacts=[theirs]),
        ),
    )


async def test_malformed_context_member_is_invalid_and_names_it(shared: TenantWorld) -> None:
    editor = shared["editor"]
    group = (await create(editor, shared, "context")).name
    artifact = (await create(editor, shared, "artifact")).name
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        editor.call(
            editor.metadata.AddContextArtifactsAndExecutions,
            md.AddContextArtifactsAndExecutionsRequest(
                context=group, artifacts=[artifact], executions=[artifact]
            ),
        ),
    )
    assert fields == ["executions[0]"]


async def test_event_naming_a_missing_artifact_is_not_found_and_writes_nothing(
    shared: TenantWorld,
) -> None:
    editor = shared["editor"]
    data = (await create(editor, shared, "artifact")).name
    train = (await create(editor, shared, "execution")).name
    missing = f"{shared.name}/artifacts/missing"
    await expect_error(
        grpc.StatusCode.NOT_FOUND, events_call(editor, train, (data, INPUT), (missing, OUTPUT))
    )
    assert await lineage(editor, train) == Graph(
        frozenset(), frozenset({train}), frozenset(), False
    )
    assert await lineage(editor, data) == Graph(frozenset({data}), frozenset(), frozenset(), False)


async def test_event_naming_another_tenants_artifact_is_not_found_and_writes_nothing(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    editor = world["editor"]
    data = (await create(editor, world, "artifact", "same-id")).name
    train = (await create(editor, world, "execution")).name
    theirs = await create(other_world["editor"], other_world, "artifact", "same-id")
    await expect_error(
        grpc.StatusCode.NOT_FOUND, events_call(editor, train, (data, INPUT), (theirs.name, OUTPUT))
    )
    assert await lineage(editor, train) == Graph(
        frozenset(), frozenset({train}), frozenset(), False
    )
    assert await lineage(other_world["editor"], theirs.name) == Graph(
        frozenset({theirs.name}), frozenset(), frozenset(), False
    )


async def test_events_for_a_missing_execution_are_not_found(shared: TenantWorld) -> None:
    editor = shared["editor"]
    data = (await create(editor, shared, "artifact")).name
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        events_call(editor, f"{shared.name}/executions/missing", (data, INPUT)),
    )
    assert (await lineage(editor, data)).executions == set()


@pytest.mark.parametrize("bad_type", [md.Event.TYPE_UNSPECIFIED, 7])
async def test_event_with_a_bad_type_is_invalid_and_names_it(
    shared: TenantWorld, bad_type: int
) -> None:
    editor = shared["editor"]
    data = (await create(editor, shared, "artifact")).name
    train = (await create(editor, shared, "execution")).name
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, events_call(editor, train, (data, bad_type))
    )
    assert fields == ["events[0].type"]
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        events_call(editor, train, (data, INPUT), (data, bad_type)),
    )
    assert fields == ["events[1].type"]
    assert (await lineage(editor, train)).events == set()


async def test_event_with_a_malformed_artifact_is_invalid_and_names_it(shared: TenantWorld) -> None:
    editor = shared["editor"]
    train = (await create(editor, shared, "execution")).name
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        events_call(editor, train, (f"{shared.name}/executions/x", INPUT)),
    )
    assert fields == ["events[0].artifact"]
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, events_call(editor, train, ("", INPUT))
    )
    assert fields == ["events[0].artifact"]


# -- lineage ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    """dataset, config -> (train) -> model -> (eval) -> report."""

    dataset: str
    config: str
    model: str
    report: str
    train: str
    eval: str


async def build_chain(api: Api, world: TenantWorld) -> Chain:
    artifacts = {
        key: (await create(api, world, "artifact", key, type=kind)).name
        for key, kind in [
            ("dataset", "Dataset"),
            ("config", "Config"),
            ("model", "Model"),
            ("report", "Report"),
        ]
    }
    train = (await create(api, world, "execution", "train", type="Trainer")).name
    evaluate = (await create(api, world, "execution", "eval", type="Evaluator")).name
    await add_events(
        api,
        train,
        (artifacts["dataset"], INPUT),
        (artifacts["config"], INPUT),
        (artifacts["model"], OUTPUT),
    )
    await add_events(api, evaluate, (artifacts["model"], INPUT), (artifacts["report"], OUTPUT))
    return Chain(**artifacts, train=train, eval=evaluate)


@pytest.fixture(scope="module")
async def lineage_world(admin: Api, channel: grpc.aio.Channel) -> TenantWorld:
    """The tenant of ``chain``, which the read-only lineage tests share."""
    return await make_tenant(admin, channel, prefix="l")


@pytest.fixture(scope="module")
async def chain(lineage_world: TenantWorld) -> Chain:
    return await build_chain(lineage_world["editor"], lineage_world)


@pytest.fixture
async def own_chain(world: TenantWorld) -> Chain:
    """A chain of the test's own, for tests that change it."""
    return await build_chain(world["editor"], world)


def edges(c: Chain) -> dict[str, tuple[str, str, int]]:
    return {
        "dataset>train": (c.dataset, c.train, INPUT),
        "config>train": (c.config, c.train, INPUT),
        "train>model": (c.model, c.train, OUTPUT),
        "model>eval": (c.model, c.eval, INPUT),
        "eval>report": (c.report, c.eval, OUTPUT),
    }


def graph(c: Chain, artifacts: str, executions: str, events: str, truncated: bool) -> Graph:
    """The expected graph, nodes and edges given by their space-separated short names."""
    return Graph(
        frozenset(getattr(c, key) for key in artifacts.split()),
        frozenset(getattr(c, key) for key in executions.split()),
        frozenset(edges(c)[key] for key in events.split()),
        truncated,
    )


@pytest.mark.parametrize(
    ("max_hops", "artifacts", "executions", "events", "truncated"),
    [
        (1, "report", "eval", "eval>report", True),
        (2, "report model", "eval", "eval>report model>eval", True),
        (3, "report model", "eval train", "eval>report model>eval train>model", True),
        (
            4,
            "report model dataset config",
            "eval train",
            "eval>report model>eval train>model dataset>train config>train",
            False,
        ),
        (
            0,
            "report model dataset config",
            "eval train",
            "eval>report model>eval train>model dataset>train config>train",
            False,
        ),
        (
            100,
            "report model dataset config",
            "eval train",
            "eval>report model>eval train>model dataset>train config>train",
            False,
        ),
    ],
)
async def test_upstream_from_report_follows_max_hops(
    lineage_world: TenantWorld,
    chain: Chain,
    max_hops: int,
    artifacts: str,
    executions: str,
    events: str,
    truncated: bool,
) -> None:
    result = await lineage(lineage_world["viewer"], chain.report, Q.DIRECTION_UPSTREAM, max_hops)
    assert result == graph(chain, artifacts, executions, events, truncated)


async def test_downstream_from_dataset_leaves_out_the_other_input(
    lineage_world: TenantWorld, chain: Chain
) -> None:
    result = await lineage(lineage_world["viewer"], chain.dataset, Q.DIRECTION_DOWNSTREAM)
    assert result == graph(
        chain,
        "dataset model report",
        "train eval",
        "dataset>train train>model model>eval eval>report",
        False,
    )
    assert chain.config not in result.artifacts


async def test_downstream_from_dataset_with_two_hops_is_truncated(
    lineage_world: TenantWorld, chain: Chain
) -> None:
    result = await lineage(lineage_world["viewer"], chain.dataset, Q.DIRECTION_DOWNSTREAM, 2)
    assert result == graph(chain, "dataset model", "train", "dataset>train train>model", True)


async def test_upstream_from_a_source_is_the_node_alone(
    lineage_world: TenantWorld, chain: Chain
) -> None:
    result = await lineage(lineage_world["viewer"], chain.dataset, Q.DIRECTION_UPSTREAM)
    assert result == graph(chain, "dataset", "", "", False)


async def test_both_from_model_reaches_the_whole_chain(
    lineage_world: TenantWorld, chain: Chain
) -> None:
    everything = graph(
        chain,
        "dataset config model report",
        "train eval",
        "dataset>train config>train train>model model>eval eval>report",
        False,
    )
    assert await lineage(lineage_world["viewer"], chain.model, Q.DIRECTION_BOTH) == everything
    assert (
        await lineage(lineage_world["viewer"], chain.model, Q.DIRECTION_UNSPECIFIED) == everything
    )


async def test_both_from_model_with_one_hop_is_its_neighbours(
    lineage_world: TenantWorld, chain: Chain
) -> None:
    result = await lineage(lineage_world["viewer"], chain.model, Q.DIRECTION_BOTH, 1)
    assert result == graph(chain, "model", "train eval", "train>model model>eval", True)


@pytest.mark.parametrize(
    ("direction", "max_hops", "artifacts", "executions", "events", "truncated"),
    [
        (Q.DIRECTION_UPSTREAM, 0, "dataset config", "train", "dataset>train config>train", False),
        (
            Q.DIRECTION_DOWNSTREAM,
            0,
            "model report",
            "train eval",
            "train>model model>eval eval>report",
            False,
        ),
        (Q.DIRECTION_DOWNSTREAM, 1, "model", "train", "train>model", True),
        (Q.DIRECTION_DOWNSTREAM, 2, "model", "train eval", "train>model model>eval", True),
        (
            Q.DIRECTION_BOTH,
            0,
            "dataset config model report",
            "train eval",
            "dataset>train config>train train>model model>eval eval>report",
            False,
        ),
    ],
)
async def test_lineage_from_an_execution_node(
    lineage_world: TenantWorld,
    chain: Chain,
    direction: int,
    max_hops: int,
    artifacts: str,
    executions: str,
    events: str,
    truncated: bool,
) -> None:
    result = await lineage(lineage_world["viewer"], chain.train, direction, max_hops)
    assert result == graph(chain, artifacts, executions, events, truncated)


async def test_lineage_returns_full_resources(lineage_world: TenantWorld, chain: Chain) -> None:
    viewer = lineage_world["viewer"]
    result = await lineage_call(viewer, chain.model, Q.DIRECTION_BOTH, 0)
    for artifact in result.artifacts:
        assert artifact == await get(viewer, "artifact", artifact.name)
    for execution in result.executions:
        assert execution == await get(viewer, "execution", execution.name)


async def test_lineage_events_reference_returned_nodes_only(
    lineage_world: TenantWorld, chain: Chain
) -> None:
    # Each query's result is checked by lineage(): every event joins two returned nodes.
    result = await lineage(lineage_world["viewer"], chain.model, Q.DIRECTION_UPSTREAM, 1)
    assert result == graph(chain, "model", "train", "train>model", True)
    assert edges(chain)["dataset>train"] not in result.events
    result = await lineage(lineage_world["viewer"], chain.eval, Q.DIRECTION_UPSTREAM, 1)
    assert result == graph(chain, "model", "eval", "model>eval", True)


@pytest.mark.parametrize("max_hops", [-1, 101, 1000])
async def test_max_hops_out_of_range_is_invalid(
    lineage_world: TenantWorld, chain: Chain, max_hops: int
) -> None:
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        lineage_call(lineage_world["viewer"], chain.model, max_hops=max_hops),
    )
    assert fields == ["max_hops"]


async def test_unknown_direction_is_invalid(lineage_world: TenantWorld, chain: Chain) -> None:
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        lineage_call(lineage_world["viewer"], chain.model, direction=9),
    )
    assert fields == ["direction"]


@pytest.mark.parametrize(
    "suffix",
    [
        "/contexts/c",
        "/models/m",
        "/artifacts/Bad_Id",
        "/executions/",
        "/artifacts/a/extra/b",
        "/artifacts",
    ],
)
async def test_lineage_node_of_a_bad_form_is_invalid(shared: TenantWorld, suffix: str) -> None:
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, lineage_call(shared["viewer"], shared.name + suffix)
    )
    assert fields == ["node"]


async def test_lineage_node_missing_is_invalid(shared: TenantWorld) -> None:
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, lineage_call(shared["viewer"], "")
    )
    assert fields == ["node"]


@pytest.mark.parametrize("collection", ["artifacts", "executions"])
async def test_lineage_from_an_unknown_node_is_not_found(
    shared: TenantWorld, collection: str
) -> None:
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        lineage_call(shared["viewer"], f"{shared.name}/{collection}/nothing"),
    )


async def test_lineage_from_another_tenants_node_is_not_found(
    lineage_world: TenantWorld, other_world: TenantWorld, chain: Chain
) -> None:
    await expect_error(grpc.StatusCode.NOT_FOUND, lineage_call(other_world["viewer"], chain.model))


async def test_lineage_walks_stay_in_their_tenant(
    lineage_world: TenantWorld, other_world: TenantWorld, chain: Chain
) -> None:
    theirs = await build_chain(other_world["editor"], other_world)  # the same ids as chain's
    everything = "dataset>train config>train train>model model>eval eval>report"
    assert await lineage(other_world["viewer"], theirs.model) == graph(
        theirs, "dataset config model report", "train eval", everything, False
    )
    assert await lineage(lineage_world["viewer"], chain.model) == graph(
        chain, "dataset config model report", "train eval", everything, False
    )


async def test_deleting_an_artifact_removes_its_events_from_lineage(
    world: TenantWorld, own_chain: Chain
) -> None:
    viewer = world["viewer"]
    await delete_call(world["maintainer"], "artifact", own_chain.model)
    assert await lineage(viewer, own_chain.report, Q.DIRECTION_UPSTREAM) == graph(
        own_chain, "report", "eval", "eval>report", False
    )
    assert await lineage(viewer, own_chain.dataset, Q.DIRECTION_DOWNSTREAM) == graph(
        own_chain, "dataset", "train", "dataset>train", False
    )
    assert await lineage(viewer, own_chain.train, Q.DIRECTION_BOTH) == graph(
        own_chain, "dataset config", "train", "dataset>train config>train", False
    )
    await expect_error(grpc.StatusCode.NOT_FOUND, lineage_call(viewer, own_chain.model))


async def test_deleting_an_execution_removes_its_events_from_lineage(
    world: TenantWorld, own_chain: Chain
) -> None:
    viewer = world["viewer"]
    await delete_call(world["maintainer"], "execution", own_chain.train)
    assert await lineage(viewer, own_chain.report, Q.DIRECTION_UPSTREAM) == graph(
        own_chain, "report model", "eval", "eval>report model>eval", False
    )
    assert await lineage(viewer, own_chain.dataset) == graph(own_chain, "dataset", "", "", False)


async def test_recreated_artifact_does_not_inherit_old_events(
    world: TenantWorld, own_chain: Chain
) -> None:
    maintainer, viewer = world["maintainer"], world["viewer"]
    await delete_call(maintainer, "artifact", own_chain.model)
    again = await create(world["editor"], world, "artifact", "model", type="Model")
    assert again.name == own_chain.model
    assert await lineage(viewer, own_chain.model) == graph(own_chain, "model", "", "", False)
