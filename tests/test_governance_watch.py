"""WatchGovernanceEvents over the real server, on SQLite and PostgreSQL: events as they commit,
where a watch starts and resumes, its scope and filter, access checked for every event, how
the server ends a watch, and the Python client and CLI that follow one across its ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from controlplane.client import Client
from controlplane.client.errors import ApiError
from controlplane.client.watch import WATCH_AFTER_HEADER
from controlplane.config import Settings
from controlplane.server.app import RunningServer, start
from controlplane.v1 import governance_service_pb2 as gv
from controlplane.v1 import registry_service_pb2 as rg
from controlplane.v1 import tenant_service_pb2 as tn
from tests.conftest import Api, TenantWorld
from tests.test_experiments import details
from tests.test_governance import (
    approve,
    events,
    fresh,
    new_version,
    principal_with_role,
    submit,
)

# Long enough for any event on a loaded machine; a watch that misses one fails at this bound.
ARRIVAL_TIMEOUT = 15.0

Stream = Any  # grpc.aio.UnaryStreamCall


async def in_place(stream: Stream) -> tuple[Stream, str]:
    """A watch once in place (its headers came), and where it says it starts."""
    headers = dict(await stream.initial_metadata() or ())
    if WATCH_AFTER_HEADER not in headers:
        await stream.read()  # refused: raises the error
    return stream, str(headers[WATCH_AFTER_HEADER])


async def next_item(stream: Stream) -> Any:
    item = await asyncio.wait_for(stream.read(), ARRIVAL_TIMEOUT)
    assert item is not grpc.aio.EOF, "the watch ended"
    return item


async def open_watch(api: Api, parent: str, **fields: Any) -> tuple[Stream, str]:
    request = gv.WatchGovernanceEventsRequest(parent=parent, **fields)
    return await in_place(api.governance.WatchGovernanceEvents(request, metadata=api.auth))


async def next_event(stream: Stream) -> gv.GovernanceEvent:
    event: gv.GovernanceEvent = await next_item(stream)
    return event


async def refused(code: grpc.StatusCode, api: Api, parent: str, **fields: Any) -> list[str]:
    """The BadRequest fields of a watch that must be refused with ``code``."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        stream, _ = await open_watch(api, parent, **fields)
        await next_event(stream)
    assert caught.value.code() == code, caught.value.details()
    return details(caught.value)[1]


