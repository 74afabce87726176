"""Experiment-tracking benchmark: the control plane against an MLflow tracking server.

Run with the project's venv (after ``bash benchmarks/setup_mlflow.sh``)::

    .venv/bin/python benchmarks/tracking.py [--quick] [--skip-mlflow] [--runs N]

Both servers run on 127.0.0.1 with a SQLite store in a fresh temporary folder and do the same
work, one after the other: unary metric logging latency, batch and streaming ingest
throughput, SearchRuns latency, metric-history latency, start time and resident memory. The
MLflow side is ``benchmarks/mlflow_side.py``, run with ``benchmarks/.mlflow-venv``'s python in
a subprocess; its JSON is merged into the report. The result is a Markdown table on stdout and
in ``benchmarks/results/tracking.md``, plus ``benchmarks/results/tracking.json``.

The 100,000 runs that SearchRuns searches are written straight into the server's SQLite file
through the project's store layer (the ORM models, inside ``tenant_scope``) while the server
is stopped, because creating them through 100,000+ RPCs would take several minutes; the tenant
and the experiment they belong to are created through the API first.

Every loop is bounded, only loopback addresses are used, and every subprocess runs in its own
process group, which is terminated on exit (normal, exception, SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from _common import HOST, cpu_s, free_port, now_ms, percentile, process_tree, rss_kb
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from controlplane.v1 import common_pb2
from controlplane.v1 import experiment_service_pb2 as exp_pb
from controlplane.v1 import experiment_service_pb2_grpc as exp_grpc
from controlplane.v1 import tenant_service_pb2 as tenant_pb
from controlplane.v1 import tenant_service_pb2_grpc as tenant_grpc

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
RESULTS_DIR = BENCH_DIR / "results"
MLFLOW_PYTHON = BENCH_DIR / ".mlflow-venv" / "bin" / "python"
MLFLOW_SIDE = BENCH_DIR / "mlflow_side.py"

TENANT = "bench"
SEARCH_EXPERIMENT = "search"
LR_VALUES = ("0.1", "0.01", "0.001", "0.0001")
QUERIES = {
    "filtered": ('metrics.loss < 0.5 AND params.lr = "0.01"', "metrics.loss desc"),
    "order_only": ("", "metrics.loss desc"),
    "param_only": ('params.lr = "0.01"', ""),
}
SEARCH_PAGE_SIZE = 100
SEARCH_WARMUP = 3
HISTORY_WARMUP = 3
INGEST_KEYS = 10
HISTORY_BATCH = 1000

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
IDLE_S = 2.0
RPC_TIMEOUT_S = 120.0
POLL_S = 0.01
MLFLOW_TIMEOUT_S = 3600.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

EXP_SERVICE = "/controlplane.v1.ExperimentService"

# Targets from the issue, and the MLflow figures it reports for this kind of machine.
TARGETS = {
    "unary_p50_ms": ("< 1 ms", lambda v: v < 1.0),
    "ingest_batch_metrics_per_s": ("> 500k metrics/s", lambda v: v > 500_000),
    "ingest_stream_metrics_per_s": ("> 500k metrics/s", lambda v: v > 500_000),
    "search_filtered_p50_ms": ("< 20 ms at 100k runs", lambda v: v < 20.0),
    "history_p50_ms": ("< 10 ms", lambda v: v < 10.0),
    "start_s": ("< 1.5 s", lambda v: v < 1.5),
    "idle_rss_mb": ("< 150 MB", lambda v: v < 150.0),
}
MLFLOW_REFERENCE = {
    "unary_p50_ms": "52-61 ms (4 workers); 6.5 ms (1 worker)",
    "ingest_batch_metrics_per_s": "5-7k metrics/s (log_batch)",
    "search_filtered_p50_ms": "215-257 ms over 2k runs",
    "history_p50_ms": "0.5-0.9 s",
    "start_s": "13-28 s",
    "idle_rss_mb": "3.6 GB",
}


@dataclass(frozen=True)
class Config:
    quick: bool
    skip_mlflow: bool
    runs: int
    unary_warmup: int
    unary_n: int
    get_run_n: int
    ingest_batch: int
    ingest_total: int
    search_repeats: int
    history_points: int
    history_repeats: int
    start_trials: int
    populate_chunk: int = 10_000
    # The server's --durability (store/durability.py): "full" fsyncs every commit, as
    # MLflow's SQLite store does; "auto" is the embedded default ("normal").
    durability: str = "auto"


# ------------------------------------------------------------------------------ processes

_children: list[subprocess.Popen[bytes]] = []


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` and its descendants (the control plane has none), in MiB."""
    return sum(rss_kb(p) for p in process_tree(pid)) / 1024.0


