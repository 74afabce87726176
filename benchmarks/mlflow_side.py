"""MLflow side of the control-plane vs. MLflow benchmark.

Run with the benchmark-only venv (see benchmarks/setup_mlflow.sh)::

    benchmarks/.mlflow-venv/bin/python benchmarks/mlflow_side.py --json OUT.json \
        [--search-runs N] [--history-points N] [--quick] [--no-job-runner]

It starts a real ``mlflow server`` (SQLite backend, one worker) on 127.0.0.1,
measures start time and idle RSS, then drives it through ``MlflowClient``:
unary ``log_metric`` latency, ``log_batch`` ingest throughput, ``search_runs``
latency over N runs and ``get_metric_history`` latency for a long metric.
The server and all its children are always terminated at the end.

By default the server is MLflow's stock one, which in 3.x also spawns a
background job runner (several huey consumer processes); idle RSS is reported
in total and split into the HTTP side and that job runner. ``--no-job-runner``
starts the server with MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false instead.

Only loopback addresses are used and every loop is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import HOST, cpu_s, free_port, now_ms, percentile, process_tree, rss_kb

START_TIMEOUT_S = 180.0
IDLE_WINDOW_S = 2.0  # "idle" = the whole tree used < IDLE_CPU_FRACTION of a core for this long
IDLE_CPU_FRACTION = 0.05
SETTLE_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
MAX_BATCH = 1000  # MLflow's max metrics per log_batch call
LR_VALUES = ("0.1", "0.01", "0.001", "0.0001")
SEARCH_FILTER = "metrics.loss < 0.5 and params.lr = '0.01'"
SEARCH_REPEATS = 20
HISTORY_REPEATS = 10

# Keep both the server and the client from trying to reach anything outside.
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


@dataclass(frozen=True)
class Config:
    unary_n: int
    ingest_total: int
    search_runs: int
    history_points: int
    job_runner: bool


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def tree_rss_mb(root: int) -> tuple[float, int]:
    pids = process_tree(root)
    return sum(rss_kb(p) for p in pids) / 1024.0, len(pids)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_breakdown_mb(root: int) -> dict[str, float]:
    """Split the tree's RSS into the HTTP side and MLflow's background job runner."""
    jobs = [p for p in process_tree(root) if "mlflow.server.jobs" in cmdline(p)]
    jobs_pids = {q for j in jobs for q in process_tree(j)}
    total, _ = tree_rss_mb(root)
    jobs_mb = sum(rss_kb(p) for p in jobs_pids) / 1024.0
    return {"idle_rss_http_mb": total - jobs_mb, "idle_rss_job_runner_mb": jobs_mb}


def tree_cpu_s(root: int) -> float:
    return sum(cpu_s(pid) for pid in process_tree(root))


def wait_idle(root: int) -> float:
    """Wait until the process tree is idle for IDLE_WINDOW_S; return seconds waited."""
    t0 = time.perf_counter()
    while True:
        cpu0 = tree_cpu_s(root)
        time.sleep(IDLE_WINDOW_S)
        busy = (tree_cpu_s(root) - cpu0) / IDLE_WINDOW_S
        waited = time.perf_counter() - t0
        if busy < IDLE_CPU_FRACTION or waited >= SETTLE_TIMEOUT_S:
            return waited


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def start_server(workdir: Path, job_runner: bool) -> tuple[Server, float]:
    port = free_port()
    log_path = workdir / "server.log"
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    cmd = [
        str(mlflow_bin),
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--default-artifact-root",
        str(workdir / "art"),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, **QUIET_ENV}
    if not job_runner:
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    with log_path.open("wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(  # fixed argv, no shell
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # own process group, killed as a whole
        )
    server = Server(proc=proc, port=port, log_path=log_path)
    deadline = t0 + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode} during startup")
        if http_ok(f"{server.url}/health"):
            return server, time.perf_counter() - t0
        time.sleep(0.05)
    raise RuntimeError(f"mlflow server did not answer /health within {START_TIMEOUT_S:.0f}s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left (group and strays)."""
    tree = process_tree(proc.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    # Children that left the group (setsid) are still killed by pid.
    for pid in tree:
        if pid != proc.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def mlflow_server(workdir: Path, job_runner: bool) -> Iterator[tuple[Server, float]]:
    server: Server | None = None
    try:
        server, start_s = start_server(workdir, job_runner)
        yield server, start_s
    except BaseException:
        log = workdir / "server.log"
        if log.exists():
            tail = log.read_text(errors="replace").splitlines()[-30:]
            print("---- mlflow server log (tail) ----", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
        raise
    finally:
        if server is not None:
            stop_server(server.proc)


# ---------------------------------------------------------------- benchmarks


def bench_unary(client: Any, exp_id: str, n: int) -> dict[str, float]:
    run_id = client.create_run(exp_id, run_name="unary").info.run_id
    lat_ms: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        client.log_metric(run_id, "unary", float(i), timestamp=now_ms(), step=i)
        lat_ms.append((time.perf_counter() - t0) * 1000.0)
    client.set_terminated(run_id)
    return {
        "unary_p50_ms": percentile(lat_ms, 50),
        "unary_p99_ms": percentile(lat_ms, 99),
        "unary_first_ms": lat_ms[0],
        "unary_max_ms": max(lat_ms),
    }


def bench_ingest(client: Any, exp_id: str, total: int) -> float:
    from mlflow.entities import Metric

    run_id = client.create_run(exp_id, run_name="ingest").info.run_id
    ts = now_ms()
    # Pre-build batches so only the RPCs are timed: 10 keys, step = i // 10.
    batches = [
        [
            Metric(f"m{i % 10}", float(i), ts, i // 10)
            for i in range(start, min(start + MAX_BATCH, total))
        ]
        for start in range(0, total, MAX_BATCH)
    ]
    t0 = time.perf_counter()
    for batch in batches:
        client.log_batch(run_id, metrics=batch, synchronous=True)
    elapsed = time.perf_counter() - t0
    client.set_terminated(run_id)
    return total / elapsed


def bench_search(client: Any, exp_id: str, n_runs: int, rng: random.Random) -> dict[str, Any]:
    from mlflow.entities import Metric, Param

    ts = now_ms()
    t0 = time.perf_counter()
    for i in range(n_runs):
        run_id = client.create_run(exp_id, start_time=ts, run_name=f"r{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("loss", rng.random(), ts, 0)],
            params=[Param("lr", LR_VALUES[i % len(LR_VALUES)])],
            synchronous=True,
        )
    populate_s = time.perf_counter() - t0

    lat_ms: list[float] = []
    matched = 0
    for _ in range(SEARCH_REPEATS):
        t1 = time.perf_counter()
        runs = client.search_runs(
            [exp_id],
            filter_string=SEARCH_FILTER,
            order_by=["metrics.loss DESC"],
            max_results=100,
        )
        lat_ms.append((time.perf_counter() - t1) * 1000.0)
        matched = len(runs)

    # Count what is really in the experiment (not just what we asked for).
    total = 0
    token: str | None = None
    for _ in range(n_runs // 1000 + 2):
        page = client.search_runs([exp_id], max_results=1000, page_token=token)
        total += len(page)
        token = page.token
        if not token:
            break
    return {
        "search_runs_p50_ms": percentile(lat_ms, 50),
        "search_runs_count": total,
        "search_runs_matched": matched,
        "search_runs_populate_s": populate_s,
    }


def bench_history(client: Any, exp_id: str, points: int) -> tuple[float, int]:
    from mlflow.entities import Metric

    run_id = client.create_run(exp_id, run_name="history").info.run_id
    ts = now_ms()
    for start in range(0, points, MAX_BATCH):
        batch = [
            Metric("hist", float(i), ts + i, i)
            for i in range(start, min(start + MAX_BATCH, points))
        ]
        client.log_batch(run_id, metrics=batch, synchronous=True)
    lat_ms: list[float] = []
    got = 0
    for _ in range(HISTORY_REPEATS):
        t0 = time.perf_counter()
        got = len(client.get_metric_history(run_id, "hist"))
        lat_ms.append((time.perf_counter() - t0) * 1000.0)
    client.set_terminated(run_id)
    return percentile(lat_ms, 50), got


def run_benchmark(cfg: Config) -> dict[str, Any]:
    os.environ.update(QUIET_ENV)
    import mlflow
    from mlflow import MlflowClient

    rng = random.Random(42)
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "art").mkdir()
        with mlflow_server(workdir, cfg.job_runner) as (server, start_s):
            settle_s = wait_idle(server.proc.pid)
            idle_rss_mb, n_procs = tree_rss_mb(server.proc.pid)
            breakdown = rss_breakdown_mb(server.proc.pid)

            client = MlflowClient(tracking_uri=server.url)
            unary = bench_unary(client, client.create_experiment("unary"), cfg.unary_n)
            ingest = bench_ingest(client, client.create_experiment("ingest"), cfg.ingest_total)
            search = bench_search(client, client.create_experiment("search"), cfg.search_runs, rng)
            hist_p50, hist_got = bench_history(
                client, client.create_experiment("history"), cfg.history_points
            )
            loaded_rss_mb, _ = tree_rss_mb(server.proc.pid)

    return {
        "mlflow_version": mlflow.__version__,
        "job_runner": cfg.job_runner,
        "start_s": start_s,
        "settle_s": settle_s,
        "idle_rss_mb": idle_rss_mb,
        **breakdown,
        "server_processes": n_procs,
        "unary_n": cfg.unary_n,
        **unary,
        "ingest_total_metrics": cfg.ingest_total,
        "ingest_batch_metrics_per_s": ingest,
        "ingest_stream_metrics_per_s": None,  # MLflow has no streaming ingest
        **search,
        "history_points": hist_got,
        "history_10k_p50_ms": hist_p50,
        "rss_after_load_mb": loaded_rss_mb,
    }


def summary(r: dict[str, Any]) -> str:
    procs = r["server_processes"]
    jobs = "on" if r["job_runner"] else "off"
    lines = [
        f"MLflow {r['mlflow_version']} (sqlite, --workers 1, job runner {jobs},"
        f" {procs} server processes)",
        f"  start:            {r['start_s']:.2f} s to /health (idle after +{r['settle_s']:.1f} s)",
        f"  idle RSS:         {r['idle_rss_mb']:.1f} MB"
        f" (HTTP {r['idle_rss_http_mb']:.1f} + job runner {r['idle_rss_job_runner_mb']:.1f};"
        f" after load: {r['rss_after_load_mb']:.1f} MB)",
        f"  unary log_metric: p50 {r['unary_p50_ms']:.2f} ms,"
        f" p99 {r['unary_p99_ms']:.2f} ms, first {r['unary_first_ms']:.2f} ms"
        f" (n={r['unary_n']})",
        f"  log_batch ingest: {r['ingest_batch_metrics_per_s']:,.0f} metrics/s"
        f" ({r['ingest_total_metrics']:,} metrics)",
        f"  search_runs:      p50 {r['search_runs_p50_ms']:.2f} ms"
        f" over {r['search_runs_count']} runs ({r['search_runs_matched']} returned,"
        f" populate {r['search_runs_populate_s']:.1f} s)",
        f"  metric history:   p50 {r['history_10k_p50_ms']:.2f} ms ({r['history_points']} points)",
        "  stream ingest:    n/a (MLflow has no streaming ingest)",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> tuple[Path, Config]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, required=True, help="where to write the results")
    p.add_argument(
        "--search-runs",
        type=int,
        default=None,
        help="runs to search (default 2000; 200 with --quick)",
    )
    p.add_argument(
        "--history-points",
        type=int,
        default=None,
        help="metric history length (default 10000; 2000 with --quick)",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    p.add_argument(
        "--no-job-runner",
        action="store_true",
        help="start the server with MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false"
        " (by default MLflow 3.x also spawns a job runner with several huey consumers)",
    )
    a = p.parse_args(argv)
    search_runs = a.search_runs if a.search_runs is not None else (200 if a.quick else 2000)
    history = a.history_points if a.history_points is not None else (2000 if a.quick else 10_000)
    if search_runs < 1 or history < 1:
        p.error("--search-runs and --history-points must be >= 1")
    cfg = Config(
        unary_n=100 if a.quick else 300,
        ingest_total=10_000 if a.quick else 50_000,
        search_runs=search_runs,
        history_points=history,
        job_runner=not a.no_job_runner,
    )
    return a.json, cfg


def _raise_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that stops the server


def main(argv: list[str] | None = None) -> int:
    out, cfg = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    results = run_benchmark(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(summary(results))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
