"""Tests for ``mlctl`` (controlplane.cli): client commands in process against the ``server``
fixture, and ``server`` / ``db`` as real subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from controlplane.cli.main import build_parser, main
from controlplane.client import Client
from controlplane.server.app import RunningServer
from controlplane.store import migrate
from controlplane.v1 import metadata_service_pb2 as md_pb

ROOT = Path(__file__).resolve().parents[1]
MLCTL_SERVER = [sys.executable, "-m", "controlplane.cli", "server"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CONTROLPLANE_") and name != "CONTROLPLANE_TEST_PG":
            monkeypatch.delenv(name)


class Cli:
    """Runs ``main`` in a thread (it blocks) with the target and a token filled in."""

    def __init__(
        self, server: RunningServer, token: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.target = f"127.0.0.1:{server.port}"
        self.token = token
        self.capsys = capsys

    async def run(self, *argv: str, token: str | None = None) -> tuple[int, str, str]:
        args = ["--target", self.target, "--token", token or self.token, *argv]
        code = await asyncio.to_thread(main, args)
        out, err = self.capsys.readouterr()
        return code, out, err

    async def json(self, *argv: str, token: str | None = None) -> Any:
        code, out, err = await self.run(*argv, "--output", "json", token=token)
        assert code == 0, err
        return json.loads(out)


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLPLANE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# -- client commands ------------------------------------------------------------------------


async def test_tenants_principals_keys_and_roles(server, admin, capsys) -> None:
    cli = Cli(server, admin.token, capsys)
    tenant_id = f"cli-{uuid.uuid4().hex[:8]}"

    tenant = await cli.json("tenants", "create", tenant_id, "--display-name", "CLI tenant")
    assert tenant["name"] == f"tenants/{tenant_id}"
    assert tenant["displayName"] == "CLI tenant"
    listed = await cli.json("tenants", "list")
    assert f"tenants/{tenant_id}" in [t["name"] for t in listed["tenants"]]
    assert (await cli.json("tenants", "get", tenant_id))["name"] == f"tenants/{tenant_id}"

    principal = await cli.json("principals", "create", tenant_id, "bot", "--service-account")
    assert principal["name"] == f"tenants/{tenant_id}/principals/bot"
    assert principal["kind"] == "KIND_SERVICE_ACCOUNT"
    code, out, _ = await cli.run("principals", "list", tenant_id)
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:2] == ["NAME", "DISPLAY"]
    assert row.split()[:3] == [principal["name"], "service_account", "enabled"]

    binding = await cli.json("roles", "grant", tenant_id, "bot", "editor")
    assert (binding["principal"], binding["role"]) == (principal["name"], "ROLE_EDITOR")
    code, out, _ = await cli.run("roles", "list", tenant_id)
    assert code == 0 and binding["name"] in out and "editor" in out

    created = await cli.json("keys", "create", principal["name"], "--display-name", "ci")
    secret = created["secret"]
    assert secret and created["apiKey"]["name"].startswith(principal["name"] + "/apiKeys/")
    keys = await cli.json("keys", "list", principal["name"])
    assert [k["name"] for k in keys["apiKeys"]] == [created["apiKey"]["name"]]
    assert all("secret" not in k for k in keys["apiKeys"])

    caller = await cli.json("whoami", token=secret)
    assert caller == {"principal": principal["name"], "roles": ["ROLE_EDITOR"]}
    code, out, _ = await cli.run("whoami", token=secret)
    assert code == 0 and f"principal: {principal['name']}" in out and "ROLE_EDITOR" in out

    # A disabled principal's key stops working; enabled again, it works again.
    assert (await cli.json("principals", "disable", principal["name"]))["disabled"] is True
    code, _, err = await cli.run("whoami", token=secret)
    assert code == 1 and err.startswith("error: UNAUTHENTICATED: ")
    assert "disabled" not in await cli.json("principals", "enable", principal["name"])
    assert (await cli.json("whoami", token=secret))["principal"] == principal["name"]

    code, out, _ = await cli.run("roles", "revoke", binding["name"])
    assert code == 0 and out.strip() == f"deleted {binding['name']}"
    assert await cli.json("keys", "revoke", created["apiKey"]["name"]) == {}
    code, _, err = await cli.run("whoami", token=secret)
    assert code == 1 and "UNAUTHENTICATED" in err

    code, _, err = await cli.run("roles", "grant", tenant_id, "bot", "overlord")
    assert code == 1 and "unknown role" in err


async def test_experiments_and_runs(server, world, capsys) -> None:
    cli = Cli(server, world["editor"].token, capsys)

    def log_runs() -> list[str]:
        names = []
        with Client(cli.target, cli.token, tenant=world.tenant_id) as client:
            for lr, loss in (("0.01", 0.25), ("0.1", 0.75)):
                with client.start_run("churn", run_name=f"lr={lr}", params={"lr": lr}) as run:
                    for step in range(5):
                        run.log_metric("loss", loss + step, step=step)
                names.append(run.name)
        return names

    low, high = await asyncio.to_thread(log_runs)

    created = await cli.json(
        "experiments", "create", world.tenant_id, "holdout", "--display-name", "zz holdout"
    )
    assert created["name"] == f"{world.name}/experiments/holdout"
    experiments = await cli.json("experiments", "list", world.name, "--order-by", "display_name")
    assert [e["name"] for e in experiments["experiments"]] == [
        f"{world.name}/experiments/churn",
        created["name"],
    ]
    code, out, _ = await cli.run("experiments", "get", created["name"])
    assert code == 0 and "display_name: zz holdout" in out

    found = await cli.json(
        "runs", "search", f"{world.name}/experiments/churn", "--filter", 'params.lr = "0.01"'
    )
    assert [r["name"] for r in found["runs"]] == [low]
    assert found["runs"][0]["state"] == "RUN_STATE_FINISHED"
    best = await cli.json(
        "runs", "search", world.tenant_id, "--order-by", "metrics.loss desc", "--limit", "1"
    )
    assert [r["name"] for r in best["runs"]] == [high]
    code, out, _ = await cli.run("runs", "search", world.name, "--filter", "metrics.loss < 5")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "DISPLAY", "NAME", "STATE", "STARTED", "METRICS"]
    assert low in out and "finished" in out and "loss=4.25" in out and high in out

    code, out, _ = await cli.run("runs", "get", low)
    assert code == 0 and "state: RUN_STATE_FINISHED" in out and "lr: 0.01" in out
    history = await cli.json("runs", "history", low, "loss")
    assert [int(s) for s in history["steps"]] == list(range(5))
    assert history["values"] == [0.25 + step for step in range(5)]
    code, out, _ = await cli.run("runs", "history", low, "loss")
    assert (
        code == 0
        and len(out.splitlines()) == 6
        and out.splitlines()[1].split()[:2] == ["0", "0.25"]
    )

    code, out, _ = await cli.run(
        "experiments", "delete", created["name"], token=world["maintainer"].token
    )
    assert code == 0 and out.strip() == f"deleted {created['name']}"


async def test_lineage(server, world, capsys) -> None:
    cli = Cli(server, world["editor"].token, capsys)

    def build_graph() -> tuple[str, str, str]:
        with Client(cli.target, cli.token, tenant=world.tenant_id) as client:
            dataset = client.metadata.CreateArtifact(
                md_pb.CreateArtifactRequest(
                    parent=world.name,
                    artifact=md_pb.Artifact(type="Dataset", uri="s3://bucket/train.csv"),
                )
            )
            training = client.metadata.CreateExecution(
                md_pb.CreateExecutionRequest(
                    parent=world.name, execution=md_pb.Execution(type="Trainer")
                )
            )
            model = client.metadata.CreateArtifact(
                md_pb.CreateArtifactRequest(
                    parent=world.name, artifact=md_pb.Artifact(type="Model")
                )
            )
            client.metadata.AddExecutionEvents(
                md_pb.AddExecutionEventsRequest(
                    execution=training.name,
                    events=[
                        md_pb.Event(artifact=dataset.name, type=md_pb.Event.TYPE_INPUT),
                        md_pb.Event(artifact=model.name, type=md_pb.Event.TYPE_OUTPUT),
                    ],
                )
            )
            return dataset.name, training.name, model.name

    dataset, training, model = await asyncio.to_thread(build_graph)

    graph = await cli.json("lineage", model, "--direction", "upstream")
    assert sorted(a["name"] for a in graph["artifacts"]) == sorted([dataset, model])
    assert [e["name"] for e in graph["executions"]] == [training]
    assert sorted((e["artifact"], e["type"]) for e in graph["events"]) == sorted(
        [(dataset, "TYPE_INPUT"), (model, "TYPE_OUTPUT")]
    )
    downstream = await cli.json("lineage", model, "--direction", "downstream")
    assert [a["name"] for a in downstream["artifacts"]] == [model]
    assert downstream.get("executions", []) == []

    code, out, _ = await cli.run("lineage", dataset, "--max-hops", "1")
    assert code == 0
    assert "ARTIFACTS" in out and "EXECUTIONS" in out and "EVENTS" in out
    assert training in out and "s3://bucket/train.csv" in out and "input" in out


async def test_errors_exit_1_with_code_and_fields(server, world, capsys) -> None:
    cli = Cli(server, world["editor"].token, capsys)
    code, out, err = await cli.run("experiments", "get", f"{world.name}/experiments/missing")
    assert code == 1 and out == ""
    assert err.startswith(f"error: NOT_FOUND: {world.name}/experiments/missing")

    code, _, err = await cli.run("experiments", "list", world.name, "--filter", "display_name ===")
    assert code == 1 and err.startswith("error: INVALID_ARGUMENT: filter: ")
    # The message of a one-field violation is that violation: said once, not twice.
    assert err.count("filter:") == 1 and err.count("\n") == 1

    code, _, err = await cli.run("tenants", "create", "nope", token=world["admin"].token)
    assert code == 1 and err.startswith("error: PERMISSION_DENIED: ")


async def test_listing_in_a_tenant_that_does_not_exist_fails_for_every_caller(
    server, world, capsys
) -> None:
    for token in (server.admin_key, world["admin"].token):
        cli = Cli(server, token, capsys)
        code, out, err = await cli.run("experiments", "list", "no-such-tenant")
        assert code == 1 and out == ""
        assert err.startswith("error: NOT_FOUND: tenants/no-such-tenant"), err


async def test_errors_with_output_json_are_one_json_object_on_stderr(
    server, world, capsys, tmp_path: Path
) -> None:
    cli = Cli(server, world["editor"].token, capsys)
    code, out, err = await cli.run(
        "experiments", "list", world.name, "--filter", "display_name ===", "--output", "json"
    )
    assert code == 1 and out == ""
    error = json.loads(err)["error"]
    assert (error["code"], error["reason"]) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert error["message"].startswith("filter: ")
    assert [v["field"] for v in error["field_violations"]] == ["filter"]

    code, out, err = await cli.run(
        "-o", "json", "experiments", "get", f"{world.name}/experiments/missing"
    )
    assert code == 1 and out == ""
    error = json.loads(err)["error"]
    assert (error["code"], error["reason"]) == ("NOT_FOUND", "NOT_FOUND")
    assert error["metadata"] == {"resource": f"{world.name}/experiments/missing"}

    # A failure on this side has the same shape, with no server reason.
    principal = f"{world.name}/principals/nobody"
    code, out, err = await cli.run(
        "-o", "json", "keys", "create", principal, "--expires-in-days", "-1"
    )
    assert code == 1 and out == ""
    assert json.loads(err) == {
        "error": {
            "code": "INVALID_ARGUMENT",
            "reason": "",
            "message": "--expires-in-days must be positive",
            "field_violations": [],
            "metadata": {},
        }
    }


async def test_a_download_into_a_missing_directory_names_the_directory(
    server, world, capsys, tmp_path: Path
) -> None:
    cli = Cli(server, world["viewer"].token, capsys)
    target = tmp_path / "absent" / "copy.bin"
    code, _, err = await cli.run("artifacts", "download", f"{world.name}/artifacts/x", str(target))
    assert code == 1
    assert err == f"error: cannot write {target}: the directory {target.parent} does not exist\n"
    code, _, err = await cli.run(
        "artifacts", "download", f"{world.name}/artifacts/x", str(target), "-o", "json"
    )
    assert code == 1 and json.loads(err)["error"]["code"] == "NOT_FOUND"
    assert not (tmp_path / "absent").exists()


async def test_usage_errors_exit_2(capsys) -> None:
    assert main(["tenants"]) == 2
    assert "COMMAND" in capsys.readouterr().err
    assert main(["lineage", "x", "--direction", "sideways"]) == 2
    assert main(["--help"]) == 0
    assert "whoami" in capsys.readouterr().out


def test_global_options_before_or_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["--target", "a:1", "-o", "json", "tenants", "list"])
    after = parser.parse_args(["tenants", "list", "--target", "a:1", "--output", "json"])
    for args in (before, after):
        assert (args.target, args.output, args.timeout) == ("a:1", "json", 30.0)


def test_help_does_not_import_the_server_or_grpc() -> None:
    code = (
        "import sys\n"
        "from controlplane.cli.main import main\n"
        "assert main(['--help']) == 0\n"
        "heavy = {'grpc', 'sqlalchemy', 'alembic', 'controlplane.server.app'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_subprocess_env(),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- server and db as subprocesses ----------------------------------------------------------


def _lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


@contextlib.contextmanager
def _server_process(
    data_dir: Path, *flags: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str | None], queue.Queue[str | None]]]:
    """``mlctl server`` on 127.0.0.1:0 as a subprocess, with the lines of its stdout and of its
    stderr as they come (both drained, so neither pipe fills); killed on exit if it runs."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controlplane.cli",
            "server",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(data_dir),
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_subprocess_env(**(env or {})),
    )
    out: queue.Queue[str | None] = queue.Queue()
    err: queue.Queue[str | None] = queue.Queue()
    for stream, into in ((process.stdout, out), (process.stderr, err)):
        threading.Thread(target=_lines, args=(stream, into), daemon=True).start()
    try:
        yield process, out, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def _drained(lines: queue.Queue[str | None]) -> str:
    text = []
    while not lines.empty():
        text.append(lines.get() or "")
    return "".join(text)


