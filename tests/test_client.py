"""Tests for controlplane.client: the synchronous client and its tracking API, against a real
server per backend. The client blocks, so each test runs it in a thread while the server
keeps serving on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

import controlplane
from controlplane.client import ActiveRun, ApiError, Client, FieldViolation
from controlplane.client.client import _is_server
from controlplane.client.tracking import metric_batches, run_state
from controlplane.server.app import RunningServer
from controlplane.v1 import experiment_service_pb2 as pb
from controlplane.v1 import tenant_service_pb2 as tenant_pb

POINTS = 25_000


def connect(server: RunningServer, world: Any, role: str = "editor") -> Client:
    """A client for one of the tenant's principals (conftest's ``world``)."""
    return Client(f"127.0.0.1:{server.port}", world[role].token, tenant=world.tenant_id, timeout=30)


# -- against a server -----------------------------------------------------------------------


async def test_run_logs_params_tags_metrics_and_finishes(server, world) -> None:
    def work() -> tuple[ActiveRun, pb.Run, tuple[list[int], list[float], list[int]], list[pb.Run]]:
        with connect(server, world) as client:
            with client.start_run(
                experiment="churn",
                run_name="baseline",
                params={"lr": 0.01, "layers": 3},
                tags={"team": "risk"},
            ) as run:
                assert isinstance(run, ActiveRun)
                assert run.experiment == f"{world.name}/experiments/churn"
                run.log_params({"optimizer": "adam"})
                run.log_param("optimizer", "adam")  # the same value again is fine
                for step in range(POINTS):
                    run.log_metric("loss", 1.0 / (step + 1), step=step)
                run.log_metrics({"acc": 0.9, "f1": float("nan")}, step=7)
                run.set_tags({"stage": "dev"})
                run.set_tag("team", "fraud")
            assert run.ended
            assert run.points_sent == POINTS + 2
            final = client.get_run(run.name)
            history = client.get_metric_history(run.name, "loss")
            found = list(client.search_runs("churn", filter='params.lr = "0.01"'))
            return run, final, history, found

    run, final, history, found = await asyncio.to_thread(work)
    assert final.state == pb.RUN_STATE_FINISHED
    assert final.display_name == "baseline"
    assert final.end_time.seconds > 0
    assert dict(final.params) == {"lr": "0.01", "layers": "3", "optimizer": "adam"}
    assert dict(final.tags) == {"team": "fraud", "stage": "dev"}
    latest = {m.key: m for m in final.latest_metrics}
    assert sorted(latest) == ["acc", "f1", "loss"]
    assert (latest["loss"].value, latest["loss"].step) == (1.0 / POINTS, POINTS - 1)
    assert (latest["acc"].value, latest["acc"].step) == (0.9, 7)
    assert latest["f1"].value != latest["f1"].value  # NaN is recorded as NaN
    steps, values, stamps = history
    assert steps == list(range(POINTS))
    assert values == [1.0 / (step + 1) for step in range(POINTS)]
    assert len(stamps) == POINTS and all(stamp > 0 for stamp in stamps)
    assert stamps == sorted(stamps)
    assert [r.name for r in found] == [run.name]


async def test_failing_block_marks_run_failed_and_propagates(server, world) -> None:
    class Diverged(Exception):
        pass

    def work() -> tuple[pb.Run, pb.Run]:
        with connect(server, world) as client:
            # A second run in the same experiment: the experiment already exists.
            with client.start_run("churn-fail") as first:
                first.log_metric("loss", 1.0)
            with pytest.raises(Diverged), client.start_run("churn-fail") as run:
                run.log_metric("loss", 0.5, step=1)
                raise Diverged("loss went to nan")
            assert run.ended
            return client.get_run(first.name), client.get_run(run.name)

    first, failed = await asyncio.to_thread(work)
    assert first.state == pb.RUN_STATE_FINISHED
    assert failed.state == pb.RUN_STATE_FAILED
    # The buffered point was flushed before the run was ended.
    assert [(m.key, m.value, m.step) for m in failed.latest_metrics] == [("loss", 0.5, 1)]


async def test_api_error_carries_code_reason_and_field(server, world) -> None:
    def work() -> dict[str, ApiError]:
        errors: dict[str, ApiError] = {}
        with connect(server, world) as client:
            batch = next(metric_batches(["loss"], [0], [1.0], [0], [0]))
            try:
                client.experiments.LogMetricBatch(
                    pb.LogMetricBatchRequest(run="not-a-run", batch=batch)
                )
            except ApiError as error:
                errors["bad_name"] = error
            try:
                client.get_metric_history(f"{world.name}/experiments/none/runs/none", "loss")
            except ApiError as error:
                errors["missing"] = error
            with client.start_run("errors", params={"lr": 1}) as run:
                try:
                    run.log_params({"lr": 2})
                except ApiError as error:
                    errors["param"] = error
        with connect(server, world, "viewer") as viewer:
            try:
                viewer.start_run("errors")
            except ApiError as error:
                errors["viewer"] = error
        with Client(
            f"127.0.0.1:{server.port}", "cpk_not_a_key", tenant=world.tenant_id
        ) as stranger:
            try:
                stranger.whoami()
            except ApiError as error:
                errors["stranger"] = error
        return errors

    errors = await asyncio.to_thread(work)
    bad_name = errors["bad_name"]
    assert bad_name.code == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_name.reason == "INVALID_ARGUMENT"
    assert bad_name.fields == ["run"]
    assert isinstance(bad_name.field_violations[0], FieldViolation)
    assert "INVALID_ARGUMENT" in str(bad_name)

    missing = errors["missing"]
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    assert missing.field_violations == []

    param = errors["param"]
    assert (param.code, param.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PARAM_ALREADY_SET")
    assert param.metadata.get("params") == "lr"

    viewer = errors["viewer"]
    assert (viewer.code, viewer.reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")

    assert errors["stranger"].code == grpc.StatusCode.UNAUTHENTICATED

    copy = pickle.loads(pickle.dumps(bad_name))
    assert (copy.code, copy.reason, copy.fields) == (bad_name.code, bad_name.reason, ["run"])


async def test_background_flush_error_is_raised_by_next_call(server, world) -> None:
    def work() -> tuple[ApiError, pb.Run]:
        with connect(server, world) as client, connect(server, world, "maintainer") as other:
            run = client.start_run("flush-errors")
            run.log_metric("loss", 1.0)
            run.flush()
            # Someone else ends the run: the next background send is refused.
            other.set_run_state(run.name, "KILLED")
            run.log_metric("loss", 2.0, step=1)
            deadline = time.monotonic() + 10
            error: ApiError | None = None
            while error is None and time.monotonic() < deadline:
                time.sleep(0.05)
                try:
                    run.log_metric("loss", 3.0, step=2)
                except ApiError as kept:
                    error = kept
            assert error is not None, "the background error was never raised"
            with pytest.raises(ApiError):  # the run cannot move from KILLED to FAILED
                run.end()
            return error, client.get_run(run.name)

    error, final = await asyncio.to_thread(work)
    assert (error.code, error.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "FAILED_PRECONDITION",
    )
    assert final.state == pb.RUN_STATE_KILLED
    assert [(m.key, m.value) for m in final.latest_metrics] == [("loss", 1.0)]


async def test_concurrent_logging_and_many_keys(server, world) -> None:
    threads, per_thread, keys = 4, 3_000, 1_200

    def work() -> tuple[pb.Run, dict[str, list[int]]]:
        with connect(server, world) as client:
            with client.start_run("concurrent") as run:

                def log(worker: int) -> None:
                    for step in range(per_thread):
                        run.log_metric(f"worker{worker}", float(step), step=step)

                pool = [threading.Thread(target=log, args=(i,)) for i in range(threads)]
                for thread in pool:
                    thread.start()
                for thread in pool:
                    thread.join()
                # More keys than one batch may carry: split into several batches.
                run.log_metrics({f"k{i:04d}": float(i) for i in range(keys)}, step=1)
            final = client.get_run(run.name)
            histories = {
                f"worker{i}": client.get_metric_history(run.name, f"worker{i}").steps
                for i in range(threads)
            }
            return final, histories

    final, histories = await asyncio.to_thread(work)
    assert final.state == pb.RUN_STATE_FINISHED
    assert len(final.latest_metrics) == threads + keys
    for steps in histories.values():
        assert steps == list(range(per_thread))


async def test_raw_stubs_and_paging(server, world) -> None:
    def work() -> tuple[tenant_pb.Caller, list[str], list[str]]:
        with connect(server, world) as client:
            caller = client.tenants.GetCaller(tenant_pb.GetCallerRequest())
            for index in range(3):
                client.create_experiment(f"paged-{index}")
            names = [
                e.name
                for e in client.paginate(
                    client.experiments.ListExperiments,
                    pb.ListExperimentsRequest(
                        parent=world.name, page_size=1, filter='display_name = "paged-1"'
                    ),
                    "experiments",
                )
            ]
            limited = [
                e.name
                for e in client.paginate(
                    client.experiments.ListExperiments,
                    pb.ListExperimentsRequest(parent=world.name, page_size=1),
                    "experiments",
                    limit=2,
                )
            ]
            return caller, names, limited

    caller, names, limited = await asyncio.to_thread(work)
    assert caller.principal == world["editor"].principal
    assert list(caller.roles) == [tenant_pb.ROLE_EDITOR]
    assert names == [f"{world.name}/experiments/paged-1"]
    assert len(limited) == 2


# -- without a server -----------------------------------------------------------------------


def test_defaults_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("TARGET", "TOKEN", "TENANT", "TLS_CA"):
        monkeypatch.delenv(f"CONTROLPLANE_{name}", raising=False)
    monkeypatch.setenv("CONTROLPLANE_DATA_DIR", str(tmp_path))
    with Client() as client:
        assert client.target == "127.0.0.1:7470"
        assert client.token is None
        assert client.tenant is None
        with pytest.raises(ValueError, match="tenant"):
            client.start_run("churn")
    (tmp_path / "admin.key").write_text("cpk_from_file\n")
    (tmp_path / "server.address").write_text("127.0.0.1:7470\n")
    with Client() as client:
        assert client.token == "cpk_from_file"
    monkeypatch.setenv("CONTROLPLANE_TARGET", "example:1")
    monkeypatch.setenv("CONTROLPLANE_TOKEN", "cpk_from_env")
    monkeypatch.setenv("CONTROLPLANE_TENANT", "tenants/acme")
    with Client() as client:
        assert (client.target, client.token, client.tenant) == ("example:1", "cpk_from_env", "acme")
        assert client.experiment_name("churn") == "tenants/acme/experiments/churn"
    with Client("other:2", "explicit", tenant="beta") as client:
        assert (client.target, client.token, client.tenant) == ("other:2", "explicit", "beta")


class _Recorder(grpc.GenericRpcHandler):
    """A server that is not ours: notes the metadata of every call (then UNIMPLEMENTED)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str | bytes]] = []

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> None:
        self.calls.append(dict(handler_call_details.invocation_metadata))  # type: ignore[attr-defined]


