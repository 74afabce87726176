"""Revocation reaches streams that are already open: a key deleted, or a role binding
removed, while a client stream is sending or a watch is waiting ends the stream with
UNAUTHENTICATED or PERMISSION_DENIED, and nothing of the refused messages is kept."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid

import grpc
import pytest

from controlplane.v1 import artifact_service_pb2 as ar
from controlplane.v1 import experiment_service_pb2 as ex
from controlplane.v1 import governance_service_pb2 as gv
from controlplane.v1 import metadata_service_pb2 as md
from controlplane.v1 import tenant_service_pb2 as tn
from tests.conftest import Api, TenantWorld
from tests.streams import ClientStream
from tests.test_experiments import batch, new_experiment, new_run
from tests.test_governance_watch import in_place
from tests.test_registry import model

Revoke = str  # "key" or "role"


async def caller(world: TenantWorld, role: int) -> tuple[Api, str, str]:
    """A new principal of ``world`` with ``role`` and a key: (its Api, its key's name, its
    binding's name)."""
    admin = world["admin"]
    principal = await admin.call(
        admin.tenants.CreatePrincipal,
        tn.CreatePrincipalRequest(parent=world.name, principal_id=f"p{uuid.uuid4().hex[:8]}"),
    )
    key = await admin.call(
        admin.tenants.CreateApiKey, tn.CreateApiKeyRequest(parent=principal.name)
    )
    binding = await admin.call(
        admin.tenants.CreateRoleBinding,
        tn.CreateRoleBindingRequest(
            parent=world.name, role_binding=tn.RoleBinding(principal=principal.name, role=role)
        ),
    )
    return Api(admin.channel, key.secret, principal.name), key.api_key.name, binding.name


async def revoke(world: TenantWorld, what: Revoke, key: str, binding: str) -> grpc.StatusCode:
    """Deletes the key or the binding; returns the code a refused call must then get."""
    admin = world["admin"]
    if what == "key":
        await admin.call(admin.tenants.DeleteApiKey, tn.DeleteApiKeyRequest(name=key))
        return grpc.StatusCode.UNAUTHENTICATED
    await admin.call(admin.tenants.DeleteRoleBinding, tn.DeleteRoleBindingRequest(name=binding))
    return grpc.StatusCode.PERMISSION_DENIED


async def steps_stored(world: TenantWorld, run: str) -> list[int]:
    viewer = world["viewer"]
    history = await viewer.call(
        viewer.experiments.GetMetricHistory,
        ex.GetMetricHistoryRequest(run=run, metric_key="loss"),
    )
    return list(history.steps)


@pytest.mark.parametrize("what", ["key", "role"])
async def test_a_metric_stream_ends_when_its_caller_is_revoked(
    world: TenantWorld, what: Revoke, sync_channel: grpc.Channel
) -> None:
    editor, key, binding = await caller(world, tn.ROLE_EDITOR)
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name)
    call = ClientStream(sync_channel, "/controlplane.v1.ExperimentService/LogMetrics", editor.auth)
    call.write(ex.LogMetricsRequest(run=run.name, batch=batch({"loss": [1.0]}, [1])))
    for _ in range(200):  # the first message is written as it arrives
        try:
            if await steps_stored(world, run.name) == [1]:
                break
        except grpc.aio.AioRpcError:  # NOT_FOUND until it is
            pass
        await asyncio.sleep(0.02)
    expected = await revoke(world, what, key, binding)
    # Later messages name no run: they are checked against the stream's tenant all the same.
    call.write(ex.LogMetricsRequest(batch=batch({"loss": [2.0]}, [2])))
    call.write(ex.LogMetricsRequest(batch=batch({"loss": [3.0]}, [3])))
    call.done_writing()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call.response()
    assert refused.value.code() == expected, refused.value.details()
    assert await steps_stored(world, run.name) == [1]


@pytest.mark.parametrize("what", ["key", "role"])
async def test_an_upload_ends_when_its_caller_is_revoked(
    world: TenantWorld, what: Revoke, sync_channel: grpc.Channel
) -> None:
    editor, key, binding = await caller(world, tn.ROLE_EDITOR)
    artifact = await editor.call(
        editor.metadata.CreateArtifact,
        md.CreateArtifactRequest(parent=world.name, artifact=md.Artifact(type="Model")),
    )
    content = b"x" * (2 << 20)
    call = ClientStream(
        sync_channel, "/controlplane.v1.ArtifactService/UploadArtifactContent", editor.auth
    )
    header = ar.ArtifactContentHeader(
        artifact=artifact.name,
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
    )
    call.write(ar.UploadArtifactContentRequest(header=header))
    call.write(ar.UploadArtifactContentRequest(chunk=content[: 1 << 20]))
    expected = await revoke(world, what, key, binding)
    call.write(ar.UploadArtifactContentRequest(chunk=content[1 << 20 :]))
    call.done_writing()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call.response()
    assert refused.value.code() == expected, refused.value.details()
    viewer = world["viewer"]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await viewer.call(
            viewer.artifacts.GetArtifactContent,
            ar.GetArtifactContentRequest(artifact=artifact.name),
        )
    assert missing.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "has no uploaded content" in (missing.value.details() or "")


@pytest.mark.parametrize("what", ["key", "role"])
async def test_an_idle_watch_ends_within_seconds_when_its_caller_is_revoked(
    world: TenantWorld, what: Revoke
) -> None:
    viewer, key, binding = await caller(world, tn.ROLE_VIEWER)
    model_name = await model(world["editor"], world)
    stream, _ = await in_place(
        viewer.governance.WatchGovernanceEvents(
            gv.WatchGovernanceEventsRequest(parent=model_name), metadata=viewer.auth
        )
    )
    expected = await revoke(world, what, key, binding)
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await asyncio.wait_for(stream.read(), 10)
    assert refused.value.code() == expected, refused.value.details()
    assert time.monotonic() - started < 5  # nothing was sent: the idle check ended it
