"""A long fuzz run: 100,000 requests (by default) across every RPC of the contract, against a
real ``mlctl server`` subprocess, and the histogram of the status codes they got.

The requests come from the generator ``tests/test_fuzz.py`` uses (``tests/fuzzing.py``):
random edge-value mutations (one to three fields at a time) of a valid sample request per RPC,
bodies that do not decode, random bytes; with and without credentials. Every 2,000 requests
the run moves to a freshly populated tenant, so deletes do not starve the other RPCs of
targets. The run fails (exit 1) on any UNKNOWN, INTERNAL or DEADLINE_EXCEEDED (a hang), on
a server that exits, or on a server that is not SERVING at the end.

    .venv/bin/python benchmarks/fuzz.py [--requests 100000] [--database-url URL]

The table goes to stdout and ``benchmarks/results/fuzz.md``; the figures to
``benchmarks/results/fuzz.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from _common import HOST, free_port, rss_kb  # noqa: E402

from controlplane.server.methods import method_table  # noqa: E402
from tests.conftest import Api, make_tenant  # noqa: E402
from tests.fuzzing import Outcome, Sender, destructive_last, random_case, run_cases  # noqa: E402
from tests.rpc_samples import SAMPLES, populate  # noqa: E402

ROUND = 2_000
RESULTS = Path(__file__).resolve().parent / "results"


def start_server(data_dir: Path, database_url: str | None) -> tuple[subprocess.Popen[bytes], str]:
    address = f"{HOST}:{free_port()}"
    mlctl = Path(sys.executable).with_name("mlctl")
    command = [str(mlctl)] if mlctl.exists() else [sys.executable, "-m", "controlplane.cli"]
    command += ["server", "--listen", address, "--data-dir", str(data_dir)]
    command += ["--log-format", "text", "--log-level", "WARNING"]
    if database_url:
        command += ["--database-url", database_url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLPLANE_")}
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    return process, address


def read_key(key_file: Path) -> str:
    """The admin key the server's first start wrote ("" until it has)."""
    text = key_file.read_text() if key_file.exists() else ""
    return text.split()[0] if text.strip() else ""


async def wait_ready(process: subprocess.Popen[bytes], address: str, key_file: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        key = await asyncio.to_thread(read_key, key_file)
        if key:
            async with grpc.aio.insecure_channel(address) as channel:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    health = health_pb2_grpc.HealthStub(channel)
                    await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                    return key
        await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start in 60 s")


async def fuzz(address: str, token: str, total: int, seed: int) -> tuple[Outcome, float]:
    rng = random.Random(seed)
    outcome = Outcome()
    methods = destructive_last(list(method_table().values()))
    started = time.perf_counter()
    async with grpc.aio.insecure_channel(address) as channel:
        sender = Sender(channel, grpc.insecure_channel(address), token)
        admin = Api(channel, token, "tenants/platform/principals/admin")
        sent = 0
        while sent < total:
            world = await make_tenant(admin, channel, prefix="f")
            resources = await populate(world)
            size = min(ROUND, total - sent)
            # The round's requests, deletes last so they do not remove the others' targets.
            batch = sorted(
                (
                    random_case(m, SAMPLES[m.name](resources), rng)
                    for m in rng.choices(methods, k=size)
                ),
                key=lambda case: methods.index(case.method),
            )
            await run_cases(sender, batch, outcome, concurrency=16)
            sent += size
            print(
                f"{sent:>7} sent, {len(outcome.failures)} failures, "
                f"{dict(outcome.codes.most_common(4))}",
                file=sys.stderr,
            )
    return outcome, time.perf_counter() - started


def table(outcome: Outcome, seconds: float, server_mb: float, healthy: bool, crashed: bool) -> str:
    total = sum(outcome.codes.values())
    lines = [
        f"Fuzz run: {total:,} requests across {len(method_table())} RPCs in {seconds:.0f} s "
        f"({total / seconds:,.0f}/s); server RSS at the end {server_mb:.0f} MB; "
        f"crashed: {'yes' if crashed else 'no'}; SERVING at the end: {'yes' if healthy else 'no'}",
        "",
        "| status code | requests | share |",
        "|---|---:|---:|",
    ]
    for code, count in outcome.codes.most_common():
        lines.append(f"| {code} | {count:,} | {100 * count / total:.2f}% |")
    lines += ["", f"UNKNOWN, INTERNAL or DEADLINE_EXCEEDED: {len(outcome.failures)}"]
    lines += [f"- {failure}" for failure in outcome.failures[:50]]
    return "\n".join(lines)


async def measure(
    process: subprocess.Popen[bytes], address: str, data_dir: Path, total: int, seed: int
) -> tuple[Outcome, float, bool]:
    """Runs the fuzz against the started server; (outcome, seconds, SERVING at the end)."""
    token = await wait_ready(process, address, data_dir / "admin.key")
    outcome, seconds = await fuzz(address, token, total, seed)
    healthy = False
    if process.poll() is None:
        async with grpc.aio.insecure_channel(address) as channel:
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
                healthy = reply.status == health_pb2.HealthCheckResponse.SERVING
    return outcome, seconds, healthy


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="PostgreSQL (upgraded first); default SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cp-fuzz-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir(mode=0o700)
        if args.database_url:
            upgrade = [sys.executable, "-m", "controlplane.cli", "db", "upgrade"]
            subprocess.run([*upgrade, "--database-url", args.database_url], check=True)
        process, address = start_server(data_dir, args.database_url)
        try:
            outcome, seconds, healthy = asyncio.run(
                measure(process, address, data_dir, args.requests, args.seed)
            )
            crashed = process.poll() is not None
            server_mb = rss_kb(process.pid) / 1024
            log_bytes = (data_dir / "server.log").stat().st_size
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)
    report = table(outcome, seconds, server_mb, healthy, crashed)
    report += f"\n\nServer log after the run: {log_bytes:,} bytes."
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fuzz.md").write_text(report + "\n")
    figures = {
        "requests": sum(outcome.codes.values()),
        "seconds": seconds,
        "codes": dict(outcome.codes),
        "failures": outcome.failures,
        "crashed": crashed,
        "healthy": healthy,
        "server_rss_mb": server_mb,
        "server_log_bytes": log_bytes,
    }
    (RESULTS / "fuzz.json").write_text(json.dumps(figures, indent=2))
    return 0 if healthy and not crashed and not outcome.failures else 1


if __name__ == "__main__":
    sys.exit(main())
