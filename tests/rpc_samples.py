"""One sample request per RPC of the contract, addressed at a given tenant's resources.

Used by the RBAC table test and the cross-tenant sweep; ``test_every_rpc_has_a_sample``
fails when an RPC is added without one, so new RPCs are swept automatically."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import field_mask_pb2

from controlplane.client.watch import WATCH_AFTER_HEADER
from controlplane.v1 import artifact_service_pb2 as ar
from controlplane.v1 import audit_service_pb2 as au
from controlplane.v1 import common_pb2
from controlplane.v1 import experiment_service_pb2 as ex
from controlplane.v1 import governance_service_pb2 as gv
from controlplane.v1 import metadata_service_pb2 as md
from controlplane.v1 import model_card_service_pb2 as mc
from controlplane.v1 import plugin_service_pb2 as pl
from controlplane.v1 import registry_service_pb2 as rg
from controlplane.v1 import tenant_service_pb2 as tn


@dataclass(frozen=True)
class Resources:
    """Names of existing resources in one tenant."""

    tenant: str  # tenants/{t}
    experiment: str
    run: str
    artifact: str  # without content
    artifact_with_content: str
    execution: str
    context: str
    principal: str
    api_key: str
    role_binding: str
    model: str = ""  # a registered model with one version and the alias "champion"
    model_version: str = ""
    model_alias: str = ""


Sample = Callable[[Resources], Any]


def _uid() -> str:
    return str(uuid.uuid4())


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


SAMPLES: dict[str, Sample] = {
    # TenantService
    "CreateTenant": lambda r: tn.CreateTenantRequest(tenant_id=f"x{uuid.uuid4().hex[:8]}"),
    "GetTenant": lambda r: tn.GetTenantRequest(name=r.tenant),
    "ListTenants": lambda r: tn.ListTenantsRequest(),
    "UpdateTenant": lambda r: tn.UpdateTenantRequest(
        tenant=tn.Tenant(name=r.tenant, display_name="renamed"), update_mask=_mask("display_name")
    ),
    "DeleteTenant": lambda r: tn.DeleteTenantRequest(name=r.tenant),
    "CreatePrincipal": lambda r: tn.CreatePrincipalRequest(
        parent=r.tenant, principal_id=f"p{uuid.uuid4().hex[:8]}"
    ),
    "GetPrincipal": lambda r: tn.GetPrincipalRequest(name=r.principal),
    "ListPrincipals": lambda r: tn.ListPrincipalsRequest(parent=r.tenant),
    "UpdatePrincipal": lambda r: tn.UpdatePrincipalRequest(
        principal=tn.Principal(name=r.principal, display_name="renamed"),
        update_mask=_mask("display_name"),
    ),
    "DeletePrincipal": lambda r: tn.DeletePrincipalRequest(name=r.principal),
    "CreateApiKey": lambda r: tn.CreateApiKeyRequest(parent=r.principal),
    "ListApiKeys": lambda r: tn.ListApiKeysRequest(parent=r.principal),
    "DeleteApiKey": lambda r: tn.DeleteApiKeyRequest(name=r.api_key),
    "CreateRoleBinding": lambda r: tn.CreateRoleBindingRequest(
        parent=r.tenant, role_binding=tn.RoleBinding(principal=r.principal, role=tn.ROLE_MAINTAINER)
    ),
    "ListRoleBindings": lambda r: tn.ListRoleBindingsRequest(parent=r.tenant),
    "DeleteRoleBinding": lambda r: tn.DeleteRoleBindingRequest(name=r.role_binding),
    "GetCaller": lambda r: tn.GetCallerRequest(),
    # MetadataService
    "CreateArtifact": lambda r: md.CreateArtifactRequest(
        parent=r.tenant, artifact=md.Artifact(type="Dataset")
    ),
    "GetArtifact": lambda r: md.GetArtifactRequest(name=r.artifact),
    "ListArtifacts": lambda r: md.ListArtifactsRequest(parent=r.tenant),
    "UpdateArtifact": lambda r: md.UpdateArtifactRequest(
        artifact=md.Artifact(name=r.artifact, display_name="renamed"),
        update_mask=_mask("display_name"),
    ),
    "DeleteArtifact": lambda r: md.DeleteArtifactRequest(name=r.artifact),
    "CreateExecution": lambda r: md.CreateExecutionRequest(
        parent=r.tenant, execution=md.Execution(type="Trainer")
    ),
    "GetExecution": lambda r: md.GetExecutionRequest(name=r.execution),
    "ListExecutions": lambda r: md.ListExecutionsRequest(parent=r.tenant),
    "UpdateExecution": lambda r: md.UpdateExecutionRequest(
        execution=md.Execution(name=r.execution, display_name="renamed"),
        update_mask=_mask("display_name"),
    ),
    "DeleteExecution": lambda r: md.DeleteExecutionRequest(name=r.execution),
    "CreateContext": lambda r: md.CreateContextRequest(
        parent=r.tenant, context=md.Context(type="Project")
    ),
    "GetContext": lambda r: md.GetContextRequest(name=r.context),
    "ListContexts": lambda r: md.ListContextsRequest(parent=r.tenant),
    "UpdateContext": lambda r: md.UpdateContextRequest(
        context=md.Context(name=r.context, display_name="renamed"),
        update_mask=_mask("display_name"),
    ),
    "DeleteContext": lambda r: md.DeleteContextRequest(name=r.context),
    "AddContextArtifactsAndExecutions": lambda r: md.AddContextArtifactsAndExecutionsRequest(
        context=r.context, artifacts=[r.artifact], executions=[r.execution]
    ),
    "AddExecutionEvents": lambda r: md.AddExecutionEventsRequest(
        execution=r.execution, events=[md.Event(artifact=r.artifact, type=md.Event.TYPE_INPUT)]
    ),
    "QueryLineageSubgraph": lambda r: md.QueryLineageSubgraphRequest(node=r.artifact),
    # ExperimentService
    "CreateExperiment": lambda r: ex.CreateExperimentRequest(parent=r.tenant, request_id=_uid()),
    "GetExperiment": lambda r: ex.GetExperimentRequest(name=r.experiment),
    "ListExperiments": lambda r: ex.ListExperimentsRequest(parent=r.tenant),
    "UpdateExperiment": lambda r: ex.UpdateExperimentRequest(
        experiment=ex.Experiment(name=r.experiment, display_name="renamed"),
        update_mask=_mask("display_name"),
    ),
    "DeleteExperiment": lambda r: ex.DeleteExperimentRequest(name=r.experiment),
    "CreateRun": lambda r: ex.CreateRunRequest(parent=r.experiment),
    "GetRun": lambda r: ex.GetRunRequest(name=r.run),
    "SearchRuns": lambda r: ex.SearchRunsRequest(parent=r.experiment),
    "UpdateRun": lambda r: ex.UpdateRunRequest(
        run=ex.Run(name=r.run, display_name="renamed"), update_mask=_mask("display_name")
    ),
    "DeleteRun": lambda r: ex.DeleteRunRequest(name=r.run),
    "LogParams": lambda r: ex.LogParamsRequest(run=r.run, params={f"p{uuid.uuid4().hex[:6]}": "1"}),
    "LogMetricBatch": lambda r: ex.LogMetricBatchRequest(
        run=r.run, batch=common_pb2.MetricBatch(keys=["m"], key_index=[0], values=[1.0])
    ),
    "LogMetrics": lambda r: ex.LogMetricsRequest(
        run=r.run, batch=common_pb2.MetricBatch(keys=["m"], key_index=[0], values=[1.0])
    ),
    "GetMetricHistory": lambda r: ex.GetMetricHistoryRequest(run=r.run, metric_key="m"),
    # ArtifactService
    "UploadArtifactContent": lambda r: ar.UploadArtifactContentRequest(
        header=ar.ArtifactContentHeader(
            artifact=r.artifact, sha256=hashlib.sha256(b"").hexdigest(), size_bytes=0
        )
    ),
    "DownloadArtifactContent": lambda r: ar.DownloadArtifactContentRequest(
        artifact=r.artifact_with_content
    ),
    "GetArtifactContent": lambda r: ar.GetArtifactContentRequest(artifact=r.artifact_with_content),
    "GetArtifactQuota": lambda r: ar.GetArtifactQuotaRequest(name=f"{r.tenant}/artifactQuota"),
    "UpdateArtifactQuota": lambda r: ar.UpdateArtifactQuotaRequest(
        quota=ar.ArtifactQuota(name=f"{r.tenant}/artifactQuota", limit_bytes=10**12)
    ),
    "CollectArtifactGarbage": lambda r: ar.CollectArtifactGarbageRequest(dry_run=True),
    # PluginService
    "ListPlugins": lambda r: pl.ListPluginsRequest(),
    # AuditService
    "ListAuditEvents": lambda r: au.ListAuditEventsRequest(parent=r.tenant),
    # RegistryService
    "CreateRegisteredModel": lambda r: rg.CreateRegisteredModelRequest(
        parent=r.tenant, request_id=_uid()
    ),
    "GetRegisteredModel": lambda r: rg.GetRegisteredModelRequest(name=r.model),
    "ListRegisteredModels": lambda r: rg.ListRegisteredModelsRequest(parent=r.tenant),
    "UpdateRegisteredModel": lambda r: rg.UpdateRegisteredModelRequest(
        registered_model=rg.RegisteredModel(name=r.model, display_name="renamed"),
        update_mask=_mask("display_name"),
    ),
    "DeleteRegisteredModel": lambda r: rg.DeleteRegisteredModelRequest(name=r.model),
    "CreateModelVersion": lambda r: rg.CreateModelVersionRequest(
        parent=r.model,
        model_version=rg.ModelVersion(
            files=[rg.ModelFile(role="model", artifact=r.artifact_with_content)]
        ),
        request_id=_uid(),
    ),
    "GetModelVersion": lambda r: rg.GetModelVersionRequest(name=r.model_version),
    "ListModelVersions": lambda r: rg.ListModelVersionsRequest(parent=r.model),
    "RecordOnlineEvaluation": lambda r: rg.RecordOnlineEvaluationRequest(
        parent=r.model_version,
        online_evaluation=rg.OnlineEvaluation(metrics=[rg.EvaluationMetric(key="ctr", value=0.1)]),
    ),
    "ListOnlineEvaluations": lambda r: rg.ListOnlineEvaluationsRequest(parent=r.model_version),
    "UpdateModelVersion": lambda r: rg.UpdateModelVersionRequest(
        model_version=rg.ModelVersion(name=r.model_version, description="changed"),
        update_mask=_mask("description"),
    ),
    "DeleteModelVersion": lambda r: rg.DeleteModelVersionRequest(name=r.model_version),
    "SetModelAlias": lambda r: rg.SetModelAliasRequest(
        alias=rg.ModelAlias(name=f"{r.model}/aliases/challenger", version=r.model_version),
        request_id=_uid(),
    ),
    "GetModelAlias": lambda r: rg.GetModelAliasRequest(name=r.model_alias),
    "ListModelAliases": lambda r: rg.ListModelAliasesRequest(parent=r.model),
    "DeleteModelAlias": lambda r: rg.DeleteModelAliasRequest(name=f"{r.model}/aliases/challenger"),
    "ListModelAliasHistory": lambda r: rg.ListModelAliasHistoryRequest(alias=r.model_alias),
    # ModelCardService: the card of the populated model version
    "GetModelCard": lambda r: mc.GetModelCardRequest(name=f"{r.model_version}/card"),
    "UpdateModelCard": lambda r: mc.UpdateModelCardRequest(
        model_card=mc.ModelCard(name=f"{r.model_version}/card", limitations="changed"),
        update_mask=_mask("limitations"),
    ),
    "RenderModelCard": lambda r: mc.RenderModelCardRequest(
        name=f"{r.model_version}/card", format=mc.RenderModelCardRequest.FORMAT_HTML
    ),
    # GovernanceService: the populated version (REGISTERED, the alias "champion" on it), so
    # moves a role may make can fail for its state, never for its permission.
    "GetReleasePolicy": lambda r: gv.GetReleasePolicyRequest(name=f"{r.tenant}/releasePolicy"),
    "UpdateReleasePolicy": lambda r: gv.UpdateReleasePolicyRequest(
        release_policy=gv.ReleasePolicy(name=f"{r.tenant}/releasePolicy", required_approvals=1),
        update_mask=_mask("required_approvals"),
    ),
    "SubmitModelVersion": lambda r: gv.SubmitModelVersionRequest(name=r.model_version),
    "ApproveModelVersion": lambda r: gv.ApproveModelVersionRequest(name=r.model_version),
    "RejectModelVersion": lambda r: gv.RejectModelVersionRequest(
        name=r.model_version, reason="sample"
    ),
    "ReleaseModelVersion": lambda r: gv.ReleaseModelVersionRequest(name=r.model_version),
    "RetireModelVersion": lambda r: gv.RetireModelVersionRequest(name=r.model_version),
    "RollbackModelAlias": lambda r: gv.RollbackModelAliasRequest(alias=r.model_alias),
    "EvaluateReleasePolicy": lambda r: gv.EvaluateReleasePolicyRequest(name=r.model_version),
    "CompareModelVersions": lambda r: gv.CompareModelVersionsRequest(
        candidate=r.model_version, baseline=r.model_version
    ),
    "ListGovernanceEvents": lambda r: gv.ListGovernanceEventsRequest(parent=r.model),
    "WatchModelAliasChanges": lambda r: rg.WatchModelAliasChangesRequest(parent=r.model),
    "WatchGovernanceEvents": lambda r: gv.WatchGovernanceEventsRequest(parent=r.model),
}

SAMPLE_CONTENT = b"sample content"


def upload_requests(
    artifact: str, content: bytes, chunk_size: int = 1 << 20, **header: Any
) -> list[ar.UploadArtifactContentRequest]:
    """The messages of an UploadArtifactContent call: the header, then the chunks."""
    fields = {"sha256": hashlib.sha256(content).hexdigest(), "size_bytes": len(content), **header}
    messages = [
        ar.UploadArtifactContentRequest(
            header=ar.ArtifactContentHeader(artifact=artifact, **fields)
        )
    ]
    messages += [
        ar.UploadArtifactContentRequest(chunk=content[i : i + chunk_size])
        for i in range(0, len(content), chunk_size)
    ]
    return messages


async def invoke(api: Any, method: Any, request: Any) -> Any:
    """Calls ``method`` (a Method from the table) on ``api`` (tests.conftest.Api)."""
    stub = {
        "controlplane.v1.TenantService": api.tenants,
        "controlplane.v1.MetadataService": api.metadata,
        "controlplane.v1.ExperimentService": api.experiments,
        "controlplane.v1.ArtifactService": api.artifacts,
        "controlplane.v1.PluginService": api.plugins,
        "controlplane.v1.AuditService": api.audit,
        "controlplane.v1.RegistryService": api.registry,
        "controlplane.v1.GovernanceService": api.governance,
        "controlplane.v1.ModelCardService": api.cards,
    }[method.service]
    call = getattr(stub, method.name)
    if method.name.startswith("Watch"):
        # A watch never ends by itself: its headers say it is in place; a refusal ends the
        # call without them, and reading then raises it.
        stream = call(request, metadata=api.auth)
        if WATCH_AFTER_HEADER not in dict(await stream.initial_metadata() or ()):
            await stream.read()
        stream.cancel()
        return []
    if method.server_streaming:
        return [message async for message in call(request, metadata=api.auth)]
    if method.client_streaming:
        return await call(iter([request]), metadata=api.auth)
    return await call(request, metadata=api.auth)


async def populate(world: Any) -> Resources:
    """Creates one resource of each kind in ``world``'s tenant (as its admin)."""
    admin = world["admin"]
    tenant = world.name
    experiment = await admin.call(
        admin.experiments.CreateExperiment,
        ex.CreateExperimentRequest(parent=tenant, experiment_id="exp"),
    )
    run = await admin.call(
        admin.experiments.CreateRun, ex.CreateRunRequest(parent=experiment.name, run_id="run")
    )
    await admin.call(
        admin.experiments.LogMetricBatch,
        ex.LogMetricBatchRequest(
            run=run.name, batch=common_pb2.MetricBatch(keys=["m"], key_index=[0], values=[1.0])
        ),
    )
    artifact = await admin.call(
        admin.metadata.CreateArtifact,
        md.CreateArtifactRequest(
            parent=tenant, artifact_id="art", artifact=md.Artifact(type="Dataset")
        ),
    )
    with_content = await admin.call(
        admin.metadata.CreateArtifact,
        md.CreateArtifactRequest(
            parent=tenant, artifact_id="blob", artifact=md.Artifact(type="Model")
        ),
    )
    await admin.artifacts.UploadArtifactContent(
        iter(upload_requests(with_content.name, SAMPLE_CONTENT)), metadata=admin.auth
    )
    execution = await admin.call(
        admin.metadata.CreateExecution,
        md.CreateExecutionRequest(
            parent=tenant, execution_id="exe", execution=md.Execution(type="Trainer")
        ),
    )
    context = await admin.call(
        admin.metadata.CreateContext,
        md.CreateContextRequest(
            parent=tenant, context_id="ctx", context=md.Context(type="Project")
        ),
    )
    # A principal that is nobody's caller, so deleting it (or its key) breaks no test identity.
    subject = await admin.call(
        admin.tenants.CreatePrincipal,
        tn.CreatePrincipalRequest(parent=tenant, principal_id="subject"),
    )
    principal = subject.name
    key = await admin.call(admin.tenants.CreateApiKey, tn.CreateApiKeyRequest(parent=principal))
    binding = await admin.call(
        admin.tenants.CreateRoleBinding,
        tn.CreateRoleBindingRequest(
            parent=tenant, role_binding=tn.RoleBinding(principal=principal, role=tn.ROLE_VIEWER)
        ),
    )
    return Resources(
        tenant=tenant,
        experiment=experiment.name,
        run=run.name,
        artifact=artifact.name,
        artifact_with_content=with_content.name,
        execution=execution.name,
        context=context.name,
        principal=principal,
        api_key=key.api_key.name,
        role_binding=binding.name,
        **await _populate_registry(admin, tenant, run.name, with_content.name),
    )


async def _populate_registry(admin: Any, tenant: str, run: str, artifact: str) -> dict[str, str]:
    """A registered model with one version (its file an artifact with content) and the alias
    "champion" on it."""
    model = await admin.call(
        admin.registry.CreateRegisteredModel,
        rg.CreateRegisteredModelRequest(parent=tenant, model_id="mdl"),
    )
    version = await admin.call(
        admin.registry.CreateModelVersion,
        rg.CreateModelVersionRequest(
            parent=model.name,
            model_version=rg.ModelVersion(
                files=[rg.ModelFile(role="model", artifact=artifact)], source_run=run
            ),
        ),
    )
    alias = await admin.call(
        admin.registry.SetModelAlias,
        rg.SetModelAliasRequest(
            alias=rg.ModelAlias(name=f"{model.name}/aliases/champion", version=version.name)
        ),
    )
    return {"model": model.name, "model_version": version.name, "model_alias": alias.name}
