"""The API conformance suite (``conformance.api``) against our own server, run exactly as a
third party runs it: a real ``mlctl server`` subprocess (SQLite), and
``pytest --pyargs conformance.api --target ... --token ...`` in another subprocess, from a
directory outside the repository so that only the installed package is used."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import grpc
import pytest

from controlplane.v1 import tenant_service_pb2, tenant_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
#: The suite has more; fewer than this means tests went missing.
MINIMUM_TESTS = 100


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLPLANE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _suite_env() -> dict[str, str]:
    """The environment of the suite's pytest: nothing of this pytest run (PYTEST_*, xdist's
    worker variables) and nothing of the repository on the path."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "CONTROLPLANE_")) and k != "PYTHONPATH"
    }


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server subprocess on SQLite: its address and the platform administrator's key."""
    data_dir = tmp_path_factory.mktemp("conformance-server")
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
            "--log-format",
            "text",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=_server_env(),
    )
    lines: queue.Queue[str | None] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        printed: list[str] = []
        address = None
        while address is None:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                pytest.fail(f"the server printed no listening line: {printed}")
            if line is None:
                pytest.fail(f"the server exited {process.wait()}: {''.join(printed)}")
            printed.append(line)
            if line.startswith("controlplane listening on "):
                address = line.removeprefix("controlplane listening on ").strip()
        yield address, (data_dir / "admin.key").read_text().strip()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout:
            process.stdout.close()


def _run_suite(cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    # An empty pytest.ini makes cwd the rootdir: no configuration of a directory above applies.
    (cwd / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "conformance.api",
            "-q",
            "-rsxXfE",
            "-p",
            "no:cacheprovider",
            *options,
        ],
        cwd=cwd,
        env=_suite_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _count(summary: str, outcome: str) -> int:
    found = re.search(rf"(\d+) {outcome}", summary)
    return int(found.group(1)) if found else 0


def _summary(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_suite_passes_against_our_server(
    live_server: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    address, key = live_server
    cwd = tmp_path_factory.mktemp("third-party")
    assert ROOT not in cwd.parents
    done = _run_suite(cwd, "--target", address, "--token", key)
    output = done.stdout + done.stderr
    summary = _summary(done.stdout)
    assert done.returncode == 0, output
    assert _count(summary, "passed") >= MINIMUM_TESTS, output
    for outcome in ("skipped", "failed", "error", "xpassed"):
        assert _count(summary, outcome) == 0, output

    # It deleted the tenants it created.
    with grpc.insecure_channel(address) as channel:
        stub = tenant_service_pb2_grpc.TenantServiceStub(channel)
        tenants = stub.ListTenants(
            tenant_service_pb2.ListTenantsRequest(page_size=1000),
            metadata=[("authorization", f"Bearer {key}")],
            timeout=15,
        )
    left = [t.name for t in tenants.tenants if t.name.startswith("tenants/conf-")]
    assert left == [], f"the suite left tenants behind: {left}"


def test_suite_without_target_skips_everything(tmp_path: Path) -> None:
    done = _run_suite(tmp_path)
    output = done.stdout + done.stderr
    summary = _summary(done.stdout)
    assert done.returncode in (0, 5), output
    assert "API conformance: no --target given" in done.stdout, output
    assert _count(summary, "skipped") >= MINIMUM_TESTS, output
    for outcome in ("passed", "failed", "error"):
        assert _count(summary, outcome) == 0, output


def test_suite_with_target_but_no_token_is_a_usage_error(tmp_path: Path) -> None:
    done = _run_suite(tmp_path, "--target", "127.0.0.1:1")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "needs --token" in done.stderr, done.stdout + done.stderr
