"""MLflow side of the registry benchmark (``registry.py``).

Run with the benchmark-only venv (see benchmarks/setup_mlflow.sh)::

    benchmarks/.mlflow-venv/bin/python benchmarks/mlflow_registry_side.py --json OUT.json \
        [--pairs N] [--threads N]

It starts a real ``mlflow server`` (SQLite backend, ``--workers 1``, MLflow's default job
runner) on 127.0.0.1 with ``mlflow_side.py``'s helpers, logs one artifact to a run, and then
times pairs of ``create_model_version`` (source: that artifact, run_id: that run) and
``set_registered_model_alias`` (``production`` to the new version) through ``MlflowClient``:
N pairs from one client after a warm-up, then N pairs from several threads, each with its own
client and model. The server and all its children are always terminated at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import percentile
from mlflow_side import QUIET_ENV, _raise_on_sigterm, mlflow_server

ALIAS = "production"
WARMUP = 10
THREAD_TIMEOUT_S = 900.0


def run_pairs(
    client: Any, model: str, source: str, run_id: str, n: int, **options: Any
) -> list[float]:
    """``n`` pairs in order; the latency of each in ms. ``options`` go to
    ``create_model_version`` (by default it polls until the version is READY)."""
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        version = client.create_model_version(model, source, run_id=run_id, **options)
        client.set_registered_model_alias(model, ALIAS, version.version)
        latencies.append((time.perf_counter() - t0) * 1000.0)
    return latencies


def run_benchmark(pairs: int, threads: int) -> dict[str, Any]:
    os.environ.update(QUIET_ENV)
    import mlflow
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory(prefix="mlflow-registry-bench-") as tmp_name:
        workdir = Path(tmp_name)
        with mlflow_server(workdir, True) as (server, start_s):
            client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
            experiment = client.create_experiment("registry")
            run = client.create_run(experiment, run_name="train")
            weights = workdir / "model.bin"
            weights.write_bytes(b"\x00" * 4096)
            client.log_artifact(run.info.run_id, str(weights), "model")
            source = f"{run.info.artifact_uri}/model"
            models = ["model-seq", "model-nowait", *[f"model-{i}" for i in range(threads)]]
            for model in models:
                client.create_registered_model(model)

            run_pairs(client, "model-seq", source, run.info.run_id, WARMUP)
            t0 = time.perf_counter()
            seq = run_pairs(client, "model-seq", source, run.info.run_id, pairs)
            seq_wall = time.perf_counter() - t0
            # The same without the client's wait for READY (await_creation_for=0).
            t0 = time.perf_counter()
            nowait = run_pairs(
                client, "model-nowait", source, run.info.run_id, pairs, await_creation_for=0
            )
            nowait_wall = time.perf_counter() - t0

            per_thread = max(1, pairs // threads)
            results: list[list[float]] = [[] for _ in range(threads)]
            errors: list[BaseException] = []
            start = threading.Barrier(threads + 1)

            def work(index: int) -> None:
                try:
                    own = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
                    model = f"model-{index}"
                    run_pairs(own, model, source, run.info.run_id, WARMUP)
                    start.wait(timeout=THREAD_TIMEOUT_S)
                    results[index] = run_pairs(own, model, source, run.info.run_id, per_thread)
                except BaseException as exc:  # reported below
                    errors.append(exc)
                    start.abort()

            workers = [
                threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)
            ]
            for worker in workers:
                worker.start()
            with contextlib.suppress(threading.BrokenBarrierError):  # a thread failed
                start.wait(timeout=THREAD_TIMEOUT_S)
            t0 = time.perf_counter()
            for worker in workers:
                worker.join(timeout=THREAD_TIMEOUT_S)
            threads_wall = time.perf_counter() - t0
            if errors:
                raise RuntimeError(f"a client thread failed: {errors[0]!r}") from errors[0]
            if any(worker.is_alive() for worker in workers):
                raise RuntimeError("a client thread did not finish")
            merged = [value for values in results for value in values]
    return {
        "mlflow_version": mlflow.__version__,
        "start_s": start_s,
        "warmup": WARMUP,
        "seq_pairs": pairs,
        "seq_pairs_per_s": pairs / seq_wall,
        "seq_p50_ms": statistics.median(seq),
        "seq_p99_ms": percentile(seq, 99),
        "nowait_pairs_per_s": pairs / nowait_wall,
        "nowait_p50_ms": statistics.median(nowait),
        "threads": threads,
        "threads_pairs": len(merged),
        "threads_pairs_per_s": len(merged) / threads_wall,
        "threads_p50_ms": statistics.median(merged),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--json", type=Path, required=True, help="where to write the results")
    p.add_argument("--pairs", type=int, default=200, help="timed pairs (default 200)")
    p.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    a = p.parse_args(argv)
    if not 1 <= a.pairs <= 100_000 or not 1 <= a.threads <= 64:
        p.error("--pairs must be 1..100000 and --threads 1..64")
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    results = run_benchmark(a.pairs, a.threads)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"MLflow {results['mlflow_version']} (sqlite, --workers 1): "
        f"{results['seq_pairs_per_s']:.1f} pairs/s from 1 client (p50 "
        f"{results['seq_p50_ms']:.1f} ms), {results['threads_pairs_per_s']:.1f} pairs/s from "
        f"{results['threads']} threads; without waiting for READY "
        f"{results['nowait_pairs_per_s']:.1f} pairs/s (p50 {results['nowait_p50_ms']:.1f} ms)"
    )
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
