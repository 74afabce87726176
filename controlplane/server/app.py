"""Assembles and runs the server: store, auth, servicers, health, reflection, TLS, signals."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from controlplane.auth.authenticator import Authenticator
from controlplane.auth.authorizer import Authorizer
from controlplane.config import Settings
from controlplane.plugin_loader import LoadedPlugins, load_plugins
from controlplane.registry import Kind
from controlplane.server import bootstrap
from controlplane.server.event_loop import loop_name
from controlplane.server.interceptors import (
    AccessInterceptor,
    DecodeInterceptor,
    ErrorInterceptor,
    TelemetryInterceptor,
)
from controlplane.server.methods import services
from controlplane.server.registration import add_service
from controlplane.services.artifacts import ArtifactService, BlobStore
from controlplane.services.audit import AuditService
from controlplane.services.base import Services, WatchLimits
from controlplane.services.experiments import ExperimentService
from controlplane.services.governance import GovernanceService
from controlplane.services.metadata import MetadataService
from controlplane.services.model_cards import ModelCardService
from controlplane.services.plugins import PluginService
from controlplane.services.registry import RegistryService
from controlplane.services.tenants import TenantService
from controlplane.store import migrate
from controlplane.store.db import Database
from controlplane.store.pagination import PageTokens
from controlplane.v1 import (
    artifact_service_pb2_grpc,
    audit_service_pb2_grpc,
    experiment_service_pb2_grpc,
    governance_service_pb2_grpc,
    metadata_service_pb2_grpc,
    model_card_service_pb2_grpc,
    plugin_service_pb2_grpc,
    registry_service_pb2_grpc,
    tenant_service_pb2_grpc,
)

if TYPE_CHECKING:
    # grpc_health-stubs lacks the asyncio servicer (health.aio is grpc_health.v1._async).
    from grpc_health.v1._async import HealthServicer as AsyncHealthServicer

log = logging.getLogger("controlplane.server")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


# The embedded store's upkeep while the server runs: planner statistics, and WAL checkpoints
# (off the writer, so no commit pays for one; a checkpoint with nothing to do costs ~0.1 ms).
ANALYZE_EVERY_SECONDS = 300.0
CHECKPOINT_EVERY_SECONDS = 0.5


async def _repeat(every_seconds: float, what: str, action: Callable[[], Awaitable[Any]]) -> None:
    """Runs ``action`` every ``every_seconds`` until cancelled; a failure is logged and the
    next round tries again."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await action()
        except Exception:
            log.exception("%s failed; will retry", what)


def _maintain(db: Database, settings: Settings) -> list[asyncio.Task[None]]:
    loop = asyncio.get_running_loop()
    # Watchers wake at once for commits through this server, and on PostgreSQL for those of
    # other servers (NOTIFY); this poll is the fallback (one query per watched feed and tenant).
    feeds = _repeat(settings.watch_poll_seconds, "polling the watched feeds", db.poll_feeds)
    tasks = [loop.create_task(feeds)]
    if db.is_sqlite:
        statistics = _repeat(ANALYZE_EVERY_SECONDS, "refreshing SQLite statistics", db.analyze)
        checkpoints = _repeat(CHECKPOINT_EVERY_SECONDS, "checkpointing the WAL", db.checkpoint)
        tasks += [loop.create_task(statistics), loop.create_task(checkpoints)]
    return tasks


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    services: Services
    health: AsyncHealthServicer
    admin_key: str | None
    maintenance: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self, grace: float | None = 5.0) -> None:
        await self.health.enter_graceful_shutdown()
        self.services.db.feeds.close()  # open watches end now (OK) instead of using the grace
        await self.server.stop(grace)
        await self.services.authorizer.stop()
        for task in self.maintenance:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.services.db.dispose()


def _credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if not settings.tls_cert:
        return None
    if not settings.tls_key:
        raise ValueError("--tls-cert needs --tls-key")
    chain = [(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())]
    if settings.tls_client_ca:
        return grpc.ssl_server_credentials(
            chain, root_certificates=settings.tls_client_ca.read_bytes(), require_client_auth=True
        )
    return grpc.ssl_server_credentials(chain)


def artifact_store(plugins: LoadedPlugins, settings: Settings) -> BlobStore:
    """The configured artifact store, built by the plugin that provides it."""
    try:
        provision = plugins.registry.get(Kind.ARTIFACT_STORE, settings.artifact_store)
    except KeyError as error:
        raise ValueError(f"--artifact-store: {error.args[0]}") from None
    root = settings.resolved_artifact_root()
    try:
        store = provision.factory(root)
    except Exception as error:
        raise ValueError(
            f"the artifact store {provision.name!r} (plugin {provision.plugin!r}) could not "
            f"start at {root!r}: {type(error).__name__}: {error}"
        ) from error
    return BlobStore(store=store, plugin=provision.plugin, name=provision.name)


def listen_address(settings: Settings, port: int) -> str:
    """``--listen`` with the port the server got (``127.0.0.1:0`` becomes ``127.0.0.1:43121``)."""
    if settings.listen.startswith("unix"):
        return settings.listen
    return f"{settings.listen.rsplit(':', 1)[0]}:{port}"


