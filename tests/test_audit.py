"""AuditService and ``mlctl audit``: the trail of changes, readable by tenant administrators."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest

from controlplane.cli.main import main
from controlplane.v1 import audit_service_pb2 as au
from controlplane.v1 import experiment_service_pb2 as ex
from tests.conftest import Api, TenantWorld


async def _events(api: Api, world: TenantWorld, **fields: object) -> list[au.AuditEvent]:
    reply = await api.call(
        api.audit.ListAuditEvents, au.ListAuditEventsRequest(parent=world.name, **fields)
    )
    return list(reply.audit_events)


async def test_changes_are_listed_newest_first_with_who_what_and_request_id(
    world: TenantWorld,
) -> None:
    editor, admin = world["editor"], world["admin"]
    request_id = str(uuid.uuid4())
    created = await editor.call(
        editor.experiments.CreateExperiment,
        ex.CreateExperimentRequest(
            parent=world.name, experiment_id="audited", request_id=request_id
        ),
    )
    await editor.experiments.UpdateExperiment(
        ex.UpdateExperimentRequest(
            experiment=ex.Experiment(name=created.name, display_name="renamed"),
            update_mask={"paths": ["display_name"]},
        ),
        metadata=[*editor.auth, ("x-request-id", "ticket-42")],
    )
    events = await _events(admin, world, filter=f'resource = "{created.name}"')
    assert [(e.method, e.principal, e.request_id) for e in events] == [
        ("UpdateExperiment", editor.principal, "ticket-42"),
        ("CreateExperiment", editor.principal, request_id),
    ]
    assert events[0].time.ToMicroseconds() >= events[1].time.ToMicroseconds()
    assert events[0].detail["fields"] == ["display_name"]
    assert events[0].name.startswith(f"{world.name}/auditEvents/")


async def test_the_filter_narrows_by_principal_method_and_time(world: TenantWorld) -> None:
    editor, admin = world["editor"], world["admin"]
    for index in range(3):
        await editor.call(
            editor.experiments.CreateExperiment,
            ex.CreateExperimentRequest(parent=world.name, experiment_id=f"f{index}"),
        )
    mine = await _events(
        admin, world, filter=f'principal = "{editor.principal}" AND method = "CreateExperiment"'
    )
    assert len(mine) == 3
    later = await _events(admin, world, filter='time > "2999-01-01T00:00:00Z"')
    assert later == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _events(admin, world, filter="detail = 1")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_pages_cover_every_event_once(world: TenantWorld) -> None:
    editor, admin = world["editor"], world["admin"]
    for index in range(5):
        await editor.call(
            editor.experiments.CreateExperiment,
            ex.CreateExperimentRequest(parent=world.name, experiment_id=f"p{index}"),
        )
    names: list[str] = []
    token = ""
    while True:
        reply = await admin.call(
            admin.audit.ListAuditEvents,
            au.ListAuditEventsRequest(
                parent=world.name,
                page_size=2,
                page_token=token,
                filter='method = "CreateExperiment"',
            ),
        )
        names += [event.name for event in reply.audit_events]
        token = reply.next_page_token
        if not token:
            break
    assert len(names) == len(set(names)) == 5
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.call(
            admin.audit.ListAuditEvents,
            au.ListAuditEventsRequest(parent=world.name, page_size=2, page_token=token + "x"),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_another_tenant_sees_nothing_of_the_trail(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _events(other_world["admin"], world)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    own = await _events(other_world["admin"], other_world)
    assert all(event.name.startswith(other_world.name + "/") for event in own)


async def test_mlctl_audit_list(server, world, capsys) -> None:  # type: ignore[no-untyped-def]
    editor, admin = world["editor"], world["admin"]
    created = await editor.call(
        editor.experiments.CreateExperiment,
        ex.CreateExperimentRequest(parent=world.name, experiment_id="cli"),
    )
    argv = [
        "--target", f"127.0.0.1:{server.port}", "--token", admin.token,
        "audit", "list", world.tenant_id, "--filter", f'resource = "{created.name}"',
        "--output", "json",
    ]  # fmt: skip
    code = await asyncio.to_thread(main, argv)
    listed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [e["method"] for e in listed["audit_events"]] == ["CreateExperiment"]
    code = await asyncio.to_thread(main, [*argv[:-2], "--limit", "1"])
    text = capsys.readouterr().out
    assert code == 0 and "CreateExperiment" in text and "PRINCIPAL" in text
