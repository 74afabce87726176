"""The API suite's fixtures: a channel to ``--target``, the platform administrator of
``--token``, and two fresh tenants (``conf-...``) with a caller of each built-in role,
created through the API at the start of the session and deleted (best effort) at its end.

The options themselves are registered by ``conformance.pytest_plugin``: pytest reads
``pytest_addoption`` only from plugins and initial conftests, which this one is not under
``--pyargs``.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from conformance.api.support import CONNECT_TIMEOUT_S, Caller, Tenant, open_channel
from controlplane.v1 import (
    experiment_service_pb2,
    metadata_service_pb2,
    registry_service_pb2,
    tenant_service_pb2,
)

HERE = Path(__file__).resolve().parent

NO_TARGET = (
    "API conformance: no --target given; run "
    "`pytest --pyargs conformance.api --target HOST:PORT --token PLATFORM_ADMIN_KEY`"
)

#: The roles the suite binds in each of its tenants.
ROLES = {
    "viewer": tenant_service_pb2.ROLE_VIEWER,
    "editor": tenant_service_pb2.ROLE_EDITOR,
    "maintainer": tenant_service_pb2.ROLE_MAINTAINER,
    "approver": tenant_service_pb2.ROLE_APPROVER,
    "admin": tenant_service_pb2.ROLE_ADMIN,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in item.path.resolve().parents]
    if not ours:
        return
    if config.getoption("controlplane_target"):
        if not config.getoption("controlplane_token"):
            raise pytest.UsageError(
                "the API conformance suite needs --token, a platform administrator's API key"
            )
        return
    skip = pytest.mark.skip(reason=NO_TARGET)
    for item in ours:
        item.add_marker(skip)


# -- connection -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def api_channel(pytestconfig: pytest.Config) -> Iterator[grpc.Channel]:
    target = pytestconfig.getoption("controlplane_target")
    if not target:
        pytest.skip(NO_TARGET)
    channel = open_channel(target, pytestconfig.getoption("controlplane_tls_ca"))
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        channel.close()
        pytest.fail(f"cannot connect to --target {target} in {CONNECT_TIMEOUT_S:.0f} s")
    try:
        yield channel
    finally:
        channel.close()


@pytest.fixture(scope="session")
def anonymous(api_channel: grpc.Channel) -> Caller:
    """A caller that sends no credentials."""
    return Caller(api_channel, None)


@pytest.fixture(scope="session")
def platform_admin(pytestconfig: pytest.Config, api_channel: grpc.Channel) -> Caller:
    admin = Caller(api_channel, pytestconfig.getoption("controlplane_token"))
    try:
        caller = admin.tenants.GetCaller(tenant_service_pb2.GetCallerRequest())
    except grpc.RpcError as error:
        pytest.fail(f"GetCaller with --token failed: {error}")
    if tenant_service_pb2.ROLE_PLATFORM_ADMIN not in caller.roles:
        pytest.fail(f"--token must be a platform administrator's key; GetCaller says {caller}")
    admin.principal = caller.principal
    return admin


# -- tenants --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_tag() -> str:
    """Unique to this run: every tenant the suite creates is named ``conf-<tag>-...``."""
    return uuid.uuid4().hex[:10]


def _create_tenant(admin: Caller, tenant_id: str) -> Tenant:
    parent = f"tenants/{tenant_id}"
    admin.tenants.CreateTenant(
        tenant_service_pb2.CreateTenantRequest(
            tenant_id=tenant_id,
            tenant=tenant_service_pb2.Tenant(display_name=f"API conformance {tenant_id}"),
        )
    )
    callers: dict[str, Caller] = {}
    for role_name, role in ROLES.items():
        principal = admin.tenants.CreatePrincipal(
            tenant_service_pb2.CreatePrincipalRequest(
                parent=parent,
                principal_id=role_name,
                principal=tenant_service_pb2.Principal(
                    display_name=f"conformance {role_name}",
                    kind=tenant_service_pb2.Principal.KIND_SERVICE_ACCOUNT,
                ),
            )
        )
        admin.tenants.CreateRoleBinding(
            tenant_service_pb2.CreateRoleBindingRequest(
                parent=parent,
                role_binding=tenant_service_pb2.RoleBinding(principal=principal.name, role=role),
            )
        )
        key = admin.tenants.CreateApiKey(
            tenant_service_pb2.CreateApiKeyRequest(parent=principal.name)
        )
        callers[role_name] = Caller(admin.channel, key.secret, principal.name)
    return Tenant(tenant_id, **callers)


def _delete_all(list_names: Callable[[], list[str]], delete: Callable[[str], object]) -> None:
    """Deletes what ``list_names`` lists until it lists nothing (a few rounds at most)."""
    for _ in range(20):
        found = list_names()
        if not found:
            return
        for name in found:
            delete(name)


def _delete_tenant(admin: Caller, tenant_id: str) -> None:
    """Deletes a tenant the suite created: its models, experiments and metadata, then the
    tenant (its principals, keys and role bindings go with it). Best effort: a failure only
    warns."""
    parent = f"tenants/{tenant_id}"
    md = metadata_service_pb2
    ex = experiment_service_pb2
    rg = registry_service_pb2
    steps: list[tuple[Callable[[], list[str]], Callable[[str], Any]]] = [
        (
            lambda: [
                a.name
                for m in admin.registry.ListRegisteredModels(
                    rg.ListRegisteredModelsRequest(parent=parent, page_size=1000)
                ).registered_models
                for a in admin.registry.ListModelAliases(
                    rg.ListModelAliasesRequest(parent=m.name)
                ).aliases
            ],
            lambda name: admin.registry.DeleteModelAlias(rg.DeleteModelAliasRequest(name=name)),
        ),
        (
            lambda: [
                m.name
                for m in admin.registry.ListRegisteredModels(
                    rg.ListRegisteredModelsRequest(parent=parent, page_size=1000)
                ).registered_models
            ],
            lambda name: admin.registry.DeleteRegisteredModel(
                rg.DeleteRegisteredModelRequest(name=name)
            ),
        ),
        (
            lambda: [
                e.name
                for e in admin.experiments.ListExperiments(
                    ex.ListExperimentsRequest(parent=parent, page_size=1000)
                ).experiments
            ],
            lambda name: admin.experiments.DeleteExperiment(ex.DeleteExperimentRequest(name=name)),
        ),
        (
            lambda: [
                c.name
                for c in admin.metadata.ListContexts(
                    md.ListContextsRequest(parent=parent, page_size=1000)
                ).contexts
            ],
            lambda name: admin.metadata.DeleteContext(md.DeleteContextRequest(name=name)),
        ),
        (
            lambda: [
                e.name
                for e in admin.metadata.ListExecutions(
                    md.ListExecutionsRequest(parent=parent, page_size=1000)
                ).executions
            ],
            lambda name: admin.metadata.DeleteExecution(md.DeleteExecutionRequest(name=name)),
        ),
        (
            lambda: [
                a.name
                for a in admin.metadata.ListArtifacts(
                    md.ListArtifactsRequest(parent=parent, page_size=1000)
                ).artifacts
            ],
            lambda name: admin.metadata.DeleteArtifact(md.DeleteArtifactRequest(name=name)),
        ),
    ]
    try:
        for list_names, delete in steps:
            _delete_all(list_names, delete)
        admin.tenants.DeleteTenant(tenant_service_pb2.DeleteTenantRequest(name=parent))
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return  # never created, or already gone
        warnings.warn(
            f"API conformance: could not delete {parent}: {error.code().name} {error.details()}",
            stacklevel=1,
        )


@pytest.fixture(scope="session")
def tenant_a(platform_admin: Caller, session_tag: str) -> Iterator[Tenant]:
    """The tenant most tests work in."""
    tenant_id = f"conf-{session_tag}-a"
    try:
        yield _create_tenant(platform_admin, tenant_id)
    finally:
        _delete_tenant(platform_admin, tenant_id)


@pytest.fixture(scope="session")
def tenant_b(platform_admin: Caller, session_tag: str) -> Iterator[Tenant]:
    """Another tenant: its callers must learn nothing of ``tenant_a``."""
    tenant_id = f"conf-{session_tag}-b"
    try:
        yield _create_tenant(platform_admin, tenant_id)
    finally:
        _delete_tenant(platform_admin, tenant_id)