def _bind_problem(listen: str) -> str:
    """Why ``listen`` cannot be bound, found by trying it: gRPC says only that it failed."""
    host, _, port = listen.rpartition(":")
    try:
        found = socket.getaddrinfo(
            host.strip("[]") or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (OSError, ValueError):
        return "not an address this machine can listen on"
    for family, kind, protocol, _, address in found:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return "address already in use (is another server listening there?)"
                return error.strerror or str(error)
    return "gRPC could not bind it (GRPC_VERBOSITY=debug says why)"


def _listen(
    server: grpc.aio.Server, listen: str, credentials: grpc.ServerCredentials | None
) -> int:
    """Binds ``listen`` and returns the port; an address that cannot be bound (one in use
    above all) is an OSError that says why."""
    try:
        if credentials:
            return server.add_secure_port(listen, credentials)
        return server.add_insecure_port(listen)
    except RuntimeError:
        if listen.startswith("unix"):
            raise OSError(f"cannot listen on {listen}") from None
        raise OSError(f"cannot listen on {listen}: {_bind_problem(listen)}") from None


async def start(settings: Settings, plugins: LoadedPlugins | None = None) -> RunningServer:
    """Starts serving; ``plugins`` replaces discovery through entry points (embedding, tests)."""
    # The data dir holds the admin key file, and the embedded database: create it on first use.
    settings.resolved_data_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    plugins = plugins if plugins is not None else load_plugins()
    blobs = artifact_store(plugins, settings)
    db = Database(settings.resolved_database_url(), durability=settings.durability)
    try:
        await migrate.ensure_schema(db, auto_upgrade_empty=settings.embedded)
        tokens = PageTokens(await bootstrap.page_token_key(db))
        admin_key = await bootstrap.ensure_platform_admin(db, settings.admin_key_path)
        authorizer = Authorizer(db)
        await authorizer.load()
        await db.analyze()
        await db.listen_to_feeds()
    except BaseException:
        await db.dispose()
        raise
    shared = Services(
        db=db,
        tokens=tokens,
        authenticator=Authenticator(db),
        authorizer=authorizer,
        plugins=plugins,
        artifact_store=blobs,
        watch=WatchLimits(max_seconds=settings.watch_max_seconds),
    )

    server = grpc.aio.server(
        interceptors=[
            TelemetryInterceptor(),
            ErrorInterceptor(),
            DecodeInterceptor(),
            AccessInterceptor(shared.authenticator, shared.authorizer),
        ],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # gRPC turns SO_REUSEPORT on by default: a second server on a taken port would
            # start and share it, each connection landing on one of two stores at random.
            ("grpc.so_reuseport", 0),
        ],
    )
    for add_to_server, servicer in (
        (tenant_service_pb2_grpc.add_TenantServiceServicer_to_server, TenantService(shared)),
        (metadata_service_pb2_grpc.add_MetadataServiceServicer_to_server, MetadataService(shared)),
        (
            experiment_service_pb2_grpc.add_ExperimentServiceServicer_to_server,
            ExperimentService(shared),
        ),
        (artifact_service_pb2_grpc.add_ArtifactServiceServicer_to_server, ArtifactService(shared)),
        (plugin_service_pb2_grpc.add_PluginServiceServicer_to_server, PluginService(shared)),
        (registry_service_pb2_grpc.add_RegistryServiceServicer_to_server, RegistryService(shared)),
        (
            model_card_service_pb2_grpc.add_ModelCardServiceServicer_to_server,
            ModelCardService(shared),
        ),
        (audit_service_pb2_grpc.add_AuditServiceServicer_to_server, AuditService(shared)),
        (
            governance_service_pb2_grpc.add_GovernanceServiceServicer_to_server,
            GovernanceService(shared),
        ),
    ):
        add_service(server, add_to_server, servicer)

    # grpc_health-stubs has no health.aio (the asyncio servicer); it exists at runtime.
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    add_service(server, health_pb2_grpc.add_HealthServicer_to_server, health_servicer)
    names = [svc.full_name for svc in services()]
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )

    try:
        credentials = _credentials(settings)
        port = _listen(server, settings.listen, credentials)
        await server.start()
    except BaseException:  # a port in use, unreadable certificates: leave nothing open
        await server.stop(None)
        await db.dispose()
        raise
    authorizer.start()
    bootstrap.record_addresses(settings.server_address_path, [listen_address(settings, port)])
    maintenance = _maintain(db, settings)
    log.info(
        "serving",
        extra={
            "listen": settings.listen,
            "port": port,
            "tls": credentials is not None,
            "database": db.url.split("://", 1)[0],
            "event_loop": loop_name(asyncio.get_running_loop()),
        },
    )
    return RunningServer(server, port, shared, health_servicer, admin_key, maintenance)


def admin_key_notice(key: str, settings: Settings, terminal: bool) -> str:
    """What the first start says about the administrator's key: the key itself only to a
    terminal; stdout redirected is a log (journald, a file, a container's), and logs never
    hold a secret."""
    created = "Created the platform administrator."
    where = f"{settings.admin_key_path} (mode 0600, readable by you only)"
    if terminal:
        return f"{created} Its API key (shown once; also in {where}):\n{key}"
    return f"{created} Its API key is in {where}."


async def serve(settings: Settings) -> None:
    """Runs until SIGTERM or SIGINT, then drains: health turns NOT_SERVING, in-flight calls
    get ``grace_seconds`` to finish, then connections close."""
    # Handlers first: a signal that arrives while the server starts (or right after its
    # listening line) stops it gracefully instead of killing it with the default action.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    running = await start(settings)
    if running.admin_key:
        print(admin_key_notice(running.admin_key, settings, sys.stdout.isatty()), flush=True)
    print(f"controlplane listening on {listen_address(settings, running.port)}", flush=True)
    await stopping.wait()
    log.info("shutting down", extra={"grace_seconds": settings.grace_seconds})
    await running.stop(settings.grace_seconds)
