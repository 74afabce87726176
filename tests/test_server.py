"""The server's edges: error mapping, health, reflection for foreign clients, TLS."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from controlplane import errors
from controlplane.config import Settings
from controlplane.server import app
from controlplane.server.app import RunningServer, start
from controlplane.server.errors import INTERNAL_MESSAGE, to_status
from controlplane.server.interceptors import ErrorInterceptor
from controlplane.server.registration import add_service
from controlplane.store.db import Database
from controlplane.v1 import tenant_service_pb2 as tn
from controlplane.v1 import tenant_service_pb2_grpc as tn_grpc

ROOT = Path(__file__).resolve().parents[1]
BUF = ROOT / "node_modules" / ".bin" / "buf"


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (
            errors.InvalidArgument.for_field("a.b", "bad"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            errors.InvalidPageToken.for_field("page_token", "bad"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_PAGE_TOKEN",
        ),
        (
            errors.RequestIdReused.for_field("request_id", "bad"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "REQUEST_ID_REUSED",
        ),
        (errors.NotFound.resource("tenants/a"), grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
        (
            errors.AlreadyExists.resource("tenants/a"),
            grpc.StatusCode.ALREADY_EXISTS,
            "ALREADY_EXISTS",
        ),
        (
            errors.FailedPrecondition("no"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "FAILED_PRECONDITION",
        ),
        (errors.ParamAlreadySet("no"), grpc.StatusCode.FAILED_PRECONDITION, "PARAM_ALREADY_SET"),
        (errors.EtagMismatch.resource("tenants/a"), grpc.StatusCode.ABORTED, "ETAG_MISMATCH"),
        (errors.Conflict("race"), grpc.StatusCode.ABORTED, "CONFLICT"),
        (errors.PermissionDenied("no"), grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
        (errors.Unauthenticated("who"), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
    ],
)
def test_domain_errors_map_to_status_with_error_info(
    error: errors.ControlPlaneError, code: grpc.StatusCode, reason: str
) -> None:
    status = to_status(error)
    assert status.code == code
    assert status.details == error.message
    decoded = rpc_status.status_pb2.Status.FromString(
        dict(status.trailing_metadata)["grpc-status-details-bin"]
    )
    info = error_details_pb2.ErrorInfo()
    assert decoded.details[0].Unpack(info)
    assert (info.reason, info.domain) == (reason, "controlplane.dev")
    if error.violations:
        bad = error_details_pb2.BadRequest()
        assert decoded.details[1].Unpack(bad)
        assert [v.field for v in bad.field_violations] == [v.field for v in error.violations]


@pytest.fixture
async def failing_server() -> AsyncIterator[int]:
    """A bare server whose only method raises an unexpected exception."""

    async def explode(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        raise RuntimeError("secret detail: password=hunter2")

    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.Boom", {"Explode": grpc.unary_unary_rpc_method_handler(explode)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield port
    await server.stop(0)


async def test_unexpected_errors_are_internal_with_a_generic_message(
    failing_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{failing_server}") as channel:
        call = channel.unary_unary("/test.Boom/Explode")
        with caplog.at_level(logging.ERROR), pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"")
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == INTERNAL_MESSAGE
    assert "hunter2" not in str(caught.value)
    assert "hunter2" in caplog.text  # the detail is in the log, not on the wire


async def test_health_service_reports_serving_without_credentials(
    channel: grpc.aio.Channel,
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "controlplane.v1.ExperimentService"):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def _buf_curl(*args: str) -> str:
    assert BUF.exists(), "run `npm ci` first: the buf CLI comes from npm (@bufbuild/buf)"
    process = await asyncio.create_subprocess_exec(
        str(BUF),
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        "grpc-v1alpha",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_buf_curl_lists_services_by_reflection_and_calls_an_rpc(
    server: RunningServer,
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    listed = await _buf_curl("--list-methods", base)
    assert "controlplane.v1.ExperimentService/SearchRuns" in listed
    assert "controlplane.v1.TenantService/GetCaller" in listed
    assert "controlplane.v1.MetadataService/QueryLineageSubgraph" in listed
    answer = await _buf_curl(
        "-H",
        f"authorization: Bearer {server.admin_key}",
        "-d",
        "{}",
        f"{base}/controlplane.v1.TenantService/GetCaller",
    )
    assert json.loads(answer) == {
        "principal": "tenants/platform/principals/admin",
        "roles": ["ROLE_PLATFORM_ADMIN"],
    }


def _certificate(
    directory: Path, name: str, *, signer: tuple[Path, Path] | None = None
) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    subject = ["-subj", f"/CN={name}"]
    if signer is None:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                *subject,
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        return key, cert
    csr = directory / f"{name}.csr"
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            *subject,
            "-keyout",
            str(key),
            "-out",
            str(csr),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(signer[1]),
            "-CAkey",
            str(signer[0]),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


async def test_tls_and_mutual_tls(tmp_path: Path) -> None:
    server_key, server_cert = _certificate(tmp_path, "server")
    ca_key, ca_cert = _certificate(tmp_path, "client-ca")
    client_key, client_cert = _certificate(tmp_path, "client", signer=(ca_key, ca_cert))
    running = await start(
        Settings(
            listen="127.0.0.1:0",
            data_dir=tmp_path / "data",
            tls_cert=server_cert,
            tls_key=server_key,
            tls_client_ca=ca_cert,
        )
    )
    try:
        target = f"127.0.0.1:{running.port}"
        auth = [("authorization", f"Bearer {running.admin_key}")]
        with_client_cert = grpc.ssl_channel_credentials(
            server_cert.read_bytes(), client_key.read_bytes(), client_cert.read_bytes()
        )
        async with grpc.aio.secure_channel(target, with_client_cert) as channel:
            caller = await tn_grpc.TenantServiceStub(channel).GetCaller(
                tn.GetCallerRequest(), metadata=auth
            )
            assert caller.principal == "tenants/platform/principals/admin"
        async with grpc.aio.secure_channel(
            target, grpc.ssl_channel_credentials(server_cert.read_bytes())
        ) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await tn_grpc.TenantServiceStub(channel).GetCaller(
                    tn.GetCallerRequest(), metadata=auth, timeout=5
                )
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.insecure_channel(target) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await tn_grpc.TenantServiceStub(channel).GetCaller(
                    tn.GetCallerRequest(), metadata=auth, timeout=5
                )
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await running.stop(0)


async def test_second_start_on_the_same_store_creates_no_new_admin(tmp_path: Path) -> None:
    settings = Settings(listen="127.0.0.1:0", data_dir=tmp_path)
    first = await start(settings)
    await first.stop(0)
    key = settings.admin_key_path.read_text()
    assert settings.admin_key_path.stat().st_mode & 0o777 == 0o600
    second = await start(settings)
    try:
        assert second.admin_key is None
        assert settings.admin_key_path.read_text() == key
    finally:
        await second.stop(0)


async def test_a_second_server_on_a_taken_port_fails_to_start_saying_the_address_is_in_use(
    tmp_path: Path,
) -> None:
    # gRPC's default SO_REUSEPORT would let the second share the port (and its clients land
    # on either store at random).
    first = await start(Settings(listen="127.0.0.1:0", data_dir=tmp_path / "first"))
    try:
        taken = f"127.0.0.1:{first.port}"
        with pytest.raises(OSError, match=f"^cannot listen on {taken}: address already in use"):
            await start(Settings(listen=taken, data_dir=tmp_path / "second"))
        async with grpc.aio.insecure_channel(taken) as channel:
            response = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await first.stop(0)


async def test_the_server_records_where_it_listens_next_to_its_admin_key(tmp_path: Path) -> None:
    settings = Settings(listen="127.0.0.1:0", data_dir=tmp_path)
    running = await start(settings)
    try:
        assert settings.server_address_path.parent == settings.admin_key_path.parent
        assert settings.server_address_path.read_text() == f"127.0.0.1:{running.port}\n"
    finally:
        await running.stop(0)


async def test_the_data_dir_and_the_embedded_store_are_readable_by_their_owner_only(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "new" / "data"
    running = await start(Settings(listen="127.0.0.1:0", data_dir=data_dir))
    try:
        assert data_dir.stat().st_mode & 0o777 == 0o700
        names = ["controlplane.db", "controlplane.db-wal", "controlplane.db-shm"]
        names += ["admin.key", "server.address"]
        modes = {name: (data_dir / name).stat().st_mode & 0o777 for name in names}
        assert modes == dict.fromkeys(names, 0o600)
    finally:
        await running.stop(0)


def test_the_admin_key_is_shown_to_a_terminal_only(tmp_path: Path) -> None:
    """Stdout that is not a terminal is a log (a file, journald, a container's): it is told
    where the key is, never the key."""
    settings = Settings(data_dir=tmp_path)
    shown = app.admin_key_notice("cpk_1_secret", settings, terminal=True)
    assert shown.endswith("\ncpk_1_secret") and str(settings.admin_key_path) in shown
    logged = app.admin_key_notice("cpk_1_secret", settings, terminal=False)
    assert "cpk_" not in logged and str(settings.admin_key_path) in logged


def test_logs_leave_out_each_migration_step_and_casbin_policy_line() -> None:
    from controlplane.server import logs

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    chatty = [logging.getLogger(name) for name in ("alembic", "casbin")]
    saved_levels = [logger.level for logger in chatty]
    try:
        logs.configure("json", "INFO")
        assert not logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
        assert not logging.getLogger("casbin.policy").isEnabledFor(logging.INFO)
        assert logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.WARNING)
        assert logging.getLogger("controlplane.server").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for logger, level in zip(chatty, saved_levels, strict=True):
            logger.setLevel(level)


async def test_the_embedded_store_is_checkpointed_while_the_server_runs_and_not_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits leave WAL checkpoints to the server's upkeep (controlplane.store.inline_sqlite),
    so the server must run them, and stop running them when it stops."""
    monkeypatch.setattr(app, "CHECKPOINT_EVERY_SECONDS", 0.02)
    calls: list[tuple[int, int]] = []
    checkpoint = Database.checkpoint

    async def counted(db: Database) -> tuple[int, int]:
        result = await checkpoint(db)
        calls.append(result)
        return result

    monkeypatch.setattr(Database, "checkpoint", counted)
    running = await start(Settings(listen="127.0.0.1:0", data_dir=tmp_path))
    try:
        for _ in range(200):
            if len(calls) >= 3:
                break
            await asyncio.sleep(0.02)
        assert len(calls) >= 3
    finally:
        await running.stop(0)
    after_stop = len(calls)
    await asyncio.sleep(0.1)
    assert len(calls) == after_stop


async def test_services_are_served_as_generic_handlers_only() -> None:
    """grpc.aio waits on one pending call per pre-registered method for every incoming RPC;
    ``add_service`` registers a service's generic handler and nothing per method."""

    class Recording:
        def __init__(self) -> None:
            self.generic: list[object] = []
            self.registered: list[str] = []

        def add_generic_rpc_handlers(self, handlers: Any) -> None:
            self.generic.extend(handlers)

        def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
            self.registered.append(service)

    recording = Recording()
    add_service(
        cast(grpc.aio.Server, recording),
        tn_grpc.add_TenantServiceServicer_to_server,
        tn_grpc.TenantServiceServicer(),
    )
    assert len(recording.generic) == 1
    assert recording.registered == []


@pytest.fixture(scope="session")
def telemetry() -> tuple[object, object]:
    """In-memory OpenTelemetry providers, installed once per process (they cannot be replaced)."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return spans, reader


async def test_every_rpc_gets_a_span_and_a_duration_measurement(
    world: object, telemetry: tuple[Any, Any]
) -> None:
    spans, reader = telemetry
    spans.clear()
    viewer = world["viewer"]  # type: ignore[index]
    await viewer.call(viewer.tenants.GetCaller, tn.GetCallerRequest())
    with pytest.raises(grpc.aio.AioRpcError):
        await viewer.call(viewer.tenants.GetPrincipal, tn.GetPrincipalRequest(name="bad"))

    finished = {span.name: span for span in spans.get_finished_spans()}
    ok = finished["controlplane.v1.TenantService/GetCaller"]
    assert ok.attributes is not None and ok.attributes["rpc.grpc.status_code"] == "OK"
    failed = finished["controlplane.v1.TenantService/GetPrincipal"]
    assert failed.attributes is not None
    assert failed.attributes["rpc.grpc.status_code"] == "INVALID_ARGUMENT"
    data = reader.get_metrics_data()
    assert data is not None
    names = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert "rpc.server.duration" in names


def test_json_logs_are_one_object_per_line_with_extras() -> None:
    from controlplane.server.logs import JsonFormatter

    record = logging.LogRecord("controlplane.rpc", logging.INFO, "f", 1, "served %s", ("x",), None)
    record.port = 7470
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["level"], entry["message"], entry["port"]) == ("INFO", "served x", 7470)