@contextlib.contextmanager
def _recording_server() -> Iterator[tuple[str, _Recorder]]:
    recorder = _Recorder()
    server = grpc.server(ThreadPoolExecutor(max_workers=2), handlers=[recorder])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", recorder
    finally:
        server.stop(0)


def test_the_local_admin_key_is_sent_only_to_the_server_it_belongs_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("TARGET", "TOKEN"):
        monkeypatch.delenv(f"CONTROLPLANE_{name}", raising=False)
    monkeypatch.setenv("CONTROLPLANE_DATA_DIR", str(tmp_path))
    (tmp_path / "admin.key").write_text("cpk_local_admin\n")
    recorded = tmp_path / "server.address"
    with _recording_server() as (other, recorder):
        for addresses in ("127.0.0.1:7470\n", ""):  # another server's; none recorded
            recorded.write_text(addresses)
            with Client(other, timeout=5) as client, pytest.raises(ApiError):
                client.whoami()
            assert client.token is None
            assert "authorization" not in recorder.calls[-1]
            assert "no API key was sent" in client.admin_key_withheld

        recorded.write_text(f"{other}\n")
        with Client(other, timeout=5) as client, pytest.raises(ApiError):
            client.whoami()
        assert recorder.calls[-1]["authorization"] == "Bearer cpk_local_admin"
        assert client.admin_key_withheld == ""


