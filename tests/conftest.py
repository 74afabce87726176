"""Shared fixtures: a real server per storage backend (SQLite file, PostgreSQL on
127.0.0.1:5432), real gRPC clients, and tenants with a principal per role.

Every test that takes ``server`` (or anything built on it) runs once per backend."""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest

from controlplane.config import Settings
from controlplane.server.app import RunningServer, start
from controlplane.store import migrate
from controlplane.store.db import Database
from controlplane.v1 import (
    artifact_service_pb2_grpc,
    audit_service_pb2_grpc,
    experiment_service_pb2_grpc,
    governance_service_pb2_grpc,
    metadata_service_pb2_grpc,
    model_card_service_pb2_grpc,
    plugin_service_pb2_grpc,
    registry_service_pb2_grpc,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
)

PG_ADMIN_URL = os.environ.get("CONTROLPLANE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgres"]

ROLES = {
    "viewer": tenant_service_pb2.ROLE_VIEWER,
    "editor": tenant_service_pb2.ROLE_EDITOR,
    "maintainer": tenant_service_pb2.ROLE_MAINTAINER,
    "approver": tenant_service_pb2.ROLE_APPROVER,
    "admin": tenant_service_pb2.ROLE_ADMIN,
}


@dataclass
class Api:
    """Stubs for one caller (a bearer token) on one channel."""

    channel: grpc.aio.Channel
    token: str
    principal: str = ""
    tenants: tenant_service_pb2_grpc.TenantServiceStub = field(init=False)
    metadata: metadata_service_pb2_grpc.MetadataServiceStub = field(init=False)
    experiments: experiment_service_pb2_grpc.ExperimentServiceStub = field(init=False)
    artifacts: artifact_service_pb2_grpc.ArtifactServiceStub = field(init=False)
    plugins: plugin_service_pb2_grpc.PluginServiceStub = field(init=False)
    audit: audit_service_pb2_grpc.AuditServiceStub = field(init=False)
    registry: registry_service_pb2_grpc.RegistryServiceStub = field(init=False)
    governance: governance_service_pb2_grpc.GovernanceServiceStub = field(init=False)
    cards: model_card_service_pb2_grpc.ModelCardServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.tenants = tenant_service_pb2_grpc.TenantServiceStub(self.channel)
        self.metadata = metadata_service_pb2_grpc.MetadataServiceStub(self.channel)
        self.experiments = experiment_service_pb2_grpc.ExperimentServiceStub(self.channel)
        self.artifacts = artifact_service_pb2_grpc.ArtifactServiceStub(self.channel)
        self.plugins = plugin_service_pb2_grpc.PluginServiceStub(self.channel)
        self.audit = audit_service_pb2_grpc.AuditServiceStub(self.channel)
        self.registry = registry_service_pb2_grpc.RegistryServiceStub(self.channel)
        self.governance = governance_service_pb2_grpc.GovernanceServiceStub(self.channel)
        self.cards = model_card_service_pb2_grpc.ModelCardServiceStub(self.channel)

    @property
    def auth(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")]

    async def call(self, stub_method: Any, request: Any) -> Any:
        return await stub_method(request, metadata=self.auth)


# The server connects as an ordinary role, as it must in production: superusers (and
# BYPASSRLS roles) are exempt from row-level security, which the tests rely on being active.
PG_APP_ROLE = "controlplane_test_app"


async def _create_pg_database() -> tuple[str, str]:
    name = f"cp_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", PG_APP_ROLE)
        if not exists:
            # Another test worker may create it at the same moment; then it exists, as wanted.
            with contextlib.suppress(asyncpg.PostgresError):
                await connection.execute(
                    f"CREATE ROLE {PG_APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB"
                )
        await connection.execute(f'CREATE DATABASE "{name}" OWNER {PG_APP_ROLE}')
    finally:
        await connection.close()
    host = PG_ADMIN_URL.split("@", 1)[1].rsplit("/", 1)[0]
    return name, f"postgresql://{PG_APP_ROLE}@{host}/{name}"


async def _drop_pg_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    backend = request.param
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'controlplane.db'}"
        return
    name, url = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
async def server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServer]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    if database_url.startswith("postgresql"):
        db = Database(database_url)
        await migrate.upgrade(db)  # PostgreSQL is upgraded explicitly, as `mlctl db upgrade` does
        await db.dispose()
    running = await start(
        Settings(listen="127.0.0.1:0", data_dir=data_dir, database_url=database_url)
    )
    assert running.admin_key, "an empty store must create the platform administrator"
    try:
        yield running
    finally:
        await running.stop(0)


@pytest.fixture(scope="session")
async def channel(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as chan:
        yield chan


@pytest.fixture(scope="session")
def sync_channel(server: RunningServer) -> Iterator[grpc.Channel]:
    """A synchronous channel to the server, for client streams (``tests.streams`` says why)."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as chan:
        yield chan


@pytest.fixture(scope="session")
def admin(server: RunningServer, channel: grpc.aio.Channel) -> Api:
    assert server.admin_key
    return Api(channel, server.admin_key, "tenants/platform/principals/admin")


_tenant_numbers = itertools.count()


@dataclass
class TenantWorld:
    """A tenant with one principal (and API key) per built-in role, plus one with no role."""

    tenant_id: str
    name: str
    callers: dict[str, Api]

    def __getitem__(self, role: str) -> Api:
        return self.callers[role]


async def make_tenant(admin: Api, channel: grpc.aio.Channel, prefix: str = "t") -> TenantWorld:
    tenant_id = f"{prefix}{next(_tenant_numbers)}-{uuid.uuid4().hex[:6]}"
    parent = f"tenants/{tenant_id}"
    await admin.call(
        admin.tenants.CreateTenant,
        tenant_service_pb2.CreateTenantRequest(
            tenant_id=tenant_id, tenant=tenant_service_pb2.Tenant(display_name=tenant_id)
        ),
    )
    callers: dict[str, Api] = {}
    for role_name, role in [*ROLES.items(), ("none", None)]:
        principal = await admin.call(
            admin.tenants.CreatePrincipal,
            tenant_service_pb2.CreatePrincipalRequest(parent=parent, principal_id=role_name),
        )
        key = await admin.call(
            admin.tenants.CreateApiKey,
            tenant_service_pb2.CreateApiKeyRequest(parent=principal.name),
        )
        if role is not None:
            await admin.call(
                admin.tenants.CreateRoleBinding,
                tenant_service_pb2.CreateRoleBindingRequest(
                    parent=parent,
                    role_binding=tenant_service_pb2.RoleBinding(
                        principal=principal.name, role=role
                    ),
                ),
            )
        callers[role_name] = Api(channel, key.secret, principal.name)
    return TenantWorld(tenant_id, parent, callers)


@pytest.fixture
async def world(admin: Api, channel: grpc.aio.Channel) -> TenantWorld:
    return await make_tenant(admin, channel)


@pytest.fixture
async def other_world(admin: Api, channel: grpc.aio.Channel) -> TenantWorld:
    return await make_tenant(admin, channel, prefix="o")