@contextlib.asynccontextmanager
async def another_server(
    database_url: str, data_dir: Path, **watch: float
) -> AsyncIterator[tuple[RunningServer, grpc.aio.Channel]]:
    """A second server on the same database (as several servers share one PostgreSQL)."""
    running = await start(
        Settings(listen="127.0.0.1:0", data_dir=data_dir, database_url=database_url, **watch)
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield running, channel
    finally:
        await running.stop(0)


def on(channel: grpc.aio.Channel, api: Api) -> Api:
    """The same caller on another server."""
    return Api(channel, api.token, api.principal)


# -- what a watch sends -----------------------------------------------------------------------


async def test_a_watch_sends_each_move_as_it_commits(world: TenantWorld) -> None:
    model_name, version = await fresh(world)
    stream, start_after = await open_watch(world["viewer"], model_name)
    assert start_after == ""  # the tenant has no event yet: from the beginning
    await submit(world, version)
    await approve(world["approver"], version, reason="fine")
    received = [await next_event(stream), await next_event(stream)]
    listed = await events(world, model_name)
    assert [e.name for e in received] == [e.name for e in listed]
    assert [(e.action, e.principal, e.reason) for e in received] == [
        ("submit", world["editor"].principal, ""),
        ("approve", world["approver"].principal, "fine"),
    ]
    stream.cancel()


async def test_a_watch_from_now_on_starts_after_the_newest_event(world: TenantWorld) -> None:
    model_name, version = await fresh(world)
    await submit(world, version)
    (submitted,) = await events(world, model_name)
    stream, start_after = await open_watch(world["viewer"], model_name)
    assert start_after == submitted.name
    await approve(world["approver"], version)
    assert (await next_event(stream)).action == "approve"  # not the earlier submit
    stream.cancel()


async def test_from_beginning_replays_and_after_resumes(world: TenantWorld) -> None:
    model_name, version = await fresh(world)
    await submit(world, version)
    await approve(world["approver"], version)
    first, second = await events(world, model_name)
    replay, start_after = await open_watch(world["viewer"], model_name, from_beginning=True)
    assert start_after == ""
    assert [(await next_event(replay)).name, (await next_event(replay)).name] == [
        first.name,
        second.name,
    ]
    resumed, start_after = await open_watch(world["viewer"], model_name, after=first.name)
    assert start_after == first.name
    assert (await next_event(resumed)).name == second.name
    later = await new_version(world, model_name)
    await submit(world, later)
    for stream in (replay, resumed):  # both go on live, nothing twice
        event = await next_event(stream)
        assert (event.action, event.name.rsplit("/events/", 1)[0]) == ("submit", later)
        stream.cancel()


async def test_a_watch_keeps_to_its_parent_and_filter(world: TenantWorld) -> None:
    _model_a, version_a = await fresh(world)
    model_b, version_b = await fresh(world)
    viewer = world["viewer"]
    of_version, _ = await open_watch(viewer, version_a)
    of_model, _ = await open_watch(viewer, model_b)
    of_tenant, _ = await open_watch(viewer, f"{world.name}/models/-")
    approvals, _ = await open_watch(viewer, f"{world.name}/models/-", filter='action = "approve"')
    await submit(world, version_b)
    await submit(world, version_a)
    await approve(world["approver"], version_b)

    def where(event: gv.GovernanceEvent) -> tuple[str, str]:
        return event.action, event.name.rsplit("/events/", 1)[0]

    assert where(await next_event(of_version)) == ("submit", version_a)
    assert where(await next_event(of_model)) == ("submit", version_b)
    assert where(await next_event(of_model)) == ("approve", version_b)
    assert [where(await next_event(of_tenant)) for _ in range(3)] == [
        ("submit", version_b),
        ("submit", version_a),
        ("approve", version_b),
    ]
    assert where(await next_event(approvals)) == ("approve", version_b)
    # Nothing else was sent: the next event each gets is the next that matches.
    await approve(world["approver"], version_a)
    assert where(await next_event(of_version)) == ("approve", version_a)
    assert where(await next_event(approvals)) == ("approve", version_a)
    for stream in (of_version, of_model, of_tenant, approvals):
        stream.cancel()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"from_beginning": True, "after": "{event}"}, "from_beginning"),
        ({"after": "tenants/other/models/m/versions/1/events/3"}, "after"),
        ({"after": "{model}"}, "after"),
        ({"after": "{model}/versions/1/events/x"}, "after"),
        ({"after": "{model}/versions/1/events/0"}, "after"),
        ({"filter": 'colour = "red"'}, "filter"),
        ({"filter": "action ="}, "filter"),
    ],
)
async def test_a_bad_watch_is_refused_naming_the_field(
    world: TenantWorld, fields: dict[str, Any], field: str
) -> None:
    model_name, version = await fresh(world)
    await submit(world, version)
    (event,) = await events(world, model_name)
    given = {
        key: value.replace("{event}", event.name).replace("{model}", model_name)
        if isinstance(value, str)
        else value
        for key, value in fields.items()
    }
    viewer = world["viewer"]
    violations = await refused(grpc.StatusCode.INVALID_ARGUMENT, viewer, model_name, **given)
    assert violations == [field]