async def test_a_call_the_admin_key_was_withheld_from_says_why(
    server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CONTROLPLANE_TOKEN", raising=False)
    monkeypatch.setenv("CONTROLPLANE_DATA_DIR", str(tmp_path))
    (tmp_path / "admin.key").write_text(f"{server.admin_key}\n")
    (tmp_path / "server.address").write_text("127.0.0.1:1\n")

    def whoami() -> ApiError:
        with Client(f"127.0.0.1:{server.port}", timeout=10) as client:
            with pytest.raises(ApiError) as caught:
                client.whoami()
            return caught.value

    error = await asyncio.to_thread(whoami)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert f"is for the server on 127.0.0.1:1, not 127.0.0.1:{server.port}" in error.message
    assert "--token, token= or $CONTROLPLANE_TOKEN" in error.message


@pytest.mark.parametrize(
    ("target", "address", "same"),
    [
        ("127.0.0.1:7470", "127.0.0.1:7470", True),
        ("localhost:7470", "127.0.0.1:7470", True),
        ("[::1]:7470", "localhost:7470", True),
        ("dns:///localhost:7470", "127.0.0.1:7470", True),
        ("127.0.0.1:7470", "0.0.0.0:7470", True),
        ("localhost:7470", "[::]:7470", True),
        ("10.0.0.5:7470", "10.0.0.5:7470", True),
        ("unix:/run/cp.sock", "unix:/run/cp.sock", True),
        ("127.0.0.1:7471", "127.0.0.1:7470", False),
        ("other:7470", "127.0.0.1:7470", False),
        ("other:7470", "0.0.0.0:7470", False),
        ("10.0.0.5:7470", "0.0.0.0:7470", False),
        ("10.0.0.5:7470", "10.0.0.6:7470", False),
        ("unix:/run/other.sock", "unix:/run/cp.sock", False),
    ],
)
def test_which_targets_are_the_server_of_the_admin_key(
    target: str, address: str, same: bool
) -> None:
    """Loopback names are one host, which also reaches a server listening on every
    interface; another machine's name for this one never gets the key."""
    assert _is_server(target, address) is same


def test_unreachable_server_is_unavailable() -> None:
    with Client("127.0.0.1:1", "cpk_x", timeout=5) as client, pytest.raises(ApiError) as caught:
        client.whoami()
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert caught.value.reason == ""


def test_metric_batches_respect_server_limits() -> None:
    keys = [f"k{i}" for i in range(5)]
    key_index = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4]
    values = [float(i) for i in range(len(key_index))]
    steps = list(range(len(key_index)))
    stamps = [100 + i for i in range(len(key_index))]
    single = list(metric_batches(keys, key_index, values, steps, stamps))
    assert len(single) == 1 and list(single[0].key_index) == key_index
    split = list(metric_batches(keys, key_index, values, steps, stamps, max_points=4, max_keys=2))
    seen: dict[str, list[tuple[float, int, int]]] = {}
    for batch in split:
        assert len(batch.values) <= 4 and len(batch.keys) <= 2
        assert (
            len(batch.key_index)
            == len(batch.values)
            == len(batch.steps)
            == len(batch.timestamps_ms)
        )
        for index, value, step, stamp in zip(
            batch.key_index, batch.values, batch.steps, batch.timestamps_ms, strict=True
        ):
            seen.setdefault(batch.keys[index], []).append((value, step, stamp))
    expected: dict[str, list[tuple[float, int, int]]] = {}
    for index, value, step, stamp in zip(key_index, values, steps, stamps, strict=True):
        expected.setdefault(keys[index], []).append((value, step, stamp))
    assert seen == expected


