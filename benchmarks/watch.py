"""Watch benchmark: how fast a governance move reaches the deployments that watch it, and what
open watches cost a server that has nothing to send.

Run with the project's venv::

    .venv/bin/python benchmarks/watch.py [--quick] [--watchers 1,10,100]

For each number of watchers N: ``mlctl server`` on a fresh data dir (SQLite), a tenant with one
model, and N ``WatchGovernanceEvents`` streams on that model, all in place (their headers
came). Then, with the server idle, its CPU use over a few seconds (``/proc``): open watches
should cost nothing (the server polls for changes made through other servers once per watched
tenant, not once per watch). Then, moves one after another: register a version, then time
``SubmitModelVersion`` from the call until every watcher has read the event. The client is one
``grpc.aio`` event loop reading all N streams. No tool in the issue's list streams registry
events (MLflow has webhooks in its enterprise offering only), so there is no side-by-side
column. Results: a Markdown table on stdout and ``benchmarks/results/watch.{md,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from _common import cpu_s, percentile
from tracking import RESULTS_DIR, RPC_TIMEOUT_S, log, machine, running_server

from controlplane.v1 import artifact_service_pb2 as ar
from controlplane.v1 import artifact_service_pb2_grpc as ar_grpc
from controlplane.v1 import governance_service_pb2 as gv
from controlplane.v1 import governance_service_pb2_grpc as gv_grpc
from controlplane.v1 import metadata_service_pb2 as md
from controlplane.v1 import metadata_service_pb2_grpc as md_grpc
from controlplane.v1 import registry_service_pb2 as rg
from controlplane.v1 import registry_service_pb2_grpc as rg_grpc
from controlplane.v1 import tenant_service_pb2 as tn
from controlplane.v1 import tenant_service_pb2_grpc as tn_grpc

TENANT = "bench"
IDLE_SECONDS = 5.0
#: A move not seen by every watcher within this is a failure, not a slow result.
ARRIVAL_TIMEOUT_S = 60.0


class Bench:
    """Stubs on one channel, with the platform administrator's key."""

    def __init__(self, channel: grpc.aio.Channel, key: str) -> None:
        self.auth = (("authorization", f"Bearer {key}"),)
        self.tenants = tn_grpc.TenantServiceStub(channel)
        self.metadata = md_grpc.MetadataServiceStub(channel)
        self.artifacts = ar_grpc.ArtifactServiceStub(channel)
        self.registry = rg_grpc.RegistryServiceStub(channel)
        self.governance = gv_grpc.GovernanceServiceStub(channel)

    async def setup(self) -> tuple[str, str]:
        """The tenant, a model and an artifact with content: (model, artifact)."""
        kw: dict[str, Any] = {"metadata": self.auth, "timeout": RPC_TIMEOUT_S}
        parent = f"tenants/{TENANT}"
        await self.tenants.CreateTenant(
            tn.CreateTenantRequest(tenant_id=TENANT, tenant=tn.Tenant(display_name="bench")), **kw
        )
        model = await self.registry.CreateRegisteredModel(
            rg.CreateRegisteredModelRequest(
                parent=parent, model_id="churn", registered_model=rg.RegisteredModel()
            ),
            **kw,
        )
        artifact = await self.metadata.CreateArtifact(
            md.CreateArtifactRequest(parent=parent, artifact=md.Artifact(type="Model")), **kw
        )
        content = b"\x00" * 4096

        async def upload() -> AsyncIterator[ar.UploadArtifactContentRequest]:
            yield ar.UploadArtifactContentRequest(
                header=ar.ArtifactContentHeader(
                    artifact=artifact.name,
                    sha256=hashlib.sha256(content).hexdigest(),
                    size_bytes=len(content),
                )
            )
            yield ar.UploadArtifactContentRequest(chunk=content)

        await self.artifacts.UploadArtifactContent(upload(), **kw)
        return model.name, artifact.name