def test_server_subprocess_serves_and_stops_on_sigterm_keeping_its_key_out_of_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    with _server_process(data_dir, "--log-format", "text", "--log-level", "info") as (
        process,
        lines,
        errors,
    ):
        printed: list[str] = []
        address = None
        while address is None:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                pytest.fail(f"no listening line; stdout so far: {printed}")
            if line is None:
                pytest.fail(f"server exited {process.wait()}: {_drained(errors)}")
            printed.append(line)
            if line.startswith("controlplane listening on "):
                address = line.removeprefix("controlplane listening on ").strip()
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0

        key_file = data_dir / "admin.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text().strip()
        # Stdout is not a terminal (a log): it says where the key is, never the key.
        assert key.startswith("cpk_") and "cpk_" not in "".join(printed)
        assert f"Its API key is in {key_file} (mode 0600" in "".join(printed)

        # No --token: the client falls back to the admin.key of $CONTROLPLANE_DATA_DIR, as
        # the target is its server (also by another loopback name).
        monkeypatch.setenv("CONTROLPLANE_DATA_DIR", str(data_dir))
        for target in (address, f"localhost:{port}"):
            assert main(["--target", target, "whoami", "--output", "json"]) == 0
            caller = json.loads(capsys.readouterr().out)
            assert caller["principal"] == "tenants/platform/principals/admin"
            assert caller["roles"] == ["ROLE_PLATFORM_ADMIN"]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        logged = _drained(errors)
        assert "serving" in logged and "cpk_" not in logged
        # Not a line per migration step, even at INFO.
        assert "alembic" not in logged and "Running upgrade" not in logged


