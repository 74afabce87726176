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

import pytest

from controlplane.cli.main import build_parser, main
from controlplane.client import Client
from controlplane.server.app import RunningServer
from controlplane.store import migrate
from controlplane.v1 import metadata_service_pb2 as md_pb

ROOT = Path(__file__).resolve().parents[1]


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
    assert code == 1 and err.startswith("error: INVALID_ARGUMENT: ")
    assert "\n  filter: " in err

    code, _, err = await cli.run("tenants", "create", "nope", token=world["admin"].token)
    assert code == 1 and err.startswith("error: PERMISSION_DENIED: ")


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


def test_server_subprocess_prints_key_serves_and_stops_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    with _server_process(data_dir, "--log-format", "text", "--log-level", "warning") as (
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
        assert key and "".join(printed).count(key) == 1

        # No --token: the client falls back to the admin.key of $CONTROLPLANE_DATA_DIR.
        monkeypatch.setenv("CONTROLPLANE_DATA_DIR", str(data_dir))
        assert main(["--target", address, "whoami", "--output", "json"]) == 0
        caller = json.loads(capsys.readouterr().out)
        assert caller["principal"] == "tenants/platform/principals/admin"
        assert caller["roles"] == ["ROLE_PLATFORM_ADMIN"]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


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
