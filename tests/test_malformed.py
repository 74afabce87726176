"""A request body that does not decode is INVALID_ARGUMENT with reason MALFORMED_REQUEST on
every RPC, before authentication; inside a client stream it ends the stream and nothing of
it from there on is kept; the log gets at most one line every few seconds."""

from __future__ import annotations

import hashlib
import logging

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from controlplane.server.log_limits import RateLimitedWarning
from controlplane.server.methods import method_table
from controlplane.v1 import artifact_service_pb2 as ar
from controlplane.v1 import experiment_service_pb2 as ex
from controlplane.v1 import metadata_service_pb2 as md
from tests.conftest import Api, TenantWorld
from tests.streams import client_stream
from tests.test_experiments import batch, new_experiment, new_run

JUNK = b"\x12"  # a length-delimited field 2 whose length is missing
INVALID_UTF8 = b"\x0a\x02\xff\xfe"  # field 1 (a string in every request here) not UTF-8


def reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None, "no google.rpc.Status details"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo")


async def call_raw(
    channel: grpc.aio.Channel, sync_channel: grpc.Channel, full_name: str, body: bytes, token: str
) -> None:
    method = method_table()[full_name]
    metadata = [("authorization", f"Bearer {token}")] if token else []
    if method.client_streaming:
        await client_stream(sync_channel, full_name, [body], metadata)
    elif method.server_streaming:
        async for _ in channel.unary_stream(full_name)(body, metadata=metadata, timeout=10):
            pass
    else:
        await channel.unary_unary(full_name)(body, metadata=metadata, timeout=10)


@pytest.mark.parametrize("body", [JUNK, INVALID_UTF8], ids=["truncated", "invalid-utf8"])
@pytest.mark.parametrize("caller", ["admin", "no key", "bad key"])
async def test_every_rpc_answers_a_body_that_does_not_decode_with_malformed_request(
    channel: grpc.aio.Channel, sync_channel: grpc.Channel, admin: Api, body: bytes, caller: str
) -> None:
    token = {"admin": admin.token, "no key": "", "bad key": "cpk_not.a-key"}[caller]
    for full_name, method in method_table().items():
        first = method.descriptor.input_type.fields_by_number.get(1)
        if body == INVALID_UTF8 and (first is None or first.type != first.TYPE_STRING):
            continue  # field 1 is not a string there
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call_raw(channel, sync_channel, full_name, body, token)
        if method.client_streaming and caller != "admin":
            # A client stream is authenticated before its first message is read.
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, full_name
            continue
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, full_name
        assert reason(refused.value) == "MALFORMED_REQUEST", full_name
        assert method.descriptor.input_type.full_name in (refused.value.details() or "")


async def test_junk_in_an_upload_ends_it_and_stores_nothing(
    world: TenantWorld, sync_channel: grpc.Channel
) -> None:
    editor = world["editor"]
    artifact = await editor.call(
        editor.metadata.CreateArtifact,
        md.CreateArtifactRequest(parent=world.name, artifact=md.Artifact(type="Model")),
    )
    content = b"y" * 1000
    header = ar.UploadArtifactContentRequest(
        header=ar.ArtifactContentHeader(
            artifact=artifact.name,
            sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content),
        )
    ).SerializeToString()
    chunk = ar.UploadArtifactContentRequest(chunk=content).SerializeToString()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client_stream(
            sync_channel,
            "/controlplane.v1.ArtifactService/UploadArtifactContent",
            [header, JUNK, chunk],
            editor.auth,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(refused.value) == "MALFORMED_REQUEST"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await editor.call(
            editor.artifacts.GetArtifactContent,
            ar.GetArtifactContentRequest(artifact=artifact.name),
        )
    assert missing.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_junk_in_a_metric_stream_ends_it_and_keeps_nothing_from_there_on(
    world: TenantWorld, sync_channel: grpc.Channel
) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name)
    first = ex.LogMetricsRequest(run=run.name, batch=batch({"loss": [1.0]}, [1]))
    later = ex.LogMetricsRequest(batch=batch({"loss": [3.0]}, [3]))
    messages = [first.SerializeToString(), JUNK, later.SerializeToString()]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client_stream(
            sync_channel, "/controlplane.v1.ExperimentService/LogMetrics", messages, editor.auth
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(refused.value) == "MALFORMED_REQUEST"
    history = await editor.call(
        editor.experiments.GetMetricHistory,
        ex.GetMetricHistoryRequest(run=run.name, metric_key="loss"),
    )
    # Each message is written as it arrives (the contract of LogMetrics): the one before the
    # junk was; nothing from the junk on is.
    assert list(history.steps) == [1]


async def test_a_flood_of_junk_logs_at_most_one_line_and_no_traceback(
    channel: grpc.aio.Channel,
    sync_channel: grpc.Channel,
    admin: Api,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="controlplane")
    caplog.set_level(logging.INFO, logger="grpc")
    for _ in range(200):
        with pytest.raises(grpc.aio.AioRpcError):
            await call_raw(
                channel,
                sync_channel,
                "/controlplane.v1.ExperimentService/UpdateExperiment",
                JUNK,
                admin.token,
            )
    lines = [r for r in caplog.records if "UpdateExperiment" in r.getMessage()]
    assert len(lines) <= 1
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in lines)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_rate_limited_warning_says_how_many_it_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    warning = RateLimitedWarning(logging.getLogger("test.limits"), 10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.limits"):
        assert warning.warn("junk from %s", "a")
        assert not warning.warn("junk from %s", "b")
        assert not warning.warn("junk from %s", "c")
        now[0] += 10.0
        assert warning.warn("junk from %s", "d")
    assert [r.getMessage() for r in caplog.records] == [
        "junk from a",
        "junk from d (2 more like it since the last such line)",
    ]
