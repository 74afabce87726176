"""Model-registry benchmark: register a version and move an alias to it, against MLflow.

Run with the project's venv (after ``bash benchmarks/setup_mlflow.sh``)::

    .venv/bin/python benchmarks/registry.py [--quick] [--skip-mlflow] [--pairs N]

What a training pipeline does when it publishes a model: register a version (one file that
references an existing artifact with content) and move the alias ``production`` to it. The
control plane does it in one call, as ``Client.register_model`` sends it:
``CreateModelVersion`` with ``aliases: [production]``, one transaction. MLflow needs two calls,
so the benchmark also times that *pair* here: ``CreateModelVersion`` then ``SetModelAlias``.
The control plane runs as ``mlctl server`` on a fresh data dir (SQLite); the tenant, the models
and the artifact (with uploaded content) are created through the API first. Registrations are
sent sequentially from one client, and from several client threads, each on its own channel
and its own model (total throughput). Requests carry a fresh ``request_id`` each, as
``Client.register_model`` sends, and are built and serialized before timing starts. The
round trip of a health check, an RPC that does nothing, is measured in the same run: the
machine's floor under any of these numbers.

The MLflow side is ``benchmarks/mlflow_registry_side.py`` (``create_model_version`` +
``set_registered_model_alias`` through ``MlflowClient`` against ``mlflow server --workers 1``
with SQLite), run with ``benchmarks/.mlflow-venv``'s python in a subprocess. The result is a
Markdown table on stdout and in ``benchmarks/results/registry.md``, plus
``benchmarks/results/registry.json``.

Every loop is bounded, only loopback addresses are used, and every subprocess runs in its own
process group, which is terminated on exit (normal, exception, SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
import atexit
import json
import platform
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc
from _common import cpu_s, percentile
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tracking import (
    MLFLOW_PYTHON,
    RESULTS_DIR,
    RPC_TIMEOUT_S,
    Row,
    _raise_on_sigterm,
    _terminate_all,
    fmt,
    log,
    machine,
    ratio_text,
    running_server,
    spawn,
    terminate,
)

from controlplane.client import Client
from controlplane.v1 import registry_service_pb2 as reg_pb
from controlplane.v1 import tenant_service_pb2 as tenant_pb
from controlplane.v1 import tenant_service_pb2_grpc as tenant_grpc

BENCH_DIR = Path(__file__).resolve().parent
MLFLOW_SIDE = BENCH_DIR / "mlflow_registry_side.py"
MLFLOW_TIMEOUT_S = 1800.0

TENANT = "bench"
ALIAS = "production"
ARTIFACT_ID = "weights"
REGISTRY_SERVICE = "/controlplane.v1.RegistryService"

TARGET_PAIRS_PER_S = 1000.0
MLFLOW_REFERENCE = "5-6 versions/s (default settings); 40/s (1 worker)"


@dataclass(frozen=True)
class Config:
    quick: bool
    skip_mlflow: bool
    pairs: int
    warmup: int
    threads: int
    mlflow_pairs: int


# ----------------------------------------------------------------------------- requests


def pair_requests(
    model: str, first: int, count: int, *, one_call: bool = False
) -> list[tuple[bytes, bytes]]:
    """Serialized (CreateModelVersion, SetModelAlias) requests for versions ``first`` ..
    ``first + count - 1`` of ``model`` (a model has one writer here, so numbers are known).
    With ``one_call``, the alias rides on CreateModelVersion (its ``aliases`` field) and the
    second request is empty."""
    artifact = f"tenants/{TENANT}/artifacts/{ARTIFACT_ID}"
    out = []
    for number in range(first, first + count):
        create = reg_pb.CreateModelVersionRequest(
            parent=model,
            model_version=reg_pb.ModelVersion(
                files=[reg_pb.ModelFile(role="weights", artifact=artifact)],
                framework="pytorch",
            ),
            request_id=str(uuid.uuid4()),
            aliases=[ALIAS] if one_call else [],
        )
        if one_call:
            out.append((create.SerializeToString(), b""))
            continue
        alias = reg_pb.SetModelAliasRequest(
            alias=reg_pb.ModelAlias(
                name=f"{model}/aliases/{ALIAS}", version=f"{model}/versions/{number}"
            ),
            reason="benchmark",
            request_id=str(uuid.uuid4()),
        )
        out.append((create.SerializeToString(), alias.SerializeToString()))
    return out


class PairClient:
    """One channel and the two raw (bytes in) methods of a pair."""

    def __init__(self, address: str, key: str) -> None:
        self.channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.md = (("authorization", f"Bearer {key}"),)
        self.create = self.channel.unary_unary(
            f"{REGISTRY_SERVICE}/CreateModelVersion",
            request_serializer=None,
            response_deserializer=reg_pb.ModelVersion.FromString,
        )
        self.set_alias = self.channel.unary_unary(
            f"{REGISTRY_SERVICE}/SetModelAlias",
            request_serializer=None,
            response_deserializer=reg_pb.ModelAlias.FromString,
        )

    def pair(self, create: bytes, alias: bytes) -> tuple[str, str]:
        version = self.create(create, metadata=self.md, timeout=RPC_TIMEOUT_S)
        if not alias:  # one call: the alias moved with the registration
            return version.name, version.name if ALIAS in version.aliases else ""
        moved = self.set_alias(alias, metadata=self.md, timeout=RPC_TIMEOUT_S)
        return version.name, moved.version

    def run(self, requests: Sequence[tuple[bytes, bytes]], latencies: list[float]) -> None:
        """Sends the pairs in order, appending each pair's latency (ms); checks that every
        alias lands on the version just created."""
        for create, alias in requests:
            t0 = time.perf_counter()
            created, moved = self.pair(create, alias)
            latencies.append((time.perf_counter() - t0) * 1000.0)
            if created != moved:
                raise RuntimeError(f"the alias moved to {moved}, not to {created}")

    def close(self) -> None:
        self.channel.close()


# ---------------------------------------------------------------------------- the runs


def setup(address: str, key: str, models: Sequence[str]) -> None:
    """The tenant, the models and one artifact with content, through the API."""
    with grpc.insecure_channel(address) as channel:
        tenant_grpc.TenantServiceStub(channel).CreateTenant(
            tenant_pb.CreateTenantRequest(
                tenant_id=TENANT, tenant=tenant_pb.Tenant(display_name="Benchmark")
            ),
            metadata=(("authorization", f"Bearer {key}"),),
            timeout=RPC_TIMEOUT_S,
        )
    with Client(address, key, tenant=TENANT) as client:
        client.log_artifact(b"\x00" * 4096, "Model", artifact_id=ARTIFACT_ID)
        for model in models:
            client.create_model(model, exist_ok=False)


def bench_floor(address: str, cfg: Config) -> dict[str, Any]:
    """Health/Check from one client: the round trip of an RPC that does nothing (no auth, no
    store) on this machine today. Two of them bound what any two-call pair can reach."""
    with grpc.insecure_channel(address) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        request = health_pb2.HealthCheckRequest()
        for _ in range(cfg.warmup):
            check(request, timeout=RPC_TIMEOUT_S)
        latencies = []
        for _ in range(cfg.pairs):
            t0 = time.perf_counter()
            check(request, timeout=RPC_TIMEOUT_S)
            latencies.append((time.perf_counter() - t0) * 1000.0)
    p50 = statistics.median(latencies)
    return {"floor_p50_ms": p50, "floor_pair_ceiling_per_s": 1000.0 / (2 * p50)}


def bench_sequential(
    client: PairClient, model: str, cfg: Config, *, one_call: bool = False
) -> dict[str, Any]:
    requests = pair_requests(model, 1, cfg.warmup + cfg.pairs, one_call=one_call)
    client.run(requests[: cfg.warmup], [])
    latencies: list[float] = []
    t0 = time.perf_counter()
    client.run(requests[cfg.warmup :], latencies)
    wall = time.perf_counter() - t0
    return {
        "seq_pairs_per_s": cfg.pairs / wall,
        "seq_p50_ms": statistics.median(latencies),
        "seq_p99_ms": percentile(latencies, 99),
    }


def bench_threads(
    address: str, key: str, models: Sequence[str], cfg: Config, *, one_call: bool = False
) -> dict[str, Any]:
    """``cfg.threads`` clients, each on its own channel and model, start together after their
    warm-up; throughput is all pairs over the wall time until the last thread finishes."""
    per_thread = cfg.pairs // cfg.threads
    clients = [PairClient(address, key) for _ in models]
    requests = [pair_requests(m, 1, cfg.warmup + per_thread, one_call=one_call) for m in models]
    latencies: list[list[float]] = [[] for _ in models]
    errors: list[BaseException] = []
    start = threading.Barrier(len(models) + 1)

    def work(index: int) -> None:
        try:
            clients[index].run(requests[index][: cfg.warmup], [])
            start.wait(timeout=RPC_TIMEOUT_S)
            clients[index].run(requests[index][cfg.warmup :], latencies[index])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(models))]
    try:
        for thread in threads:
            thread.start()
        start.wait(timeout=RPC_TIMEOUT_S)
        t0 = time.perf_counter()
        for thread in threads:
            thread.join(timeout=RPC_TIMEOUT_S * per_thread)
        wall = time.perf_counter() - t0
    except threading.BrokenBarrierError:
        wall = 0.0
    finally:
        for client in clients:
            client.close()
    if errors:
        raise RuntimeError(f"a client thread failed: {errors[0]!r}") from errors[0]
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("a client thread did not finish")
    merged = [value for values in latencies for value in values]
    return {
        "threads_pairs_per_s": len(merged) / wall,
        "threads_p50_ms": statistics.median(merged),
        "threads_p99_ms": percentile(merged, 99),
        "threads_pairs": len(merged),
    }


def run_controlplane(cfg: Config, tmp: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    thread_models = [f"model-{i}" for i in range(cfg.threads)]
    one_call_models = [f"model-one-{i}" for i in range(cfg.threads)]
    with running_server(tmp / "data") as server:
        pid = server.proc.pid
        key = server.admin_key()
        log(f"server pid {pid} on {server.address} (started in {server.start_s:.2f} s)")
        setup(server.address, key, ["model-seq", "model-one", *thread_models, *one_call_models])
        results.update(bench_floor(server.address, cfg))
        log(f"floor: Health/Check p50 {results['floor_p50_ms']:.3f} ms")
        model = f"tenants/{TENANT}/models/model-seq"
        client = PairClient(server.address, key)
        try:
            log(f"sequential: {cfg.pairs:,} pairs after {cfg.warmup} warm-up, one client")
            cpu0 = cpu_s(pid)
            results.update(bench_sequential(client, model, cfg))
            results["seq_server_cpu_ms_per_pair"] = (
                (cpu_s(pid) - cpu0) * 1000.0 / (cfg.pairs + cfg.warmup)
            )
            log(
                f"  {results['seq_pairs_per_s']:,.0f} pairs/s, p50 {results['seq_p50_ms']:.2f} ms"
                f", server CPU {results['seq_server_cpu_ms_per_pair']:.2f} ms/pair"
            )
        finally:
            client.close()
        log(f"threads: {cfg.threads} clients x {cfg.pairs // cfg.threads:,} pairs")
        models = [f"tenants/{TENANT}/models/{m}" for m in thread_models]
        results.update(bench_threads(server.address, key, models, cfg))
        log(
            f"  {results['threads_pairs_per_s']:,.0f} pairs/s, "
            f"p50 {results['threads_p50_ms']:.2f} ms"
        )
        # The same work in one call per version: CreateModelVersion with `aliases`.
        client = PairClient(server.address, key)
        try:
            one = bench_sequential(client, f"tenants/{TENANT}/models/model-one", cfg, one_call=True)
        finally:
            client.close()
        results.update({f"one_{k}": v for k, v in one.items()})
        models = [f"tenants/{TENANT}/models/{m}" for m in one_call_models]
        one = bench_threads(server.address, key, models, cfg, one_call=True)
        results.update({f"one_{k}": v for k, v in one.items()})
        log(
            f"one call: {results['one_seq_pairs_per_s']:,.0f} /s (1 client), "
            f"{results['one_threads_pairs_per_s']:,.0f} /s ({cfg.threads} threads)"
        )
    return results


def run_mlflow(cfg: Config, tmp: Path) -> dict[str, Any]:
    out = tmp / "mlflow.json"
    cmd = [str(MLFLOW_PYTHON), str(MLFLOW_SIDE), "--json", str(out)]
    cmd += ["--pairs", str(cfg.mlflow_pairs), "--threads", str(cfg.threads)]
    log("MLflow: " + " ".join(cmd[1:]))
    log_path = tmp / "mlflow-side.log"
    proc = spawn(cmd, log_path)
    try:
        proc.wait(timeout=MLFLOW_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"mlflow_registry_side.py ran past {MLFLOW_TIMEOUT_S:.0f} s") from None
    finally:
        terminate(proc)
    text = log_path.read_text(errors="replace")
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"mlflow_registry_side.py failed ({proc.returncode}):\n{text[-4000:]}")
    for line in text.splitlines():
        if line.startswith(("MLflow", "  ")):
            log("  " + line)
    return dict(json.loads(out.read_text()))


# ------------------------------------------------------------------------------- report


def build_rows(cp: dict[str, Any], ml: dict[str, Any] | None, cfg: Config) -> list[Row]:
    ml = ml or {}

    def row(
        key: str, label: str, unit: str, *, target: bool = False, ml_key: str = "", **kw: Any
    ) -> Row:
        value = cp.get(key)
        met = value >= TARGET_PAIRS_PER_S if target and value is not None else None
        return Row(
            key=key,
            label=label,
            unit=unit,
            controlplane=value,
            mlflow=ml.get(ml_key or key),
            target=f">= {TARGET_PAIRS_PER_S:,.0f}/s" if target else "-",
            met=met,
            reference=MLFLOW_REFERENCE if target else "-",
            **kw,
        )

    # MLflow has no one-call registration: against our one call, its column is its two calls.
    same_task = "MLflow: its two calls"
    return [
        row(
            "one_seq_pairs_per_s",
            "Register a version and move its alias in one call (as Client.register_model), "
            "1 client (versions/s)",
            "pairs/s",
            target=True,
            ml_key="seq_pairs_per_s",
            lower_is_better=False,
            note=same_task,
        ),
        row(
            "one_seq_p50_ms",
            "One-call latency p50, 1 client",
            "ms",
            ml_key="seq_p50_ms",
            note=same_task,
        ),
        row(
            "one_threads_pairs_per_s",
            f"Register a version and move its alias in one call, {cfg.threads} client threads "
            "(versions/s, total)",
            "pairs/s",
            target=True,
            ml_key="threads_pairs_per_s",
            lower_is_better=False,
            note=same_task,
        ),
        row(
            "seq_pairs_per_s",
            "The same as two calls (CreateModelVersion, then SetModelAlias), 1 client (pairs/s)",
            "pairs/s",
            target=True,
            lower_is_better=False,
        ),
        row("seq_p50_ms", "Pair latency p50, 1 client", "ms"),
        row("seq_p99_ms", "Pair latency p99, 1 client", "ms"),
        row(
            "threads_pairs_per_s",
            f"The same as two calls, {cfg.threads} client threads (pairs/s, total)",
            "pairs/s",
            target=True,
            lower_is_better=False,
        ),
        row("threads_p50_ms", f"Pair latency p50, {cfg.threads} client threads", "ms"),
        Row(
            key="floor_p50_ms",
            label="gRPC floor: Health/Check round trip p50, 1 client (information)",
            unit="ms",
            controlplane=cp.get("floor_p50_ms"),
            mlflow=None,
        ),
        Row(
            key="floor_pair_ceiling_per_s",
            label="Pairs/s two such do-nothing calls would allow, 1 client (information)",
            unit="pairs/s",
            controlplane=cp.get("floor_pair_ceiling_per_s"),
            mlflow=None,
            lower_is_better=False,
        ),
        Row(
            key="nowait_pairs_per_s",
            label="MLflow, 1 client, create_model_version(await_creation_for=0) (information)",
            unit="pairs/s",
            controlplane=cp.get("seq_pairs_per_s"),
            mlflow=ml.get("nowait_pairs_per_s"),
            lower_is_better=False,
            note="vs controlplane 1 client",
        ),
        Row(
            key="nowait_p50_ms",
            label="MLflow pair p50 without the wait for READY (information)",
            unit="ms",
            controlplane=cp.get("seq_p50_ms"),
            mlflow=ml.get("nowait_p50_ms"),
            note="vs controlplane 1 client",
        ),
    ]


def fmt_value(value: float | None, unit: str) -> str:
    if value is not None and unit == "pairs/s":
        return f"{value:,.0f}/s" if value >= 100 else f"{value:.1f}/s"
    return fmt(value, unit)


def markdown(
    rows: list[Row], cp: dict[str, Any], ml: dict[str, Any] | None, meta: dict[str, Any]
) -> str:
    ml_head = f"MLflow {ml['mlflow_version']} (this run)" if ml else "MLflow 3.17 (not run)"
    lines = [
        "# Registry benchmark: register a version and move an alias, controlplane vs MLflow",
        "",
        f"{meta['when']} - {meta['machine']} - {meta['mode']} run",
        "",
        f"| metric | controlplane | {ml_head} | target | MLflow reference (issue) | ratio |",
        "|---|---:|---:|---|---|---|",
    ]
    for r in rows:
        target = r.target
        if r.met is not None:
            target += " (met)" if r.met else " (**missed**)"
        lines.append(
            f"| {r.label} | {fmt_value(r.controlplane, r.unit)} | {fmt_value(r.mlflow, r.unit)}"
            f" | {target} | {r.reference} | {ratio_text(r)} |"
        )
    lines += ["", "Notes:", ""]
    lines += [f"- {note}" for note in notes(cp, ml, meta)]
    return "\n".join(lines) + "\n"


def notes(cp: dict[str, Any], ml: dict[str, Any] | None, meta: dict[str, Any]) -> list[str]:
    cfg = meta["config"]
    out = [
        "A pair: CreateModelVersion (one file: an existing artifact with uploaded content; "
        "framework set; a fresh request_id) then SetModelAlias moving `production` to that "
        "version (reason and request_id set). Throughput: pairs / wall time; a pair is one "
        "registered version.",
        f"controlplane: `mlctl server` on 127.0.0.1, SQLite (WAL) in a fresh temp dir; sync "
        f"grpcio clients, requests serialized before timing. 1 client: {cfg['pairs']:,} pairs "
        f"after {cfg['warmup']} warm-up on one model (server CPU "
        f"{cp['seq_server_cpu_ms_per_pair']:.2f} ms per pair). {cfg['threads']} client threads:"
        f" each on its own channel and model, {cp['threads_pairs']:,} pairs in all after "
        f"{cfg['warmup']} warm-up each (p99 {cp['threads_p99_ms']:.2f} ms).",
        "One call: the same registration with `aliases: [production]` on CreateModelVersion, "
        "which moves the alias in the registration's own transaction (history reason "
        "`registered`; the response lists the alias, which the benchmark checks); the same "
        "counts, on models of their own. This is what Client.register_model(alias=...) sends. "
        "MLflow has no such call: on these rows its column is its two-call pair.",
    ]
    if ml:
        out.append(
            f"MLflow {ml['mlflow_version']}: `mlflow server` with SQLite, --workers 1 (job runner "
            f"on, as by default), driven by MlflowClient from "
            f"benchmarks/mlflow_registry_side.py: create_model_version (source: the artifact URI "
            f"of a file logged to a run, with that run_id) then set_registered_model_alias; "
            f"{ml['seq_pairs']:,} pairs after {ml['warmup']} warm-up from one client, and "
            f"{ml['threads_pairs']:,} from {ml['threads']} threads (one MlflowClient and model "
            f"each). By default MlflowClient.create_model_version polls until the version is "
            f"READY (the issue's default-settings figure); the information rows send the same "
            f"pairs with await_creation_for=0 (the server's own speed)."
        )
    else:
        out.append("MLflow was not run (--skip-mlflow); its column is n/a.")
    out.append(
        f"Machine: {meta['machine']}; shared and noisy. Python {meta['python']}, grpcio "
        f"{meta['grpcio']}, SQLite {meta['sqlite']}."
    )
    return out


# --------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> Config:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    p.add_argument("--skip-mlflow", action="store_true", help="measure the control plane only")
    p.add_argument("--pairs", type=int, default=None, help="timed pairs (default 2000; 300 quick)")
    p.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    a = p.parse_args(argv)
    pairs = a.pairs if a.pairs is not None else (300 if a.quick else 2000)
    if not 1 <= pairs <= 1_000_000:
        p.error("--pairs must be between 1 and 1,000,000")
    if not 1 <= a.threads <= 64 or pairs < a.threads:
        p.error("--threads must be between 1 and 64, and at most --pairs")
    if not a.skip_mlflow and not MLFLOW_PYTHON.exists():
        p.error(
            f"{MLFLOW_PYTHON} is missing: run `bash benchmarks/setup_mlflow.sh` "
            "(or pass --skip-mlflow)"
        )
    return Config(
        quick=a.quick,
        skip_mlflow=a.skip_mlflow,
        pairs=pairs,
        warmup=20 if a.quick else 100,
        threads=a.threads,
        mlflow_pairs=40 if a.quick else 200,
    )


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    atexit.register(_terminate_all)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "mode": "quick" if cfg.quick else "full",
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "sqlite": sqlite3.sqlite_version,
        "config": asdict(cfg),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="cp-registry-bench-") as tmp_name:
            tmp = Path(tmp_name)
            cp = run_controlplane(cfg, tmp / "controlplane")
            ml = None if cfg.skip_mlflow else run_mlflow(cfg, tmp)
    finally:
        _terminate_all()
    rows = build_rows(cp, ml, cfg)
    report = markdown(rows, cp, ml, meta)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "registry.md").write_text(report)
    document = {
        "meta": meta,
        "controlplane": cp,
        "mlflow": ml,
        "rows": [{**asdict(r), "ratio": ratio_text(r)} for r in rows],
    }
    (RESULTS_DIR / "registry.json").write_text(json.dumps(document, indent=2) + "\n")
    print(report)
    log(f"wrote {RESULTS_DIR / 'registry.md'} and {RESULTS_DIR / 'registry.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
