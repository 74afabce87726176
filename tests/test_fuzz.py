"""Bad input never gets UNKNOWN or INTERNAL: every RPC of the contract (found in the
descriptors, so a new one is covered without editing this test) gets bodies that do not
decode and requests with edge values in each field (``tests.fuzzing``), and the server stays
healthy. ``benchmarks/fuzz.py`` runs the same generator for 100,000 requests."""

from __future__ import annotations

import random

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from controlplane.server.app import RunningServer
from controlplane.server.methods import method_table
from tests.conftest import Api, TenantWorld
from tests.fuzzing import Outcome, Sender, cases, destructive_last, request_class, run_cases
from tests.rpc_samples import SAMPLES, populate

# Edge-value requests per RPC (on top of every undecodable body), drawn with a fixed seed.
PER_METHOD = 20


async def test_no_bad_request_is_unknown_or_internal(
    admin: Api, world: TenantWorld, channel: grpc.aio.Channel, server: RunningServer
) -> None:
    resources = await populate(world)
    rng = random.Random(20261202)
    outcome = Outcome()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as sync_channel:
        sender = Sender(channel, sync_channel, admin.token)
        for method in destructive_last(list(method_table().values())):
            sample = SAMPLES[method.name](resources)
            assert isinstance(sample, request_class(method))
            await run_cases(sender, cases(method, sample, rng, PER_METHOD), outcome)
    assert not outcome.failures, "\n".join(map(str, outcome.failures[:40]))
    assert sum(outcome.codes.values()) > 2000
    assert outcome.codes["INVALID_ARGUMENT"] > 1000  # the inputs were refused, not ignored
    health = health_pb2_grpc.HealthStub(channel)
    response = await health.Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.SERVING
