"""Authentication, the RBAC table, and tenant isolation, over the real gRPC server."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from controlplane.auth.authorizer import Authorizer
from controlplane.auth.roles import PLATFORM_TENANT, ROLE_PERMISSIONS
from controlplane.server.methods import method_table
from controlplane.store.db import Database
from controlplane.v1 import artifact_service_pb2 as ar
from controlplane.v1 import experiment_service_pb2 as ex
from controlplane.v1 import metadata_service_pb2 as md
from controlplane.v1 import registry_service_pb2 as rg
from controlplane.v1 import tenant_service_pb2 as tn
from tests.conftest import Api, TenantWorld, make_tenant
from tests.rpc_samples import SAMPLES, invoke, populate

# The specification the server must meet: the least role that may call each RPC.
# "any": every authenticated caller; "platform": platform administrators only.
MINIMUM_ROLE = {
    "CreateTenant": "platform",
    "DeleteTenant": "platform",
    "UpdateArtifactQuota": "platform",
    "CollectArtifactGarbage": "platform",
    "ListPlugins": "any",
    "ListAuditEvents": "admin",
    "ListTenants": "any",
    "GetCaller": "any",
    "GetTenant": "viewer",
    "UpdateTenant": "admin",
    **{
        name: "admin"
        for name in (
            "CreatePrincipal",
            "GetPrincipal",
            "ListPrincipals",
            "UpdatePrincipal",
            "DeletePrincipal",
            "CreateApiKey",
            "ListApiKeys",
            "DeleteApiKey",
            "CreateRoleBinding",
            "ListRoleBindings",
            "DeleteRoleBinding",
        )
    },
    **{
        name: "viewer"
        for name in (
            "GetArtifact",
            "ListArtifacts",
            "GetExecution",
            "ListExecutions",
            "GetContext",
            "ListContexts",
            "QueryLineageSubgraph",
            "GetExperiment",
            "ListExperiments",
            "GetRun",
            "SearchRuns",
            "GetMetricHistory",
            "DownloadArtifactContent",
            "GetArtifactContent",
            "GetArtifactQuota",
        )
    },
    **{
        name: "editor"
        for name in (
            "CreateArtifact",
            "UpdateArtifact",
            "CreateExecution",
            "UpdateExecution",
            "CreateContext",
            "UpdateContext",
            "AddContextArtifactsAndExecutions",
            "AddExecutionEvents",
            "CreateExperiment",
            "UpdateExperiment",
            "CreateRun",
            "UpdateRun",
            "LogParams",
            "LogMetricBatch",
            "LogMetrics",
            "UploadArtifactContent",
        )
    },
    **{
        name: "maintainer"
        for name in (
            "DeleteArtifact",
            "DeleteExecution",
            "DeleteContext",
            "DeleteExperiment",
            "DeleteRun",
        )
    },
    # RegistryService: aliases decide what serves, so moving one is a maintainer's call.
    **{
        name: "viewer"
        for name in (
            "GetRegisteredModel",
            "ListRegisteredModels",
            "GetModelVersion",
            "ListOnlineEvaluations",
            "ListModelVersions",
            "GetModelAlias",
            "ListModelAliases",
            "ListModelAliasHistory",
            "WatchModelAliasChanges",
            "GetModelCard",
            "RenderModelCard",
        )
    },
    **{
        name: "editor"
        for name in (
            "CreateRegisteredModel",
            "UpdateRegisteredModel",
            "CreateModelVersion",
            "UpdateModelVersion",
            "RecordOnlineEvaluation",
            "UpdateModelCard",
        )
    },
    **{
        name: "maintainer"
        for name in (
            "DeleteRegisteredModel",
            "DeleteModelVersion",
            "SetModelAlias",
            "DeleteModelAlias",
        )
    },
    # GovernanceService. "approver": the approver role ONLY (separation of duties: no other
    # role, however high, reviews a version).
    "GetReleasePolicy": "viewer",
    "EvaluateReleasePolicy": "viewer",
    "CompareModelVersions": "viewer",
    "ListGovernanceEvents": "viewer",
    "WatchGovernanceEvents": "viewer",
    "SubmitModelVersion": "editor",
    "ApproveModelVersion": "approver",
    "RejectModelVersion": "approver",
    "ReleaseModelVersion": "maintainer",
    "RetireModelVersion": "maintainer",
    "RollbackModelAlias": "maintainer",
    "UpdateReleasePolicy": "admin",
}
RANK = {
    "none": 0,
    "viewer": 1,
    "approver": 1,
    "editor": 2,
    "maintainer": 3,
    "admin": 4,
    "any": 0,
    "platform": 99,
}


def test_every_rpc_has_a_permission_a_sample_and_a_specified_role() -> None:
    table = method_table()
    granted = set().union(*ROLE_PERMISSIONS.values())
    for method in table.values():
        assert method.permission, method.full_name
        assert method.public or method.permission in granted, f"no role grants {method.permission}"
        assert method.name in SAMPLES, (
            f"add a sample request for {method.name} to tests/rpc_samples.py"
        )
        assert method.name in MINIMUM_ROLE, f"specify who may call {method.name}"
    declared = {method.permission for method in table.values()}
    assert granted <= declared, f"roles grant permissions no RPC uses: {granted - declared}"


@pytest.mark.parametrize("role", ["none", "viewer", "approver", "editor", "maintainer", "admin"])
async def test_rbac_table(role: str, world: TenantWorld) -> None:
    resources = await populate(world)
    caller = world[role]
    outcomes = {}
    for method in method_table().values():
        request = SAMPLES[method.name](resources)
        try:
            await invoke(caller, method, request)
            outcomes[method.name] = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as error:
            outcomes[method.name] = error.code()
    for name, code in outcomes.items():
        minimum = MINIMUM_ROLE[name]
        if minimum == "approver":  # not a rank: only the approver role itself
            allowed = role == "approver"
        else:
            allowed = minimum == "any" or RANK[role] >= RANK[minimum]
        if allowed:
            assert code not in (
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.UNAUTHENTICATED,
            ), (name, code)
        else:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (name, code)


async def test_cross_tenant_sweep_reveals_nothing_and_changes_nothing(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    victim = await populate(world)
    intruder = other_world["admin"]  # every tenant permission, but in another tenant
    before = await _snapshot(world["admin"], victim)
    for method in method_table().values():
        request = SAMPLES[method.name](victim)
        try:
            response = await invoke(intruder, method, request)
        except grpc.aio.AioRpcError as error:
            expected = (
                grpc.StatusCode.PERMISSION_DENIED
                if MINIMUM_ROLE[method.name] == "platform"
                else grpc.StatusCode.NOT_FOUND
            )
            assert error.code() == expected, (method.name, error.code(), error.details())
            assert (
                world.tenant_id not in (error.details() or "")
                or expected == grpc.StatusCode.NOT_FOUND
            )
            continue
        assert MINIMUM_ROLE[method.name] == "any", (
            f"{method.name} answered a caller of another tenant"
        )
        assert world.tenant_id not in str(response), method.name
    assert await _snapshot(world["admin"], victim) == before


async def _snapshot(admin: Api, r: object) -> list[str]:
    resources = r  # a tests.rpc_samples.Resources
    calls = [
        (admin.tenants.GetTenant, tn.GetTenantRequest(name=resources.tenant)),  # type: ignore[attr-defined]
        (admin.tenants.GetPrincipal, tn.GetPrincipalRequest(name=resources.principal)),  # type: ignore[attr-defined]
        (admin.tenants.ListApiKeys, tn.ListApiKeysRequest(parent=resources.principal)),  # type: ignore[attr-defined]
        (admin.tenants.ListRoleBindings, tn.ListRoleBindingsRequest(parent=resources.tenant)),  # type: ignore[attr-defined]
        (admin.experiments.GetExperiment, ex.GetExperimentRequest(name=resources.experiment)),  # type: ignore[attr-defined]
        (admin.experiments.GetRun, ex.GetRunRequest(name=resources.run)),  # type: ignore[attr-defined]
        (admin.experiments.ListExperiments, ex.ListExperimentsRequest(parent=resources.tenant)),  # type: ignore[attr-defined]
        (admin.metadata.GetArtifact, md.GetArtifactRequest(name=resources.artifact)),  # type: ignore[attr-defined]
        (
            admin.artifacts.GetArtifactQuota,
            ar.GetArtifactQuotaRequest(name=f"{resources.tenant}/artifactQuota"),  # type: ignore[attr-defined]
        ),
        (admin.metadata.GetExecution, md.GetExecutionRequest(name=resources.execution)),  # type: ignore[attr-defined]
        (admin.metadata.GetContext, md.GetContextRequest(name=resources.context)),  # type: ignore[attr-defined]
        (admin.registry.GetRegisteredModel, rg.GetRegisteredModelRequest(name=resources.model)),  # type: ignore[attr-defined]
        (
            admin.registry.ListModelVersions,
            rg.ListModelVersionsRequest(parent=resources.model),  # type: ignore[attr-defined]
        ),
        (admin.registry.ListModelAliases, rg.ListModelAliasesRequest(parent=resources.model)),  # type: ignore[attr-defined]
        (admin.metadata.ListArtifacts, md.ListArtifactsRequest(parent=resources.tenant)),  # type: ignore[attr-defined]
        (
            admin.metadata.QueryLineageSubgraph,
            md.QueryLineageSubgraphRequest(node=resources.artifact),
        ),  # type: ignore[attr-defined]
    ]
    return [str(await admin.call(method, request)) for method, request in calls]


async def test_missing_token_is_unauthenticated(admin: Api, world: TenantWorld) -> None:
    stub = world["viewer"].experiments
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListExperiments(ex.ListExperimentsRequest(parent=world.name))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "header",
    ["Bearer cpk_0000000000000000_nope", "Bearer garbage", "Basic abc", "Bearer "],
)
async def test_bad_credentials_are_unauthenticated(header: str, world: TenantWorld) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world["viewer"].experiments.ListExperiments(
            ex.ListExperimentsRequest(parent=world.name), metadata=[("authorization", header)]
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_tampered_secret_of_a_real_key_is_unauthenticated(world: TenantWorld) -> None:
    token = world["viewer"].token
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world["viewer"].experiments.ListExperiments(
            ex.ListExperimentsRequest(parent=world.name),
            metadata=[("authorization", f"Bearer {tampered}")],
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_revoked_key_stops_working_at_once(world: TenantWorld) -> None:
    admin, editor = world["admin"], world["editor"]
    await editor.call(
        editor.experiments.ListExperiments, ex.ListExperimentsRequest(parent=world.name)
    )
    keys = await admin.call(
        admin.tenants.ListApiKeys, tn.ListApiKeysRequest(parent=editor.principal)
    )
    await admin.call(admin.tenants.DeleteApiKey, tn.DeleteApiKeyRequest(name=keys.api_keys[0].name))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await editor.call(
            editor.experiments.ListExperiments, ex.ListExperimentsRequest(parent=world.name)
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_disabled_principal_cannot_authenticate_and_enabled_again_can(
    world: TenantWorld,
) -> None:
    admin, editor = world["admin"], world["editor"]
    request = ex.ListExperimentsRequest(parent=world.name)
    await admin.call(
        admin.tenants.UpdatePrincipal,
        tn.UpdatePrincipalRequest(
            principal=tn.Principal(name=editor.principal, disabled=True),
            update_mask={"paths": ["disabled"]},
        ),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await editor.call(editor.experiments.ListExperiments, request)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    await admin.call(
        admin.tenants.UpdatePrincipal,
        tn.UpdatePrincipalRequest(
            principal=tn.Principal(name=editor.principal, disabled=False),
            update_mask={"paths": ["disabled"]},
        ),
    )
    await editor.call(editor.experiments.ListExperiments, request)


async def test_role_binding_grants_and_revoking_removes(world: TenantWorld) -> None:
    admin, nobody = world["admin"], world["none"]
    request = ex.ListExperimentsRequest(parent=world.name)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await nobody.call(nobody.experiments.ListExperiments, request)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    binding = await admin.call(
        admin.tenants.CreateRoleBinding,
        tn.CreateRoleBindingRequest(
            parent=world.name,
            role_binding=tn.RoleBinding(principal=nobody.principal, role=tn.ROLE_VIEWER),
        ),
    )
    await nobody.call(nobody.experiments.ListExperiments, request)
    caller = await nobody.call(nobody.tenants.GetCaller, tn.GetCallerRequest())
    assert list(caller.roles) == [tn.ROLE_VIEWER]
    await admin.call(
        admin.tenants.DeleteRoleBinding, tn.DeleteRoleBindingRequest(name=binding.name)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await nobody.call(nobody.experiments.ListExperiments, request)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_platform_admin_role_cannot_be_bound_in_a_tenant(world: TenantWorld) -> None:
    admin = world["admin"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.call(
            admin.tenants.CreateRoleBinding,
            tn.CreateRoleBindingRequest(
                parent=world.name,
                role_binding=tn.RoleBinding(
                    principal=world["editor"].principal, role=tn.ROLE_PLATFORM_ADMIN
                ),
            ),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violations(caught.value) == ["role_binding.role"]


async def test_binding_a_principal_of_another_tenant_is_refused(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    admin = world["admin"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.call(
            admin.tenants.CreateRoleBinding,
            tn.CreateRoleBindingRequest(
                parent=world.name,
                role_binding=tn.RoleBinding(
                    principal=other_world["editor"].principal, role=tn.ROLE_ADMIN
                ),
            ),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violations(caught.value) == ["role_binding.principal"]


async def test_list_tenants_shows_a_tenant_caller_only_its_own(
    world: TenantWorld, other_world: TenantWorld, admin: Api
) -> None:
    viewer = world["viewer"]
    mine = await viewer.call(viewer.tenants.ListTenants, tn.ListTenantsRequest())
    assert [t.name for t in mine.tenants] == [world.name]
    everything = await admin.call(admin.tenants.ListTenants, tn.ListTenantsRequest(page_size=1000))
    names = {t.name for t in everything.tenants}
    assert {world.name, other_world.name, "tenants/platform"} <= names


async def test_a_principal_cannot_delete_or_disable_itself(world: TenantWorld) -> None:
    admin = world["admin"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.call(
            admin.tenants.DeletePrincipal, tn.DeletePrincipalRequest(name=admin.principal)
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def _violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


def test_every_permission_and_role_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    for method in method_table().values():
        assert f"`{method.permission}`" in text, f"document {method.permission} in docs/api.md"
        assert method.name in text, f"document {method.name} in docs/api.md"


async def test_platform_admin_deletes_an_empty_tenant_but_not_one_with_data(
    admin: Api, channel: grpc.aio.Channel, world: TenantWorld
) -> None:
    # world holds data of its own, which must not count against the tenant being deleted.
    await populate(world)
    empty = await make_tenant(admin, channel, prefix="d")
    await empty["admin"].call(empty["admin"].tenants.GetCaller, tn.GetCallerRequest())  # cached
    await admin.call(admin.tenants.DeleteTenant, tn.DeleteTenantRequest(name=empty.name))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.call(admin.tenants.GetTenant, tn.GetTenantRequest(name=empty.name))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await empty["admin"].call(empty["admin"].tenants.GetCaller, tn.GetCallerRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED  # its principals went with it

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.call(admin.tenants.DeleteTenant, tn.DeleteTenantRequest(name=world.name))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await admin.call(admin.tenants.GetTenant, tn.GetTenantRequest(name=world.name))


async def test_platform_admin_decisions_follow_grants_at_once(tmp_path: Path) -> None:
    """The authorizer caches whether a principal is a platform administrator (asked on every
    cross-tenant call); a grant, a revoke or a deleted principal changes the answer at once."""
    db = Database(f"sqlite:///{tmp_path / 'authz.db'}")
    try:
        authorizer = Authorizer(db)
        principal = "tenants/platform/principals/ops"
        assert not authorizer.is_platform_admin(principal)
        authorizer.grant(principal, PLATFORM_TENANT, tn.ROLE_PLATFORM_ADMIN)
        assert authorizer.is_platform_admin(principal)
        authorizer.revoke(principal, PLATFORM_TENANT, tn.ROLE_PLATFORM_ADMIN)
        assert not authorizer.is_platform_admin(principal)
        authorizer.grant(principal, PLATFORM_TENANT, tn.ROLE_PLATFORM_ADMIN)
        assert authorizer.is_platform_admin(principal)
        authorizer.forget_principal(principal)
        assert not authorizer.is_platform_admin(principal)
    finally:
        await db.dispose()