def test_first_start_on_a_terminal_shows_the_admin_key_once(tmp_path: Path) -> None:
    import pty
    import select

    data_dir = tmp_path / "data"
    leader, follower = pty.openpty()
    with (tmp_path / "stderr.log").open("w") as log:
        process = subprocess.Popen(
            [*MLCTL_SERVER, "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=log,
            cwd=ROOT,
            env=_subprocess_env(),
        )
    os.close(follower)
    screen = b""
    try:
        while b"controlplane listening on" not in screen:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready or process.poll() is not None:
                pytest.fail(f"no listening line: {screen!r}")
            screen += os.read(leader, 4096)
        key = (data_dir / "admin.key").read_text().strip()
        assert screen.decode().count(key) == 1
        assert screen.decode().index(key) < screen.decode().index("controlplane listening on")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        os.close(leader)
    assert "cpk_" not in (tmp_path / "stderr.log").read_text()


def test_a_second_server_on_a_taken_port_exits_1_saying_the_address_is_in_use(
    tmp_path: Path,
) -> None:
    with _server_process(tmp_path / "first") as (process, lines, _):
        address = None
        while address is None:
            line = lines.get(timeout=60)
            if line is None:
                pytest.fail(f"the first server exited {process.wait()}")
            if line.startswith("controlplane listening on "):
                address = line.removeprefix("controlplane listening on ").strip()
        second = subprocess.run(
            [*MLCTL_SERVER, "--listen", address, "--data-dir", str(tmp_path / "second")],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=_subprocess_env(),
            timeout=120,
            check=False,
        )
        assert second.returncode == 1
        assert f"error: cannot listen on {address}: address already in use" in second.stderr
        assert "Traceback" not in second.stderr
        assert "controlplane listening" not in second.stdout
        assert process.poll() is None


class _Recorder(grpc.GenericRpcHandler):
    """A server that is not ours: notes the metadata of every call, and refuses it as ours
    refuses a call without a key."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        self.calls.append(dict(handler_call_details.invocation_metadata))  # type: ignore[attr-defined]

        def refuse(request: bytes, context: grpc.ServicerContext) -> bytes:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing credentials")

        return grpc.unary_unary_rpc_method_handler(refuse)


def test_target_another_server_sends_no_admin_key_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("CONTROLPLANE_DATA_DIR", str(tmp_path))
    (tmp_path / "admin.key").write_text("cpk_local_admin\n")
    (tmp_path / "server.address").write_text("127.0.0.1:7470\n")
    recorder = _Recorder()
    other = grpc.server(ThreadPoolExecutor(max_workers=2), handlers=[recorder])
    port = other.add_insecure_port("127.0.0.1:0")
    other.start()
    try:
        assert main(["--target", f"127.0.0.1:{port}", "whoami"]) == 1
    finally:
        other.stop(0)
    assert recorder.calls and "authorization" not in recorder.calls[-1]
    assert "cpk_local_admin" not in repr(recorder.calls)
    err = capsys.readouterr().err
    assert err.startswith("error: UNAUTHENTICATED: missing credentials (the admin key in ")
    assert f"is for the server on 127.0.0.1:7470, not 127.0.0.1:{port}" in err
    assert "no API key was sent" in err


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ([], {}, "uvloop"),
        (["--event-loop", "asyncio"], {}, "asyncio"),
        ([], {"CONTROLPLANE_EVENT_LOOP": "asyncio"}, "asyncio"),
    ],
)
def test_server_runs_on_uvloop_unless_told_otherwise(
    tmp_path: Path, flags: list[str], env: dict[str, str], expected: str
) -> None:
    with _server_process(
        tmp_path, "--log-format", "json", "--log-level", "info", *flags, env=env
    ) as (process, _, records):
        serving = None
        while serving is None:
            line = records.get(timeout=60)
            if line is None:
                pytest.fail(f"server exited {process.wait()} before serving")
            record = json.loads(line)
            if record.get("message") == "serving":
                serving = record
        assert serving["event_loop"] == expected
        # Right after start-up: the signal handlers are already in place (exit 0, not -15).
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_server_refuses_an_unknown_event_loop(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controlplane.cli", "server", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_subprocess_env(CONTROLPLANE_EVENT_LOOP="trio"),
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "event loop must be one of auto, uvloop, asyncio, not 'trio'" in result.stderr
    assert not (tmp_path / "controlplane.db").exists()


def test_server_refuses_an_unknown_durability(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controlplane.cli", "server", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_subprocess_env(CONTROLPLANE_DURABILITY="fast"),
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "--durability must be one of auto, full, normal, not 'fast'" in result.stderr
    assert not (tmp_path / "controlplane.db").exists()


def test_db_upgrade_then_current_shows_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'x.db'}"

    def mlctl(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "controlplane.cli", *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=_subprocess_env(),
            timeout=120,
            check=False,
        )

    head = migrate.head_revision()
    before = mlctl("db", "current", "--database-url", url)
    assert before.returncode == 0, before.stderr
    assert "current: (none)" in before.stdout and f"head: {head}" in before.stdout
    assert not (tmp_path / "nested" / "x.db").exists(), "db current must not create the database"

    upgraded = mlctl("db", "upgrade", "--database-url", url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert head in upgraded.stdout

    current = mlctl("db", "current", "--database-url", url, "--output", "json")
    assert current.returncode == 0, current.stderr
    assert json.loads(current.stdout) == {
        "database": url,
        "current": head,
        "head": head,
        "upToDate": True,
    }


def test_server_refuses_a_schema_it_does_not_know(tmp_path: Path) -> None:
    """A database with tables but no schema version: SchemaError, exit 2, message on stderr."""
    import sqlite3

    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE unrelated (id INTEGER)")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "controlplane.cli",
            "server",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp_path),
            "--database-url",
            f"sqlite:///{path}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_subprocess_env(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "error: " in result.stderr and "schema" in result.stderr


# -- artifacts and plugins -------------------------------------------------------------------


async def test_artifact_upload_download_info_quota_and_gc(
    server, world, admin, capsys, tmp_path: Path
) -> None:
    import hashlib

    editor = Cli(server, world["maintainer"].token, capsys)
    source = tmp_path / "model.bin"
    content = os.urandom(3 * 1024 * 1024 + 5)
    source.write_bytes(content)
    name = f"{world.name}/artifacts/model"
    uploaded = await editor.json(
        "artifacts", "upload", str(source), name, "--type", "Model", "--media-type", "model/x"
    )
    assert uploaded["sha256"] == hashlib.sha256(content).hexdigest()
    assert (uploaded["sizeBytes"], uploaded["mediaType"]) == (str(len(content)), "model/x")
    info = await editor.json("artifacts", "info", name)
    assert info["sha256"] == uploaded["sha256"]

    target = tmp_path / "copy.bin"
    await editor.json("artifacts", "download", name, str(target))
    assert target.read_bytes() == content

    quota = await editor.json("artifacts", "quota", world.tenant_id)
    assert quota["usedBytes"] == str(len(content))
    code, _, err = await editor.run("artifacts", "quota", world.tenant_id, "--set-limit", "10")
    assert code == 1 and "PERMISSION_DENIED" in err
    platform = Cli(server, admin.token, capsys)
    updated = await platform.json("artifacts", "quota", world.tenant_id, "--set-limit", "10")
    assert updated["limitBytes"] == "10"
    await platform.json("artifacts", "quota", world.tenant_id, "--set-limit", "0")

    code, _, err = await editor.run("artifacts", "upload", str(source), name)
    assert code == 1 and "FAILED_PRECONDITION" in err and "already has content" in err
    code, _, err = await editor.run("artifacts", "upload", str(tmp_path / "missing"), name)
    assert code == 1 and "is not a file" in err

    dry = await platform.json("artifacts", "gc", "--dry-run")
    assert set(dry) <= {"unreferencedBlobCount", "orphanedObjectCount", "freedBytes"}


async def test_a_failed_download_leaves_no_file(server, world, capsys, tmp_path: Path) -> None:
    cli = Cli(server, world["viewer"].token, capsys)
    target = tmp_path / "never.bin"
    code, _, err = await cli.run(
        "artifacts", "download", f"{world.name}/artifacts/missing", str(target)
    )
    assert code == 1 and "NOT_FOUND" in err
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


async def test_plugins_list_from_the_server_and_locally(server, world, capsys) -> None:
    cli = Cli(server, world["viewer"].token, capsys)
    remote = await cli.json("plugins", "list")
    assert remote["artifactStore"] == "local"
    names = {plugin["name"]: plugin for plugin in remote["plugins"]}
    assert names["local"]["source"] == "built-in"
    assert names["local"]["provisions"] == [
        {"kind": "artifact-store", "name": "local", "active": True}
    ]
    code, out, _ = await cli.run("plugins", "list")
    assert code == 0 and "artifact store in use: local" in out and "fsspec" in out
    code = await asyncio.to_thread(main, ["plugins", "list", "--local", "--output", "json"])
    local = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {p["name"] for p in local["plugins"]} == set(names)