async def test_watching_what_does_not_exist_is_not_found(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    model_name, _version = await fresh(world)
    viewer = world["viewer"]
    await refused(grpc.StatusCode.NOT_FOUND, viewer, f"{world.name}/models/nothing")
    await refused(grpc.StatusCode.NOT_FOUND, viewer, f"{model_name}/versions/99")
    await refused(grpc.StatusCode.NOT_FOUND, other_world["admin"], model_name)


# -- access, checked for every event ----------------------------------------------------------


async def test_a_removed_role_ends_the_watch_before_the_next_event(world: TenantWorld) -> None:
    model_name, version = await fresh(world)
    watcher, binding = await principal_with_role(world, "watcher", tn.ROLE_VIEWER)
    stream, _ = await open_watch(watcher, model_name)
    await submit(world, version)
    assert (await next_event(stream)).action == "submit"
    admin = world["admin"]
    await admin.call(admin.tenants.DeleteRoleBinding, tn.DeleteRoleBindingRequest(name=binding))
    await approve(world["approver"], version)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await next_event(stream)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_deleted_key_ends_the_watch_before_the_next_event(world: TenantWorld) -> None:
    model_name, version = await fresh(world)
    watcher, _ = await principal_with_role(world, "watcher", tn.ROLE_VIEWER)
    stream, _ = await open_watch(watcher, model_name)
    admin = world["admin"]
    keys = await admin.call(
        admin.tenants.ListApiKeys, tn.ListApiKeysRequest(parent=watcher.principal)
    )
    await admin.call(admin.tenants.DeleteApiKey, tn.DeleteApiKeyRequest(name=keys.api_keys[0].name))
    await submit(world, version)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await next_event(stream)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


# -- several servers, and how a watch ends ----------------------------------------------------


async def test_moves_wake_the_watches_of_their_own_server_at_once(
    world: TenantWorld, database_url: str, tmp_path: Path
) -> None:
    # This server polls only once a minute: the event can arrive in time only by the wake-up.
    async with another_server(database_url, tmp_path, watch_poll_seconds=60.0) as (_, channel):
        model_name, version = await fresh(world)
        stream, _ = await open_watch(on(channel, world["viewer"]), model_name)
        await submit(world, version)  # through the session's server: heard or polled, later
        await approve(on(channel, world["approver"]), version)  # through this one: at once
        # The wake-up reads everything committed so far, in order.
        assert (await next_event(stream)).action == "submit"
        assert (await next_event(stream)).action == "approve"
        stream.cancel()


async def test_moves_through_another_server_arrive_by_polling(
    world: TenantWorld, database_url: str, tmp_path: Path
) -> None:
    async with another_server(database_url, tmp_path, watch_poll_seconds=0.2) as (_, channel):
        model_name, version = await fresh(world)
        stream, _ = await open_watch(on(channel, world["viewer"]), model_name)
        await submit(world, version)  # through the session's server, which cannot wake it
        assert (await next_event(stream)).action == "submit"
        stream.cancel()


async def test_the_server_ends_a_watch_after_its_longest_time(
    world: TenantWorld, database_url: str, tmp_path: Path
) -> None:
    async with another_server(database_url, tmp_path, watch_max_seconds=0.3) as (_, channel):
        model_name, _ = await fresh(world)
        stream, _ = await open_watch(on(channel, world["viewer"]), model_name)
        assert await asyncio.wait_for(stream.read(), ARRIVAL_TIMEOUT) is grpc.aio.EOF
        assert await stream.code() == grpc.StatusCode.OK


async def test_stopping_the_server_ends_its_watches_with_ok(
    world: TenantWorld, database_url: str, tmp_path: Path
) -> None:
    running = await start(
        Settings(listen="127.0.0.1:0", data_dir=tmp_path, database_url=database_url)
    )
    model_name, _ = await fresh(world)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stream, _ = await open_watch(on(channel, world["viewer"]), model_name)
        # Without ending its watches the server would wait out the grace, then cancel them.
        await running.stop(grace=ARRIVAL_TIMEOUT)
        assert await asyncio.wait_for(stream.read(), ARRIVAL_TIMEOUT) is grpc.aio.EOF
        assert await stream.code() == grpc.StatusCode.OK


async def test_a_deleted_events_id_is_never_used_again(world: TenantWorld) -> None:
    model_name, version = await fresh(world)
    await submit(world, version)
    (newest,) = await events(world, model_name)
    maintainer = world["maintainer"]
    await maintainer.call(
        maintainer.registry.DeleteRegisteredModel,
        rg.DeleteRegisteredModelRequest(name=model_name),
    )  # its events go with it
    _other_model, other_version = await fresh(world)
    stream, _ = await open_watch(world["viewer"], f"{world.name}/models/-", after=newest.name)
    await submit(world, other_version)
    event = await next_event(stream)
    assert event.name.startswith(f"{other_version}/events/")
    assert int(event.name.rsplit("/", 1)[1]) > int(newest.name.rsplit("/", 1)[1])
    stream.cancel()


# -- the Python client and the CLI follow a watch across its ends -----------------------------


async def test_the_client_follows_a_watch_across_the_servers_ends(
    world: TenantWorld, database_url: str, tmp_path: Path
) -> None:
    async with another_server(
        database_url, tmp_path, watch_max_seconds=0.3, watch_poll_seconds=0.1
    ) as (running, _):
        model_name, version = await fresh(world)
        viewer = world["viewer"]
        client = Client(f"127.0.0.1:{running.port}", viewer.token)
        followed = client.watch_governance_events(model_name, timeout=ARRIVAL_TIMEOUT * 2)
        first = asyncio.create_task(asyncio.to_thread(next, followed))
        await asyncio.sleep(0.8)  # the first stream has ended and been reopened by now
        await submit(world, version)
        received = [await first]
        await asyncio.sleep(0.8)
        await approve(world["approver"], version)
        received.append(await asyncio.to_thread(next, followed))
        followed.close()
        client.close()
        listed = await events(world, model_name)
        assert [e.name for e in received] == [e.name for e in listed]
        assert [e.action for e in received] == ["submit", "approve"]


async def test_the_client_raises_a_refused_watch_as_an_api_error(
    world: TenantWorld, server: RunningServer
) -> None:
    client = Client(f"127.0.0.1:{server.port}", world["viewer"].token, tenant=world.tenant_id)
    followed = client.watch_governance_events("absent")
    with pytest.raises(ApiError) as caught:
        await asyncio.to_thread(next, followed)
    client.close()
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert caught.value.metadata["resource"] == f"{world.name}/models/absent"
