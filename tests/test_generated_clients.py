"""The generated clients in clients/ against a real server per backend: the TypeScript client
(protoc-gen-es + Connect, run by Node) and the betterproto2 Python client (its async grpclib
stubs and its sync grpcio stubs). scripts/generate regenerates both; CI checks they are current.

Node runs as a subprocess through asyncio (never a blocking call: the server serves on this
event loop), and the sync Python client runs in a thread for the same reason."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from controlplane.server.app import RunningServer
from controlplane.v1 import experiment_service_pb2 as experiment_pb
from tests.test_governance import new_version
from tests.test_registry import model, set_alias

ROOT = Path(__file__).resolve().parents[1]
TYPESCRIPT = ROOT / "clients" / "typescript"
NODE_MODULES = ROOT / "node_modules"

# The generated Python package lives in clients/python (installable on its own with
# `pip install ./clients/python`); the tests import it from the checkout.
sys.path.insert(0, str(ROOT / "clients" / "python"))
from controlplane_client.controlplane import v1  # noqa: E402


async def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _require_node_modules() -> None:
    assert (NODE_MODULES / "@connectrpc" / "connect-node").exists(), (
        "run `npm ci` first: the TypeScript client's runtime and tsc come from npm"
    )


# -- TypeScript ------------------------------------------------------------------------------


@pytest.mark.node
async def test_typescript_example_type_checks_against_the_generated_declarations() -> None:
    _require_node_modules()
    code, out, err = await _run(
        "node", str(NODE_MODULES / "typescript" / "bin" / "tsc"), "-p", str(TYPESCRIPT)
    )
    assert code == 0, out + err


@pytest.mark.node
async def test_typescript_client_calls_the_server_over_grpc(
    server: RunningServer, world: Any
) -> None:
    _require_node_modules()
    code, out, err = await _run(
        "node",
        str(TYPESCRIPT / "example.js"),
        env={
            "CONTROLPLANE_URL": f"http://127.0.0.1:{server.port}",
            "CONTROLPLANE_TOKEN": world["editor"].token,
            "CONTROLPLANE_TENANT": world.tenant_id,
            "CONTROLPLANE_EXPERIMENT_ID": "from-typescript",
        },
    )
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])

    experiment_name = f"{world.name}/experiments/from-typescript"
    assert result["caller"] == {"principal": world["editor"].principal, "roles": ["EDITOR"]}
    assert result["experiment"]["name"] == experiment_name
    assert result["experiment"]["displayName"] == "From TypeScript"
    assert result["experiment"]["tags"] == {"client": "typescript"}
    assert result["experiment"]["createTime"]  # an RFC 3339 string from toJson
    assert result["run"] == f"{experiment_name}/runs/first"
    assert [run["name"] for run in result["searchRuns"]] == [result["run"]]
    assert result["searchRuns"][0]["params"] == {"lr": "0.01"}
    assert result["searchRuns"][0]["state"] == "RUN_STATE_RUNNING"
    assert result["missing"]["code"] == "NotFound"

    # What Node created is on the server, as the project's own stubs see it.
    editor = world["editor"]
    stored = await editor.call(
        editor.experiments.GetExperiment,
        experiment_pb.GetExperimentRequest(name=experiment_name),
    )
    assert stored.display_name == "From TypeScript"


@pytest.mark.node
async def test_typescript_client_follows_alias_changes(server: RunningServer, world: Any) -> None:
    _require_node_modules()
    model_name = await model(world["editor"], world)
    version = await new_version(world, model_name)
    for alias in ("staging", "prod"):
        await set_alias(world["maintainer"], model_name, alias, version)
    code, out, err = await _run(
        "node",
        str(TYPESCRIPT / "watch.js"),
        env={
            "CONTROLPLANE_URL": f"http://127.0.0.1:{server.port}",
            "CONTROLPLANE_TOKEN": world["viewer"].token,
            "CONTROLPLANE_MODEL": model_name,
            "CONTROLPLANE_FROM_BEGINNING": "1",
            "CONTROLPLANE_LIMIT": "2",
        },
    )
    assert code == 0, err
    changes = [json.loads(line) for line in out.strip().splitlines()]
    assert [c["alias"] for c in changes] == [
        f"{model_name}/aliases/staging",
        f"{model_name}/aliases/prod",
    ]
    assert all(c["version"] == version and "previousVersion" not in c for c in changes)


# -- Python (betterproto2) -------------------------------------------------------------------


async def test_betterproto2_async_client_round_trips_an_experiment(
    server: RunningServer, world: Any
) -> None:
    auth = {"authorization": f"Bearer {world['editor'].token}"}
    async with Channel("127.0.0.1", server.port) as channel:
        tenants = v1.TenantServiceStub(channel, metadata=auth)
        experiments = v1.ExperimentServiceStub(channel, metadata=auth)

        caller = await tenants.get_caller()
        assert caller.principal == world["editor"].principal
        assert caller.roles == [v1.Role.EDITOR]

        created = await experiments.create_experiment(
            v1.CreateExperimentRequest(
                parent=world.name,
                experiment_id="from-python",
                experiment=v1.Experiment(
                    display_name="From betterproto2", tags={"client": "python"}
                ),
            )
        )
        assert created.name == f"{world.name}/experiments/from-python"
        assert isinstance(created.create_time, datetime)
        assert created.etag

        fetched = await experiments.get_experiment(v1.GetExperimentRequest(name=created.name))
        assert fetched == created
        assert fetched.tags == {"client": "python"}

        with pytest.raises(GRPCError) as missing:
            await experiments.get_experiment(
                v1.GetExperimentRequest(name=f"{world.name}/experiments/does-not-exist")
            )
        assert missing.value.status is Status.NOT_FOUND

        # Without the bearer token the server refuses the call before any handler runs.
        with pytest.raises(GRPCError) as anonymous:
            await v1.TenantServiceStub(channel).get_caller()
        assert anonymous.value.status is Status.UNAUTHENTICATED


async def test_betterproto2_async_client_follows_a_watch(server: RunningServer, world: Any) -> None:
    model_name = await model(world["editor"], world)
    version = await new_version(world, model_name)
    auth = {"authorization": f"Bearer {world['viewer'].token}"}
    async with Channel("127.0.0.1", server.port) as channel:
        registry = v1.RegistryServiceStub(channel, metadata=auth)
        changes = registry.watch_model_alias_changes(
            v1.WatchModelAliasChangesRequest(parent=model_name, from_beginning=True)
        )
        first = asyncio.ensure_future(changes.__anext__())
        await set_alias(world["maintainer"], model_name, "prod", version)
        change = await asyncio.wait_for(first, 15)
        await changes.aclose()
    assert change.alias == f"{model_name}/aliases/prod"
    assert (change.previous_version, change.version) == ("", version)


class _BearerToken(grpc.UnaryUnaryClientInterceptor):
    """The sync stubs take no per-call metadata, so the token rides on the channel."""

    def __init__(self, token: str) -> None:
        self._metadata = (("authorization", f"Bearer {token}"),)

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        metadata = [*(details.metadata or ()), *self._metadata]
        return continuation(details._replace(metadata=metadata), request)


async def test_betterproto2_sync_client_round_trips_an_experiment(
    server: RunningServer, world: Any
) -> None:
    def work() -> tuple[v1.Caller, v1.Experiment, v1.Experiment, grpc.RpcError]:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as plain:
            channel = grpc.intercept_channel(plain, _BearerToken(world["editor"].token))
            tenants = v1.TenantServiceSyncStub(channel)
            experiments = v1.ExperimentServiceSyncStub(channel)
            caller = tenants.get_caller()
            created = experiments.create_experiment(
                v1.CreateExperimentRequest(
                    parent=world.name,
                    experiment_id="from-python-sync",
                    experiment=v1.Experiment(display_name="From the sync stub"),
                )
            )
            fetched = experiments.get_experiment(v1.GetExperimentRequest(name=created.name))
            try:
                experiments.get_experiment(
                    v1.GetExperimentRequest(name=f"{world.name}/experiments/does-not-exist")
                )
            except grpc.RpcError as error:
                return caller, created, fetched, error
        raise AssertionError("GetExperiment of a missing experiment succeeded")

    caller, created, fetched, missing = await asyncio.to_thread(work)
    assert caller.principal == world["editor"].principal
    assert created.name == f"{world.name}/experiments/from-python-sync"
    assert fetched == created
    assert missing.code() == grpc.StatusCode.NOT_FOUND