def spawn(
    cmd: Sequence[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # fixed argv, no shell
            list(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group, terminated as a whole
        )
    _children.append(proc)
    return proc


def terminate(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the process group, wait, then SIGKILL the group and any stray descendant."""
    tree = process_tree(proc.pid) if proc.poll() is None else []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in tree:
        if pid != proc.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    if proc in _children:
        _children.remove(proc)


def _terminate_all() -> None:
    for proc in list(_children):
        terminate(proc, timeout=5.0)


def _raise_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop servers


def timed_ms(call: Callable[[], Any], n: int, warmup: int = 0) -> tuple[list[float], Any]:
    """Calls ``call`` warmup + n times; returns the n latencies in ms and the last result."""
    result = None
    for _ in range(warmup):
        result = call()
    lat: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        result = call()
        lat.append((time.perf_counter() - t0) * 1000.0)
    return lat, result


# ------------------------------------------------------------------------- the server


def server_command(port: int, data_dir: Path, durability: str = "auto") -> list[str]:
    """``mlctl server`` from this venv; ``python -m controlplane.cli`` without the script."""
    args = [
        "server",
        "--listen",
        f"{HOST}:{port}",
        "--data-dir",
        str(data_dir),
        "--log-format",
        "text",
        "--durability",
        durability,
    ]
    mlctl = Path(sys.executable).with_name("mlctl")
    if mlctl.exists():
        return [str(mlctl), *args]
    return [sys.executable, "-m", "controlplane.cli", *args]


def health_serving(address: str) -> bool:
    """One health check on a fresh channel (no reconnect backoff carried between polls)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((HOST, int(address.rsplit(":", 1)[1]))) != 0:
            return False
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=1.0
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    start_s: float

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def admin_key(self) -> str:
        return (self.data_dir / "admin.key").read_text().strip()

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def start_server(data_dir: Path, durability: str = "auto") -> Server:
    """Spawns the server and returns once it answers a health check with SERVING; start_s
    is the time from spawn to that answer."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = data_dir.parent / f"{data_dir.name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLPLANE_")}
    t0 = time.perf_counter()
    proc = spawn(server_command(port, data_dir, durability), log_path, env)
    server = Server(proc, port, data_dir, log_path, 0.0)
    deadline = t0 + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            tail = server.log_tail()
            terminate(proc)
            raise RuntimeError(f"the server exited with {proc.returncode} while starting:\n{tail}")
        if health_serving(server.address):
            server.start_s = time.perf_counter() - t0
            return server
        time.sleep(POLL_S)
    terminate(proc)
    raise RuntimeError(f"the server did not answer SERVING within {START_TIMEOUT_S:.0f} s")


@contextlib.contextmanager
def running_server(data_dir: Path, durability: str = "auto") -> Iterator[Server]:
    server = start_server(data_dir, durability)
    try:
        yield server
    except BaseException:
        code = server.proc.poll()
        if code is not None:
            print(
                f"the server (pid {server.proc.pid}) exited with {code} during the benchmark"
                " (a negative code is the signal that ended it)",
                file=sys.stderr,
            )
        print("---- server log (tail) ----\n" + server.log_tail(), file=sys.stderr)
        raise
    finally:
        terminate(server.proc)


class Api:
    """Sync gRPC stubs with the admin's credentials. The ingest calls take pre-serialized
    request bytes (no client-side serialization while timing)."""

    def __init__(self, address: str, key: str) -> None:
        self.channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.md = (("authorization", f"Bearer {key}"),)
        self.tenants = tenant_grpc.TenantServiceStub(self.channel)
        self.experiments = exp_grpc.ExperimentServiceStub(self.channel)
        self.raw_log_batch = self.channel.unary_unary(
            f"{EXP_SERVICE}/LogMetricBatch",
            request_serializer=None,  # bytes go out as they are
            response_deserializer=exp_pb.LogMetricBatchResponse.FromString,
        )
        self.raw_log_stream = self.channel.stream_unary(
            f"{EXP_SERVICE}/LogMetrics",
            request_serializer=None,
            response_deserializer=exp_pb.LogMetricsResponse.FromString,
        )

    def close(self) -> None:
        self.channel.close()

    def create_experiment(self, experiment_id: str) -> str:
        exp = self.experiments.CreateExperiment(
            exp_pb.CreateExperimentRequest(
                parent=f"tenants/{TENANT}",
                experiment_id=experiment_id,
                experiment=exp_pb.Experiment(display_name=experiment_id),
            ),
            metadata=self.md,
            timeout=RPC_TIMEOUT_S,
        )
        return str(exp.name)

    def create_run(self, experiment: str, run_id: str) -> str:
        run = self.experiments.CreateRun(
            exp_pb.CreateRunRequest(parent=experiment, run_id=run_id),
            metadata=self.md,
            timeout=RPC_TIMEOUT_S,
        )
        return str(run.name)

    def finish_run(self, run: str) -> None:
        self.experiments.UpdateRun(
            exp_pb.UpdateRunRequest(
                run=exp_pb.Run(name=run, state=exp_pb.RUN_STATE_FINISHED),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            ),
            metadata=self.md,
            timeout=RPC_TIMEOUT_S,
        )


# ------------------------------------------------------------------------ populating runs


async def _populate(db_path: Path, n_runs: int, chunk: int, seed: int) -> dict[str, Any]:
    """Writes ``n_runs`` finished runs into the search experiment through the store layer:
    each has the param ``lr`` (one of four values), the latest metric ``loss`` (uniform in
    [0, 1)) and that point's metric chunk, i.e. the rows CreateRun + LogMetricBatch write."""
    from sqlalchemy import func, insert, select

    from controlplane.domain.metrics import encode
    from controlplane.names import EXPERIMENT, new_id
    from controlplane.store.audit import CallInfo, call_info
    from controlplane.store.db import Database
    from controlplane.store.models import Experiment, LatestMetric, MetricChunk, Run, RunParam
    from controlplane.store.tenancy import platform_scope, tenant_scope

    rng = random.Random(seed)
    db = Database(f"sqlite:///{db_path}")
    token = call_info.set(CallInfo("benchmarks/tracking.py", "BenchmarkPopulate", new_id()))
    try:
        with tenant_scope(TENANT):
            async with db.read() as session:
                experiment = await session.scalar(
                    select(Experiment).where(Experiment.experiment_id == SEARCH_EXPERIMENT)
                )
            if experiment is None:
                raise RuntimeError(f"experiment {SEARCH_EXPERIMENT!r} not found in {db_path}")
            with platform_scope():
                async with db.read() as session:
                    next_pk = int(await session.scalar(select(func.max(Run.pk))) or 0) + 1
            base_us = time.time_ns() // 1000 - n_runs * 1000
            t0 = time.perf_counter()
            for start in range(0, n_runs, chunk):
                runs, params, latest, chunks = [], [], [], []
                for i in range(start, min(start + chunk, n_runs)):
                    pk = next_pk + i
                    created = base_us + i * 1000  # one run per ms, in order
                    loss = rng.random()
                    lr = LR_VALUES[rng.randrange(len(LR_VALUES))]
                    runs.append(
                        {
                            "pk": pk,
                            "tenant_id": TENANT,
                            "experiment_pk": experiment.pk,
                            "experiment_id": SEARCH_EXPERIMENT,
                            "run_id": new_id(),
                            "display_name": f"run-{i}",
                            "state": exp_pb.RUN_STATE_FINISHED,
                            "version": 1,
                            "create_time": created,
                            "update_time": created + 500,
                            "start_time": created,
                            "end_time": created + 500,
                        }
                    )
                    params.append({"tenant_id": TENANT, "run_pk": pk, "key": "lr", "value": lr})
                    latest.append(
                        {
                            "tenant_id": TENANT,
                            "run_pk": pk,
                            "key": "loss",
                            "value": loss,
                            "step": 0,
                            "timestamp_ms": created // 1000,
                        }
                    )
                    chunks.append(
                        {
                            "tenant_id": TENANT,
                            "run_pk": pk,
                            "key": "loss",
                            "point_count": 1,
                            "steps": encode(np.zeros(1, dtype=np.int64)),
                            "values": encode(np.array([loss], dtype=np.float64)),
                            "timestamps": encode(np.array([created // 1000], dtype=np.int64)),
                        }
                    )
                async with db.write() as unit:
                    for model, rows in (
                        (Run, runs),
                        (RunParam, params),
                        (LatestMetric, latest),
                        (MetricChunk, chunks),
                    ):
                        await unit.session.execute(insert(model), rows)
                    unit.audit(
                        EXPERIMENT.format(TENANT, SEARCH_EXPERIMENT),
                        action="benchmark_populate",
                        runs=len(runs),
                    )
            elapsed = time.perf_counter() - t0
            async with db.read() as session:
                count = await session.scalar(
                    select(func.count(Run.pk)).where(Run.experiment_pk == experiment.pk)
                )
    finally:
        call_info.reset(token)
        await db.dispose()
    return {"populate_s": elapsed, "runs_in_experiment": int(count or 0)}


def populate_runs(db_path: Path, n_runs: int, chunk: int) -> dict[str, Any]:
    return asyncio.run(_populate(db_path, n_runs, chunk, seed=42))


# ---------------------------------------------------------------------------- benchmarks


def _point_request(run: str, key: str, value: float, step: int, ts: int) -> bytes:
    return exp_pb.LogMetricBatchRequest(
        run=run,
        batch=common_pb2.MetricBatch(
            keys=[key], key_index=[0], values=[value], steps=[step], timestamps_ms=[ts]
        ),
    ).SerializeToString()


def bench_unary(api: Api, experiment: str, cfg: Config) -> dict[str, Any]:
    """LogMetricBatch with one point per call, sequential; then GetRun on the same run."""
    run = api.create_run(experiment, "unary")
    ts = now_ms()
    total = cfg.unary_warmup + cfg.unary_n
    requests = [_point_request(run, "unary", float(i), i, ts + i) for i in range(total)]
    for request in requests[: cfg.unary_warmup]:
        api.raw_log_batch(request, metadata=api.md, timeout=RPC_TIMEOUT_S)
    lat: list[float] = []
    for request in requests[cfg.unary_warmup :]:
        t0 = time.perf_counter()
        api.raw_log_batch(request, metadata=api.md, timeout=RPC_TIMEOUT_S)
        lat.append((time.perf_counter() - t0) * 1000.0)

    get = exp_pb.GetRunRequest(name=run)
    get_lat, reply = timed_ms(
        lambda: api.experiments.GetRun(get, metadata=api.md, timeout=RPC_TIMEOUT_S),
        cfg.get_run_n,
        warmup=max(1, cfg.get_run_n // 10),
    )
    latest = {m.key: m for m in reply.latest_metrics}
    if "unary" not in latest or latest["unary"].step != total - 1:
        raise RuntimeError(f"GetRun shows {latest} after {total} unary points")
    api.finish_run(run)
    return {
        "unary_n": cfg.unary_n,
        "unary_warmup": cfg.unary_warmup,
        "unary_p50_ms": percentile(lat, 50),
        "unary_p99_ms": percentile(lat, 99),
        "unary_mean_ms": statistics.fmean(lat),
        "unary_max_ms": max(lat),
        "get_run_n": cfg.get_run_n,
        "get_run_p50_ms": percentile(get_lat, 50),
        "get_run_p99_ms": percentile(get_lat, 99),
    }


def _ingest_batches(run: str, cfg: Config, stream: bool, rng: np.random.Generator) -> list[bytes]:
    """Serialized requests of ``cfg.ingest_batch`` points each, 10 keys, steps continuing
    from batch to batch, like a training loop that logs 10 metrics per step."""
    keys = [f"m{k}" for k in range(INGEST_KEYS)]
    message = exp_pb.LogMetricsRequest if stream else exp_pb.LogMetricBatchRequest
    ts0 = now_ms()
    out: list[bytes] = []
    for first in range(0, cfg.ingest_total, cfg.ingest_batch):
        idx = np.arange(first, min(first + cfg.ingest_batch, cfg.ingest_total), dtype=np.int64)
        steps = idx // INGEST_KEYS
        batch = common_pb2.MetricBatch(keys=keys)
        batch.key_index.extend((idx % INGEST_KEYS).tolist())
        batch.values.extend(rng.random(len(idx)).tolist())
        batch.steps.extend(steps.tolist())
        batch.timestamps_ms.extend((ts0 + steps).tolist())
        out.append(message(run=run, batch=batch).SerializeToString())
    return out


def bench_ingest(api: Api, experiment: str, cfg: Config, server_pid: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    results: dict[str, Any] = {
        "ingest_batch_points": cfg.ingest_batch,
        "ingest_total_points": cfg.ingest_total,
        "ingest_keys": INGEST_KEYS,
    }

    run = api.create_run(experiment, "ingest-batch")
    requests = _ingest_batches(run, cfg, stream=False, rng=rng)
    results["ingest_request_mb"] = len(requests[0]) / 1e6
    written = 0
    per_call: list[float] = []
    cpu0 = cpu_s(server_pid)
    t0 = time.perf_counter()
    for request in requests:
        t1 = time.perf_counter()
        written += api.raw_log_batch(request, metadata=api.md, timeout=RPC_TIMEOUT_S).point_count
        per_call.append((time.perf_counter() - t1) * 1000.0)
    elapsed = time.perf_counter() - t0
    results["ingest_batch_server_cpu_s"] = cpu_s(server_pid) - cpu0
    if written != cfg.ingest_total:
        raise RuntimeError(f"LogMetricBatch wrote {written} of {cfg.ingest_total} points")
    results["ingest_batch_s"] = elapsed
    results["ingest_batch_metrics_per_s"] = cfg.ingest_total / elapsed
    results["ingest_batch_call_p50_ms"] = percentile(per_call, 50)
    api.finish_run(run)
    del requests

    run = api.create_run(experiment, "ingest-stream")
    requests = _ingest_batches(run, cfg, stream=True, rng=rng)
    cpu0 = cpu_s(server_pid)
    t0 = time.perf_counter()
    reply = api.raw_log_stream(iter(requests), metadata=api.md, timeout=RPC_TIMEOUT_S * 10)
    elapsed = time.perf_counter() - t0
    results["ingest_stream_server_cpu_s"] = cpu_s(server_pid) - cpu0
    if reply.point_count != cfg.ingest_total or reply.batch_count != len(requests):
        raise RuntimeError(f"LogMetrics wrote {reply.point_count} points in {reply.batch_count}")
    results["ingest_stream_s"] = elapsed
    results["ingest_stream_metrics_per_s"] = cfg.ingest_total / elapsed
    api.finish_run(run)
    return results


def bench_search(api: Api, cfg: Config) -> dict[str, Any]:
    parent = f"tenants/{TENANT}/experiments/{SEARCH_EXPERIMENT}"
    results: dict[str, Any] = {"search_runs": cfg.runs, "search_repeats": cfg.search_repeats}
    for name, (filter_text, order_by) in QUERIES.items():
        request = exp_pb.SearchRunsRequest(
            parent=parent, filter=filter_text, order_by=order_by, page_size=SEARCH_PAGE_SIZE
        )
        lat, reply = timed_ms(
            lambda r=request: api.experiments.SearchRuns(r, metadata=api.md, timeout=RPC_TIMEOUT_S),
            cfg.search_repeats,
            warmup=SEARCH_WARMUP,
        )
        losses = [
            next(m.value for m in run.latest_metrics if m.key == "loss") for run in reply.runs
        ]
        if name == "filtered":
            ok = all(v < 0.5 for v in losses) and all(r.params["lr"] == "0.01" for r in reply.runs)
            if not ok or losses != sorted(losses, reverse=True):
                raise RuntimeError("SearchRuns returned runs that do not match the query")
        results[f"search_{name}_p50_ms"] = percentile(lat, 50)
        results[f"search_{name}_p99_ms"] = percentile(lat, 99)
        results[f"search_{name}_returned"] = len(reply.runs)
    return results


def bench_history(api: Api, experiment: str, cfg: Config) -> dict[str, Any]:
    """A training loop logs one metric in batches of 1000 points; then its whole history is
    read back with GetMetricHistory."""
    run = api.create_run(experiment, "history")
    ts = now_ms()
    for first in range(0, cfg.history_points, HISTORY_BATCH):
        steps = list(range(first, min(first + HISTORY_BATCH, cfg.history_points)))
        api.experiments.LogMetricBatch(
            exp_pb.LogMetricBatchRequest(
                run=run,
                batch=common_pb2.MetricBatch(
                    keys=["hist"],
                    key_index=[0] * len(steps),
                    values=[1.0 / (1 + s) for s in steps],
                    steps=steps,
                    timestamps_ms=[ts + s for s in steps],
                ),
            ),
            metadata=api.md,
            timeout=RPC_TIMEOUT_S,
        )
    api.finish_run(run)
    request = exp_pb.GetMetricHistoryRequest(run=run, metric_key="hist")
    lat, reply = timed_ms(
        lambda: api.experiments.GetMetricHistory(request, metadata=api.md, timeout=RPC_TIMEOUT_S),
        cfg.history_repeats,
        warmup=HISTORY_WARMUP,
    )
    if len(reply.steps) != cfg.history_points or reply.next_page_token:
        raise RuntimeError(f"GetMetricHistory returned {len(reply.steps)} points")
    return {
        "history_points": len(reply.steps),
        "history_repeats": cfg.history_repeats,
        "history_p50_ms": percentile(lat, 50),
        "history_p99_ms": percentile(lat, 99),
    }


def bench_start(tmp: Path, trials: int, durability: str) -> tuple[dict[str, Any], Path]:
    """Starts the server ``trials`` times, each on a fresh data dir, and times spawn ->
    SERVING. The first start also gives the idle RSS of a server on an empty store. The last
    data dir is kept, with the tenant and the search experiment created through the API, to
    be populated and served for the measurements."""
    times: list[float] = []
    fresh_rss = 0.0
    data_dir = tmp
    for trial in range(trials):
        data_dir = tmp / f"start-{trial}"
        with running_server(data_dir, durability) as server:
            times.append(server.start_s)
            if trial == 0:
                time.sleep(IDLE_S)
                fresh_rss = rss_mb(server.proc.pid)
            if trial == trials - 1:
                api = Api(server.address, server.admin_key())
                try:
                    api.tenants.CreateTenant(
                        tenant_pb.CreateTenantRequest(
                            tenant_id=TENANT, tenant=tenant_pb.Tenant(display_name="Benchmark")
                        ),
                        metadata=api.md,
                        timeout=RPC_TIMEOUT_S,
                    )
                    api.create_experiment(SEARCH_EXPERIMENT)
                finally:
                    api.close()
    return {
        "start_trials": times,
        "start_s": statistics.median(times),
        "fresh_idle_rss_mb": fresh_rss,
    }, data_dir


def run_controlplane(cfg: Config, tmp: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    log(f"start time: {cfg.start_trials} starts on fresh data dirs")
    start, data_dir = bench_start(tmp, cfg.start_trials, cfg.durability)
    results.update(start)
    trials = ", ".join(f"{t:.3f}" for t in start["start_trials"])
    log(f"  median {start['start_s']:.3f} s ({trials})")

    log(f"populating {cfg.runs:,} runs through the store layer (server stopped)")
    populated = populate_runs(data_dir / "controlplane.db", cfg.runs, cfg.populate_chunk)
    if populated["runs_in_experiment"] != cfg.runs:
        raise RuntimeError(f"populated {populated['runs_in_experiment']} runs, not {cfg.runs}")
    results.update(populated)
    log(f"  {populated['populate_s']:.1f} s")

    with running_server(data_dir, cfg.durability) as server:
        pid = server.proc.pid
        results["measured_server_start_s"] = server.start_s
        log(f"measurement server pid {pid} on {server.address} (started in {server.start_s:.2f} s)")
        time.sleep(IDLE_S)
        results["idle_rss_mb"] = rss_mb(pid)
        api = Api(server.address, server.admin_key())
        try:
            log(f"unary: {cfg.unary_n} x LogMetricBatch(1 point) after {cfg.unary_warmup} warmup")
            results.update(bench_unary(api, api.create_experiment("unary"), cfg))
            log(f"  p50 {results['unary_p50_ms']:.3f} ms, p99 {results['unary_p99_ms']:.3f} ms")
            log(f"ingest: {cfg.ingest_total:,} points in batches of {cfg.ingest_batch:,}")
            results.update(bench_ingest(api, api.create_experiment("ingest"), cfg, pid))
            log(
                f"  batch {results['ingest_batch_metrics_per_s']:,.0f}/s,"
                f" stream {results['ingest_stream_metrics_per_s']:,.0f}/s"
            )
            log(f"search: {len(QUERIES)} queries x {cfg.search_repeats} over {cfg.runs:,} runs")
            results.update(bench_search(api, cfg))
            log("  " + ", ".join(f"{q} {results[f'search_{q}_p50_ms']:.1f} ms" for q in QUERIES))
            log(f"history: {cfg.history_points:,} points, {cfg.history_repeats} reads")
            results.update(bench_history(api, api.create_experiment("history"), cfg))
            log(f"  p50 {results['history_p50_ms']:.2f} ms")
        finally:
            api.close()
        results["rss_after_load_mb"] = rss_mb(pid)
        results["server_cpu_s_total"] = cpu_s(pid)
    return results


# --------------------------------------------------------------------------- MLflow side


def run_mlflow(cfg: Config, tmp: Path) -> dict[str, Any]:
    out = tmp / "mlflow.json"
    cmd = [str(MLFLOW_PYTHON), str(MLFLOW_SIDE), "--json", str(out)]
    cmd += ["--quick"] if cfg.quick else ["--search-runs", "2000"]
    log("MLflow: " + " ".join(cmd[1:]))
    log_path = tmp / "mlflow-side.log"
    proc = spawn(cmd, log_path)
    try:
        proc.wait(timeout=MLFLOW_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"mlflow_side.py ran past {MLFLOW_TIMEOUT_S:.0f} s") from None
    finally:
        terminate(proc)
    text = log_path.read_text(errors="replace")
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"mlflow_side.py failed ({proc.returncode}):\n{text[-4000:]}")
    for line in text.splitlines():
        if line.startswith(("MLflow", "  ")):
            log("  " + line)
    return dict(json.loads(out.read_text()))


# ------------------------------------------------------------------------------- report


@dataclass
class Row:
    key: str
    label: str
    unit: str
    controlplane: float | None
    mlflow: float | None
    lower_is_better: bool = True
    target: str = "-"
    met: bool | None = None
    reference: str = "-"
    note: str = ""


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "metrics/s":
        return f"{value:,.0f} metrics/s"
    if unit == "ms":
        return f"{value:.3g} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    return f"{value:g} {unit}"


def ratio_text(row: Row) -> str:
    if row.controlplane is None or row.mlflow is None or not row.controlplane or not row.mlflow:
        return "-"
    better = row.mlflow / row.controlplane if row.lower_is_better else row.controlplane / row.mlflow
    text = f"{better:,.0f}x better" if better >= 10 else f"{better:.1f}x better"
    if better < 1:
        text = f"{1 / better:.1f}x worse"
    return text + (f" ({row.note})" if row.note else "")


def build_rows(cp: dict[str, Any], ml: dict[str, Any] | None, cfg: Config) -> list[Row]:
    ml = ml or {}
    runs = f"{cfg.runs // 1000}k" if cfg.runs >= 1000 else str(cfg.runs)
    ml_runs = ml.get("search_runs_count")
    ml_runs_text = f"{ml_runs:,}" if ml_runs else "?"

    def row(key: str, label: str, unit: str, ml_key: str | None, **kw: Any) -> Row:
        value = cp.get(key)
        target, check = TARGETS.get(key, ("-", None))
        return Row(
            key=key,
            label=label,
            unit=unit,
            controlplane=value,
            mlflow=ml.get(ml_key) if ml_key else None,
            target=target,
            # A target stated at 100k runs is not judged on a smaller (--quick) store.
            met=check(value)
            if check is not None
            and value is not None
            and not (key.startswith("search") and cfg.runs < 100_000)
            else None,
            reference=MLFLOW_REFERENCE.get(key, "-"),
            **kw,
        )

    return [
        row(
            "unary_p50_ms",
            "Log 1 metric point, p50 (LogMetricBatch vs log_metric)",
            "ms",
            "unary_p50_ms",
        ),
        row("unary_p99_ms", "Log 1 metric point, p99", "ms", "unary_p99_ms"),
        row("get_run_p50_ms", "GetRun p50 (information)", "ms", None),
        row(
            "ingest_batch_metrics_per_s",
            f"Ingest, batch ({cfg.ingest_batch:,} points/call vs log_batch of 1,000)",
            "metrics/s",
            "ingest_batch_metrics_per_s",
            lower_is_better=False,
        ),
        row(
            "ingest_stream_metrics_per_s",
            "Ingest, client stream (LogMetrics)",
            "metrics/s",
            None,
            lower_is_better=False,
        ),
        row(
            "search_filtered_p50_ms",
            f"SearchRuns p50, loss<0.5 AND lr=0.01, by loss desc ({runs} runs"
            + (f" vs MLflow {ml_runs_text})" if ml_runs else ")"),
            "ms",
            "search_runs_p50_ms",
            note=f"{runs} vs {ml_runs_text} runs" if ml_runs else "",
        ),
        row(
            "search_order_only_p50_ms",
            f"SearchRuns p50, no filter, by loss desc ({runs} runs)",
            "ms",
            None,
        ),
        row(
            "search_param_only_p50_ms",
            f"SearchRuns p50, lr=0.01, default order ({runs} runs)",
            "ms",
            None,
        ),
        row(
            "history_p50_ms",
            f"GetMetricHistory p50, {cp.get('history_points', 0):,} points",
            "ms",
            "history_10k_p50_ms",
        ),
        row("start_s", f"Start to SERVING (median of {cfg.start_trials})", "s", "start_s"),
        row("idle_rss_mb", "Idle RSS (start + 2 s)", "MB", "idle_rss_mb"),
        row("rss_after_load_mb", "RSS after the benchmark load", "MB", "rss_after_load_mb"),
    ]


def markdown(
    rows: list[Row], cp: dict[str, Any], ml: dict[str, Any] | None, meta: dict[str, Any]
) -> str:
    ml_head = f"MLflow {ml['mlflow_version']} (this run)" if ml else "MLflow 3.17 (not run)"
    lines = [
        "# Tracking benchmark: controlplane vs MLflow",
        "",
        f"{meta['when']} - {meta['machine']} - {meta['mode']} run, "
        f"durability {meta.get('durability', 'auto')}",
        "",
        f"| metric | controlplane | {ml_head} | target | MLflow reference (issue) | ratio |",
        "|---|---:|---:|---|---|---|",
    ]
    for r in rows:
        target = r.target
        if r.met is not None:
            target += " (met)" if r.met else " (**missed**)"
        lines.append(
            f"| {r.label} | {fmt(r.controlplane, r.unit)} | {fmt(r.mlflow, r.unit)} | {target}"
            f" | {r.reference} | {ratio_text(r)} |"
        )
    lines += ["", "Notes:", ""]
    lines += [f"- {note}" for note in notes(cp, ml, meta)]
    return "\n".join(lines) + "\n"


def notes(cp: dict[str, Any], ml: dict[str, Any] | None, meta: dict[str, Any]) -> list[str]:
    out = [
        "ratio: how many times better controlplane is than the MLflow server measured in this "
        "run (latency and memory: MLflow / controlplane; throughput: controlplane / MLflow).",
        f"controlplane: `mlctl server --durability {meta.get('durability', 'auto')}` on "
        f"127.0.0.1, SQLite (WAL) in a fresh temp dir; sync "
        f"grpcio client, one channel, requests serialized before timing. Unary: "
        f"{cp['unary_n']} sequential calls after {cp['unary_warmup']} warmup. Ingest: "
        f"{cp['ingest_total_points']:,} points, {cp['ingest_keys']} keys, "
        f"{cp['ingest_batch_points']:,} points ({cp['ingest_request_mb']:.1f} MB) per message; "
        f"per-call p50 {cp['ingest_batch_call_p50_ms']:.0f} ms; server CPU "
        f"{cp['ingest_batch_server_cpu_s']:.1f} s (batch) / {cp['ingest_stream_server_cpu_s']:.1f}"
        f" s (stream) of {cp['ingest_batch_s']:.1f} / {cp['ingest_stream_s']:.1f} s wall. "
        f"GetRun: {cp['get_run_n']} calls on the unary run (one metric, no params), in the "
        f"tenant that also holds the {cp['search_runs']:,} search runs.",
        f"SearchRuns: {cp['search_runs']:,} finished runs in one experiment, each with param "
        f"lr in {{{', '.join(LR_VALUES)}}} and metric loss ~ U[0,1), written straight into the "
        f"SQLite file through controlplane.store (ORM models in tenant_scope; tenant and "
        f"experiment created via the API) in {cp['populate_s']:.1f} s before the measurement "
        f"server started, because 100k runs through CreateRun+LogMetricBatch RPCs would be too "
        f"slow. page_size {SEARCH_PAGE_SIZE}, {cp['search_repeats']} timed calls after "
        f"{SEARCH_WARMUP} warmup; p99 filtered {cp['search_filtered_p99_ms']:.1f} ms, no filter "
        f"{cp['search_order_only_p99_ms']:.1f} ms, lr only "
        f"{cp['search_param_only_p99_ms']:.1f} ms.",
        f"History: {cp['history_points']:,} points of one metric logged in batches of "
        f"{HISTORY_BATCH}, read whole {cp['history_repeats']} times (p99 "
        f"{cp['history_p99_ms']:.2f} ms).",
        f"Start: spawn of `mlctl server` (Python start, imports, schema creation on the empty "
        f"SQLite file, admin bootstrap) until grpc.health.v1 Check answers SERVING; trials "
        f"{', '.join(f'{t:.2f}' for t in cp['start_trials'])} s. The measurement server (store "
        f"with {cp['search_runs']:,} runs) started in {cp['measured_server_start_s']:.2f} s.",
        f"RSS: VmRSS of the server process from /proc; idle after start + {IDLE_S:.0f} s on the "
        f"populated store ({cp['fresh_idle_rss_mb']:.0f} MB on an empty store).",
    ]
    if ml:
        jobs = "on" if ml.get("job_runner") else "off"
        projected_min = ml["search_runs_populate_s"] * 100_000 / ml["search_runs_count"] / 60
        out.append(
            f"MLflow {ml['mlflow_version']}: `mlflow server` with SQLite, --workers 1, job runner "
            f"{jobs} ({ml['server_processes']} processes; idle RSS {ml['idle_rss_mb']:.0f} MB = "
            f"HTTP {ml['idle_rss_http_mb']:.0f} + job runner {ml['idle_rss_job_runner_mb']:.0f} "
            f"MB), driven by MlflowClient from benchmarks/mlflow_side.py: unary n="
            f"{ml['unary_n']} log_metric calls; ingest {ml['ingest_total_metrics']:,} metrics "
            f"via log_batch (1,000 per call, MLflow's maximum); search_runs over "
            f"{ml['search_runs_count']:,} runs (populated through the API in "
            f"{ml['search_runs_populate_s']:.0f} s; creating 100k MLflow runs that way would "
            f"take about {projected_min:.0f} min, so MLflow is measured "
            f"at 2k runs, as in the issue's reference); metric history of "
            f"{ml['history_points']:,} points. MLflow has no streaming ingest."
        )
    else:
        out.append("MLflow was not run (--skip-mlflow); its column is n/a.")
    out.append(
        f"Machine: {meta['machine']}; shared and noisy, so figures are medians (p50). "
        f"Python {meta['python']}, grpcio {meta['grpcio']}, SQLite {meta['sqlite']}."
    )
    return out


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({model}), {mem_gb:.0f} GiB RAM, {platform.system()}"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> Config:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of ~1 minute")
    p.add_argument("--skip-mlflow", action="store_true", help="measure the control plane only")
    p.add_argument(
        "--runs", type=int, default=None, help="runs to search (default 100000; 2000 with --quick)"
    )
    p.add_argument(
        "--durability",
        choices=("auto", "full", "normal"),
        default="auto",
        help="the server's --durability; full syncs every commit to disk, as MLflow's SQLite "
        "store does (default auto: normal on SQLite)",
    )
    a = p.parse_args(argv)
    runs = a.runs if a.runs is not None else (2000 if a.quick else 100_000)
    if not 1 <= runs <= 10_000_000:
        p.error("--runs must be between 1 and 10,000,000")
    if not a.skip_mlflow and not MLFLOW_PYTHON.exists():
        p.error(
            f"{MLFLOW_PYTHON} is missing: run `bash benchmarks/setup_mlflow.sh` "
            "(or pass --skip-mlflow)"
        )
    if a.quick:
        return Config(
            quick=True,
            skip_mlflow=a.skip_mlflow,
            runs=runs,
            unary_warmup=20,
            unary_n=200,
            get_run_n=100,
            ingest_batch=20_000,
            ingest_total=200_000,
            search_repeats=30,
            history_points=10_000,
            history_repeats=30,
            start_trials=2,
            durability=a.durability,
        )
    return Config(
        quick=False,
        skip_mlflow=a.skip_mlflow,
        runs=runs,
        unary_warmup=200,
        unary_n=2000,
        get_run_n=500,
        ingest_batch=100_000,
        ingest_total=5_000_000,
        search_repeats=30,
        history_points=10_000,
        history_repeats=30,
        start_trials=5,
        durability=a.durability,
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
        "durability": cfg.durability,
        "config": asdict(cfg),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="cp-tracking-bench-") as tmp_name:
            tmp = Path(tmp_name)
            cp = run_controlplane(cfg, tmp / "controlplane")
            ml = None if cfg.skip_mlflow else run_mlflow(cfg, tmp)
    finally:
        _terminate_all()
    rows = build_rows(cp, ml, cfg)
    report = markdown(rows, cp, ml, meta)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "tracking.md").write_text(report)
    document = {
        "meta": meta,
        "controlplane": cp,
        "mlflow": ml,
        "rows": [{**asdict(r), "ratio": ratio_text(r)} for r in rows],
    }
    (RESULTS_DIR / "tracking.json").write_text(json.dumps(document, indent=2) + "\n")
    print(report)
    log(f"wrote {RESULTS_DIR / 'tracking.md'} and {RESULTS_DIR / 'tracking.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
