"""WatchModelAliasChanges over the real server, on SQLite and PostgreSQL: every way an alias
moves arrives (the embedded store's direct writes included), scoped to an alias, a model or
the tenant; resumed with ``after``; refused naming the field; and an alias change's id is
never used again. What every watch shares (headers, access, ending) is covered with
WatchGovernanceEvents in tests/test_governance_watch.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

from controlplane.client import Client
from controlplane.server.app import RunningServer
from controlplane.v1 import registry_service_pb2 as rg
from tests.conftest import Api, TenantWorld
from tests.test_cli import Cli, _clean_environment  # noqa: F401  (an autouse fixture)
from tests.test_experiments import details
from tests.test_governance import approve, new_version, release, rollback, submit
from tests.test_governance_watch import another_server, in_place, next_item, on
from tests.test_registry import artifact, model, set_alias

Stream = Any


async def open_watch(api: Api, parent: str, **fields: Any) -> tuple[Stream, str]:
    request = rg.WatchModelAliasChangesRequest(parent=parent, **fields)
    return await in_place(api.registry.WatchModelAliasChanges(request, metadata=api.auth))


async def next_change(stream: Stream) -> rg.ModelAliasChange:
    change: rg.ModelAliasChange = await next_item(stream)
    return change


def moved(change: rg.ModelAliasChange) -> tuple[str, str, str]:
    """(alias id, previous version number, version number): "" where there is none."""
    return (
        change.alias.rsplit("/", 1)[1],
        change.previous_version.rsplit("/", 1)[1] if change.previous_version else "",
        change.version.rsplit("/", 1)[1] if change.version else "",
    )


async def history(world: TenantWorld, alias: str) -> list[rg.ModelAliasChange]:
    viewer = world["viewer"]
    response = await viewer.call(
        viewer.registry.ListModelAliasHistory, rg.ListModelAliasHistoryRequest(alias=alias)
    )
    return list(reversed(response.changes))  # oldest first


async def test_every_way_an_alias_moves_arrives_in_order(world: TenantWorld) -> None:
    model_name = await model(world["editor"], world)
    stream, start_after = await open_watch(world["viewer"], model_name)
    assert start_after == ""  # the tenant has no change yet
    editor, maintainer = world["editor"], world["maintainer"]
    file_version = await new_version(world, model_name)  # v1, no alias
    registered = await editor.call(
        editor.registry.CreateModelVersion,
        rg.CreateModelVersionRequest(
            parent=model_name,
            model_version=rg.ModelVersion(
                files=[rg.ModelFile(role="model", artifact=await artifact(world["admin"], world))]
            ),
            aliases=["staging"],
        ),
    )  # v2, with staging: a registration's aliases
    await set_alias(maintainer, model_name, "staging", file_version, reason="back")
    await maintainer.call(
        maintainer.registry.DeleteModelAlias,
        rg.DeleteModelAliasRequest(name=f"{model_name}/aliases/staging"),
    )
    for version in (file_version, registered.name):  # releases move champion: v1, then v2
        await submit(world, version)
        await approve(world["approver"], version)
        await release(world, version)
    await rollback(world, f"{model_name}/aliases/champion", reason="v2 regressed")
    received = [await next_change(stream) for _ in range(6)]
    assert [moved(c) for c in received] == [
        ("staging", "", "2"),
        ("staging", "2", "1"),
        ("staging", "1", ""),
        ("champion", "", "1"),
        ("champion", "1", "2"),
        ("champion", "2", "1"),
    ]
    assert [c.reason for c in received] == [
        "registered",
        "back",
        "",
        "release",
        "release",
        "rollback: v2 regressed",
    ]
    listed = [
        *await history(world, f"{model_name}/aliases/staging"),
        *await history(world, f"{model_name}/aliases/champion"),
    ]
    assert [c.name for c in received] == [c.name for c in listed]
    stream.cancel()


async def test_an_alias_can_be_watched_before_it_exists_and_alone(world: TenantWorld) -> None:
    model_name = await model(world["editor"], world)
    v1 = await new_version(world, model_name)
    maintainer = world["maintainer"]
    only_prod, _ = await open_watch(world["viewer"], f"{model_name}/aliases/prod")
    other_model = await model(world["editor"], world)
    tenant_wide, _ = await open_watch(world["viewer"], f"{world.name}/models/-")
    await set_alias(maintainer, other_model, "prod", await new_version(world, other_model))
    await set_alias(maintainer, model_name, "staging", v1)
    await set_alias(maintainer, model_name, "prod", v1)
    assert moved(await next_change(only_prod)) == ("prod", "", "1")
    assert [(c.alias, moved(c)) for c in [await next_change(tenant_wide) for _ in range(3)]] == [
        (f"{other_model}/aliases/prod", ("prod", "", "1")),
        (f"{model_name}/aliases/staging", ("staging", "", "1")),
        (f"{model_name}/aliases/prod", ("prod", "", "1")),
    ]
    # Nothing else came to the alias's watch: its next change is the next of prod.
    await set_alias(maintainer, model_name, "staging", v1, reason="again")
    await maintainer.call(
        maintainer.registry.DeleteModelAlias,
        rg.DeleteModelAliasRequest(name=f"{model_name}/aliases/prod"),
    )
    assert moved(await next_change(only_prod)) == ("prod", "1", "")
    for stream in (only_prod, tenant_wide):
        stream.cancel()


async def test_a_watch_resumes_after_a_change(world: TenantWorld) -> None:
    model_name = await model(world["editor"], world)
    v1 = await new_version(world, model_name)
    maintainer = world["maintainer"]
    await set_alias(maintainer, model_name, "a", v1)
    await set_alias(maintainer, model_name, "b", v1)
    first, second = [
        *await history(world, f"{model_name}/aliases/a"),
        *await history(world, f"{model_name}/aliases/b"),
    ]
    from_now, start_after = await open_watch(world["viewer"], model_name)
    assert start_after == second.name
    resumed, start_after = await open_watch(world["viewer"], model_name, after=first.name)
    assert start_after == first.name
    assert (await next_change(resumed)).name == second.name
    await set_alias(maintainer, model_name, "c", v1)
    assert moved(await next_change(from_now)) == ("c", "", "1")
    assert moved(await next_change(resumed)) == ("c", "", "1")
    for stream in (from_now, resumed):
        stream.cancel()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"after": "{model}/aliases/a/changes/1", "from_beginning": True}, "from_beginning"),
        ({"after": "tenants/other/models/m/aliases/a/changes/1"}, "after"),
        ({"after": "{model}/versions/1/events/1"}, "after"),  # an event is not a change
        ({"after": "{model}/aliases/a/changes/0"}, "after"),
    ],
)
async def test_a_bad_watch_is_refused_naming_the_field(
    world: TenantWorld, fields: dict[str, Any], field: str
) -> None:
    model_name = await model(world["editor"], world)
    given = {
        key: value.replace("{model}", model_name) if isinstance(value, str) else value
        for key, value in fields.items()
    }
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await open_watch(world["viewer"], model_name, **given)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(caught.value)[1] == [field]


async def test_watching_a_model_that_does_not_exist_is_not_found(world: TenantWorld) -> None:
    for parent in (f"{world.name}/models/nothing", f"{world.name}/models/nothing/aliases/a"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await open_watch(world["viewer"], parent)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_deleted_changes_id_is_never_used_again(world: TenantWorld) -> None:
    maintainer = world["maintainer"]
    gone = await model(world["editor"], world)
    await set_alias(maintainer, gone, "prod", await new_version(world, gone))
    await maintainer.call(
        maintainer.registry.DeleteModelAlias,
        rg.DeleteModelAliasRequest(name=f"{gone}/aliases/prod"),
    )
    (_, newest) = await history(world, f"{gone}/aliases/prod")
    await maintainer.call(
        maintainer.registry.DeleteRegisteredModel, rg.DeleteRegisteredModelRequest(name=gone)
    )  # its alias history goes with it
    kept = await model(world["editor"], world)
    version = await new_version(world, kept)
    stream, _ = await open_watch(world["viewer"], f"{world.name}/models/-", after=newest.name)
    await set_alias(maintainer, kept, "prod", version)
    change = await next_change(stream)
    assert change.alias == f"{kept}/aliases/prod"
    assert int(change.name.rsplit("/", 1)[1]) > int(newest.name.rsplit("/", 1)[1])
    stream.cancel()


async def test_moves_wake_the_watches_of_their_own_server_at_once(
    world: TenantWorld, database_url: str, tmp_path: Path
) -> None:
    # Polling once a minute: only the wake-up after commit (the embedded store's direct
    # writes included) can bring the change in time.
    async with another_server(database_url, tmp_path, watch_poll_seconds=60.0) as (_, channel):
        model_name = await model(world["editor"], world)
        version = await new_version(world, model_name)
        stream, _ = await open_watch(on(channel, world["viewer"]), model_name)
        await set_alias(on(channel, world["maintainer"]), model_name, "prod", version)
        assert moved(await next_change(stream)) == ("prod", "", "1")
        stream.cancel()


async def test_the_client_and_mlctl_follow_alias_changes(
    server: RunningServer, world: TenantWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    model_name = await model(world["editor"], world)
    await set_alias(world["maintainer"], model_name, "prod", await new_version(world, model_name))
    client = Client(f"127.0.0.1:{server.port}", world["viewer"].token, tenant=world.tenant_id)
    try:
        followed = client.watch_alias_changes(model_name.rsplit("/", 1)[1], from_beginning=True)
        change = await asyncio.to_thread(next, followed)
        followed.close()
    finally:
        client.close()
    assert moved(change) == ("prod", "", "1")
    viewer = Cli(server, world["viewer"].token, capsys)
    code, out, err = await viewer.run(
        "models", "alias", "watch", model_name, "prod", "--from-beginning", "--limit", "1"
    )
    assert code == 0, err
    header, line = out.splitlines()
    assert header.split("\t") == ["TIME", "ALIAS", "PREVIOUS", "VERSION", "PRINCIPAL", "REASON"]
    assert line.split("\t")[1:5] == [
        f"{model_name}/aliases/prod",
        "-",
        f"{model_name}/versions/1",
        world["maintainer"].principal,
    ]