def test_run_state_names_and_bad_values() -> None:
    assert run_state("finished") == pb.RUN_STATE_FINISHED
    assert run_state("RUN_STATE_KILLED") == pb.RUN_STATE_KILLED
    assert run_state(pb.RUN_STATE_FAILED) == pb.RUN_STATE_FAILED
    with pytest.raises(ValueError):
        run_state("exploded")
    with pytest.raises(ValueError):
        run_state(42)


def test_log_refuses_bad_points_before_buffering(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeClient:
        def set_run_state(self, name: str, state: int) -> pb.Run:
            return pb.Run(name=name, state=state)  # type: ignore[arg-type]

    run = ActiveRun(FakeClient(), pb.Run(name="tenants/t/experiments/e/runs/r"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inf"):
        run.log_metric("loss", float("inf"))
    with pytest.raises(ValueError, match="key"):
        run.log_metrics({"": 1.0})
    assert run.end().state == pb.RUN_STATE_FINISHED
    with pytest.raises(RuntimeError, match="ended"):
        run.log_metric("loss", 1.0)


def test_package_import_is_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, controlplane\n"
        "assert 'grpc' not in sys.modules, 'grpc imported eagerly'\n"
        "assert 'controlplane.client' not in sys.modules\n"
        "controlplane.Client\n"
        "assert 'grpc' in sys.modules\n"
        "assert not {'torch', 'ray', 'vllm'} & set(sys.modules)\n"
        "print(controlplane.__version__)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLPLANE_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert controlplane.Client is Client


async def test_log_artifact_uploads_and_download_verifies(server, world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    from controlplane.v1 import metadata_service_pb2 as md

    target = f"127.0.0.1:{server.port}"
    content = os.urandom(1_500_000)

    def work() -> tuple[md.Artifact, bytes]:
        with Client(target, world["editor"].token, tenant=world.tenant_id) as client:
            artifact = client.log_artifact(content, "Model", artifact_id="weights")
            destination = tmp_path / "weights.bin"
            client.download_artifact("weights", destination)
            return artifact, destination.read_bytes()

    artifact, downloaded = await asyncio.to_thread(work)
    assert artifact.name == f"{world.name}/artifacts/weights"
    assert artifact.uri == "sha256:" + hashlib.sha256(content).hexdigest()
    assert artifact.state == md.Artifact.STATE_LIVE
    assert downloaded == content


async def test_a_run_in_an_existing_experiment_costs_one_call(server, world) -> None:  # type: ignore[no-untyped-def]
    target = f"127.0.0.1:{server.port}"

    def work() -> tuple[list[str], list[str], str, str]:
        calls: list[str] = []
        with Client(target, world["editor"].token, tenant=world.tenant_id) as client:
            for method in ("CreateExperiment", "CreateRun"):
                original = getattr(client.experiments, method)

                def counted(*args: Any, _name: str = method, _call: Any = original) -> Any:
                    calls.append(_name)
                    return _call(*args)

                setattr(client.experiments, method, counted)
            with client.start_run("calls-new") as run:  # the experiment is created
                first = run.name
            new_experiment_calls = [c for c in calls]
            calls.clear()
            with client.start_run("calls-new") as run:
                second = run.name
            return new_experiment_calls, list(calls), first, second

    created, existing, first, second = await asyncio.to_thread(work)
    assert created == ["CreateRun", "CreateExperiment", "CreateRun"]
    assert existing == ["CreateRun"]
    assert first.startswith(f"{world.name}/experiments/calls-new/runs/") and second != first


def test_a_download_into_a_missing_directory_names_the_directory(tmp_path: Path) -> None:
    from controlplane.client.artifacts import download

    target = tmp_path / "absent" / "copy.bin"
    # No RPC is made: the service is never touched.
    with pytest.raises(FileNotFoundError) as missing:
        download(object(), "tenants/t/artifacts/a", target)  # type: ignore[arg-type]
    assert str(missing.value) == (
        f"cannot write {target}: the directory {target.parent} does not exist"
    )
    assert not (tmp_path / "absent").exists()


def test_a_download_reserves_the_file_size_up_front_where_it_can(tmp_path: Path) -> None:
    import io

    from controlplane.client.artifacts import _reserve

    with (tmp_path / "f.bin").open("wb") as out:
        _reserve(out, 5 * 1024 * 1024)
        assert os.fstat(out.fileno()).st_size == 5 * 1024 * 1024
    memory = io.BytesIO()
    _reserve(memory, 1024)  # nothing to reserve in memory; not an error
    assert memory.getvalue() == b""