async def measure(address: str, pid: int, key: str, watchers: int, moves: int) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(address) as channel:
        bench = Bench(channel, key)
        model, artifact = await bench.setup()
        streams = []
        for _ in range(watchers):
            stream = bench.governance.WatchGovernanceEvents(
                gv.WatchGovernanceEventsRequest(parent=model), metadata=bench.auth
            )
            await stream.initial_metadata()
            streams.append(stream)
        await asyncio.sleep(1.0)  # let the server settle after the opening burst
        cpu0, wall0 = cpu_s(pid), time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        idle = (cpu_s(pid) - cpu0) / (time.perf_counter() - wall0)
        submit_ms, all_ms = [], []
        try:
            for _ in range(moves):
                version = await bench.registry.CreateModelVersion(
                    rg.CreateModelVersionRequest(
                        parent=model,
                        model_version=rg.ModelVersion(
                            files=[rg.ModelFile(role="model", artifact=artifact)]
                        ),
                    ),
                    metadata=bench.auth,
                    timeout=RPC_TIMEOUT_S,
                )
                t0 = time.perf_counter()
                await bench.governance.SubmitModelVersion(
                    gv.SubmitModelVersionRequest(name=version.name),
                    metadata=bench.auth,
                    timeout=RPC_TIMEOUT_S,
                )
                t1 = time.perf_counter()
                received = await asyncio.wait_for(
                    asyncio.gather(*(stream.read() for stream in streams)), ARRIVAL_TIMEOUT_S
                )
                t2 = time.perf_counter()
                if any(getattr(event, "action", None) != "submit" for event in received):
                    raise RuntimeError("a watcher read something other than the submit")
                submit_ms.append((t1 - t0) * 1000)
                all_ms.append((t2 - t0) * 1000)
        finally:
            for stream in streams:
                stream.cancel()
    return {
        "watchers": watchers,
        "moves": moves,
        "idle_cpu_percent": idle * 100,
        "submit_p50_ms": statistics.median(submit_ms),
        "delivered_p50_ms": statistics.median(all_ms),
        "delivered_p99_ms": percentile(all_ms, 99),
    }


def markdown(results: list[dict[str, Any]], quick: bool) -> str:
    lines = [
        "# Watch benchmark: a governance move to every watcher, and the cost of idle watches",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} - {machine()}"
        + (" - quick run" if quick else ""),
        "",
        "| watchers | server CPU, idle (% of a core) | SubmitModelVersion p50 | "
        "every watcher has it, p50 | p99 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['watchers']} | {r['idle_cpu_percent']:.1f}% | {r['submit_p50_ms']:.2f} ms | "
            f"{r['delivered_p50_ms']:.2f} ms | {r['delivered_p99_ms']:.2f} ms |"
        )
    lines += [
        "",
        "Times run from the SubmitModelVersion call; each row is its own server on SQLite, "
        "with the watchers on one model and one client event loop reading every stream.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer moves: a smoke run")
    parser.add_argument(
        "--watchers", default="1,10,100", help="comma-separated watcher counts (default 1,10,100)"
    )
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.watchers.split(",") if part.strip()]
    if not counts or any(count < 1 for count in counts):
        parser.error("--watchers takes positive numbers")
    moves = 5 if args.quick else 30
    results = []
    for count in counts:
        with (
            tempfile.TemporaryDirectory(prefix="cp-watch-bench-") as tmp,
            running_server(Path(tmp) / "data") as server,
        ):
            log(f"{count} watchers on 127.0.0.1:{server.port}")
            result = asyncio.run(
                measure(server.address, server.proc.pid, server.admin_key(), count, moves)
            )
            log(
                f"  idle CPU {result['idle_cpu_percent']:.1f}%, every watcher has the move "
                f"after {result['delivered_p50_ms']:.2f} ms (p50)"
            )
            results.append(result)
    text = markdown(results, args.quick)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "watch.md").write_text(text)
    (RESULTS_DIR / "watch.json").write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {RESULTS_DIR / 'watch.md'} and {RESULTS_DIR / 'watch.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
