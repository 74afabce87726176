"""The model registry and its governance: immutable numbered versions, aliases that move
atomically with an etag, the review and release state machine with separation of duties, the
release policy, rollback, the events a deployment follows (listed and watched), and the audit
trail of every move."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import grpc
import pytest
from google.protobuf import field_mask_pb2

from conformance.api.support import (
    Caller,
    Tenant,
    create_artifact,
    expect_failure,
    new_id,
    new_request_id,
    upload_requests,
)
from controlplane.v1 import audit_service_pb2 as au
from controlplane.v1 import governance_service_pb2 as gv
from controlplane.v1 import registry_service_pb2 as rg
from controlplane.v1 import tenant_service_pb2 as tn

S = rg.ModelVersion
#: The response header of a watch: the event it starts after ("" for the beginning).
WATCH_AFTER_HEADER = "x-watch-after"


@pytest.fixture(scope="module")
def model_file(tenant_a: Tenant) -> str:
    """An artifact with content, for versions to be made of."""
    artifact = create_artifact(tenant_a.editor, tenant_a, "Model")
    tenant_a.editor.artifacts.UploadArtifactContent(upload_requests(artifact, b"weights"))
    return artifact


def new_model(tenant: Tenant) -> str:
    model = tenant.editor.registry.CreateRegisteredModel(
        rg.CreateRegisteredModelRequest(
            parent=tenant.name, model_id=new_id("model"), registered_model=rg.RegisteredModel()
        )
    )
    name: str = model.name
    return name


def register(
    caller: Caller,
    model: str,
    model_file: str,
    *metrics: rg.EvaluationMetric,
    aliases: Sequence[str] = (),
    request_id: str = "",
) -> rg.ModelVersion:
    version: rg.ModelVersion = caller.registry.CreateModelVersion(
        rg.CreateModelVersionRequest(
            parent=model,
            model_version=rg.ModelVersion(
                files=[rg.ModelFile(role="model", artifact=model_file)], evaluation=list(metrics)
            ),
            aliases=aliases,
            request_id=request_id,
        )
    )
    return version


def alias_of(caller: Caller, alias: str) -> rg.ModelAlias:
    found: rg.ModelAlias = caller.registry.GetModelAlias(rg.GetModelAliasRequest(name=alias))
    return found


def state_of(caller: Caller, version: str) -> int:
    return int(caller.registry.GetModelVersion(rg.GetModelVersionRequest(name=version)).state)


def submit(tenant: Tenant, version: str) -> None:
    tenant.editor.governance.SubmitModelVersion(
        gv.SubmitModelVersionRequest(name=version, reason="ready")
    )


def approve(caller: Caller, version: str) -> rg.ModelVersion:
    moved: rg.ModelVersion = caller.governance.ApproveModelVersion(
        gv.ApproveModelVersionRequest(name=version, reason="reviewed")
    )
    return moved


def release(tenant: Tenant, version: str, alias: str) -> rg.ModelVersion:
    moved: rg.ModelVersion = tenant.maintainer.governance.ReleaseModelVersion(
        gv.ReleaseModelVersionRequest(name=version, alias=alias, reason="go")
    )
    return moved


def released(tenant: Tenant, model: str, model_file: str, alias: str) -> str:
    """A version of ``model`` reviewed, approved and released to ``alias``."""
    version = register(tenant.editor, model, model_file).name
    submit(tenant, version)
    approve(tenant.approver, version)
    release(tenant, version, alias)
    return str(version)


def principal_with_roles(tenant: Tenant, *roles: tn.Role) -> Caller:
    """A new principal of ``tenant`` holding ``roles`` (created by the tenant's admin)."""
    admin = tenant.admin
    principal = admin.tenants.CreatePrincipal(
        tn.CreatePrincipalRequest(parent=tenant.name, principal_id=new_id("principal"))
    )
    for role in roles:
        admin.tenants.CreateRoleBinding(
            tn.CreateRoleBindingRequest(
                parent=tenant.name,
                role_binding=tn.RoleBinding(principal=principal.name, role=role),
            )
        )
    key = admin.tenants.CreateApiKey(tn.CreateApiKeyRequest(parent=principal.name))
    return Caller(admin.channel, key.secret, principal.name)


# -- registry ---------------------------------------------------------------------------------


def test_versions_are_numbered_in_order_and_say_who_registered_them(
    tenant_a: Tenant, model_file: str
) -> None:
    model = new_model(tenant_a)
    first = register(tenant_a.editor, model, model_file)
    second = register(tenant_a.editor, model, model_file)
    assert [first.name, second.name] == [f"{model}/versions/1", f"{model}/versions/2"]
    assert first.state == S.STATE_REGISTERED
    assert first.author == tenant_a.editor.principal
    got = tenant_a.viewer.registry.GetModelVersion(rg.GetModelVersionRequest(name=first.name))
    assert got.files[0].artifact == model_file


def test_a_retried_registration_returns_the_first_and_creates_nothing(
    tenant_a: Tenant, model_file: str
) -> None:
    model = new_model(tenant_a)
    request_id = new_request_id()
    first = register(tenant_a.editor, model, model_file, request_id=request_id)
    again = register(tenant_a.editor, model, model_file, request_id=request_id)
    assert again.name == first.name
    listed = tenant_a.viewer.registry.ListModelVersions(rg.ListModelVersionsRequest(parent=model))
    assert [v.name for v in listed.model_versions] == [first.name]


def test_registering_with_an_alias_moves_it_in_the_same_call(
    tenant_a: Tenant, model_file: str
) -> None:
    model = new_model(tenant_a)
    version = register(tenant_a.editor, model, model_file, aliases=["candidate"])
    assert list(version.aliases) == ["candidate"]
    assert alias_of(tenant_a.viewer, f"{model}/aliases/candidate").version == version.name


def test_a_stale_alias_etag_is_aborted_and_moves_nothing(tenant_a: Tenant, model_file: str) -> None:
    model = new_model(tenant_a)
    first = register(tenant_a.editor, model, model_file, aliases=["staging"])
    second = register(tenant_a.editor, model, model_file)
    name = f"{model}/aliases/staging"
    read = alias_of(tenant_a.viewer, name)
    tenant_a.maintainer.registry.SetModelAlias(
        rg.SetModelAliasRequest(alias=rg.ModelAlias(name=name, version=second.name, etag=read.etag))
    )
    expect_failure(
        lambda: tenant_a.maintainer.registry.SetModelAlias(
            rg.SetModelAliasRequest(
                alias=rg.ModelAlias(name=name, version=first.name, etag=read.etag)
            )
        ),
        grpc.StatusCode.ABORTED,
    )
    assert alias_of(tenant_a.viewer, name).version == second.name


def test_an_alias_cannot_point_at_another_tenants_version(
    tenant_a: Tenant, tenant_b: Tenant, model_file: str
) -> None:
    model = new_model(tenant_a)
    theirs = f"{new_model(tenant_b)}/versions/1"
    expect_failure(
        lambda: tenant_a.maintainer.registry.SetModelAlias(
            rg.SetModelAliasRequest(
                alias=rg.ModelAlias(name=f"{model}/aliases/prod", version=theirs)
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )


def test_an_alias_cannot_point_at_a_deleted_version(tenant_a: Tenant, model_file: str) -> None:
    model = new_model(tenant_a)
    version = register(tenant_a.editor, model, model_file).name
    tenant_a.maintainer.registry.DeleteModelVersion(rg.DeleteModelVersionRequest(name=version))
    expect_failure(
        lambda: tenant_a.maintainer.registry.SetModelAlias(
            rg.SetModelAliasRequest(
                alias=rg.ModelAlias(name=f"{model}/aliases/prod", version=version)
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )


def test_an_alias_cannot_point_at_another_models_version(tenant_a: Tenant, model_file: str) -> None:
    model, other = new_model(tenant_a), new_model(tenant_a)
    version = register(tenant_a.editor, other, model_file).name
    expect_failure(
        lambda: tenant_a.maintainer.registry.SetModelAlias(
            rg.SetModelAliasRequest(
                alias=rg.ModelAlias(name=f"{model}/aliases/prod", version=version)
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="alias.version",
    )


def test_online_results_stand_beside_the_registered_evaluation(
    tenant_a: Tenant, model_file: str
) -> None:
    model = new_model(tenant_a)
    auc = rg.EvaluationMetric(key="auc", value=0.9, split="test")
    champion = register(tenant_a.editor, model, model_file, auc).name
    challenger = register(tenant_a.editor, model, model_file, auc).name
    for version, ctr in ((champion, 0.030), (challenger, 0.034)):
        recorded = tenant_a.editor.registry.RecordOnlineEvaluation(
            rg.RecordOnlineEvaluationRequest(
                parent=version,
                online_evaluation=rg.OnlineEvaluation(
                    metrics=[rg.EvaluationMetric(key="ctr", value=ctr)]
                ),
            )
        )
        assert recorded.metrics[0].split == "online", "the split defaults to online"
    listed = tenant_a.viewer.registry.ListOnlineEvaluations(
        rg.ListOnlineEvaluationsRequest(parent=champion)
    ).online_evaluations
    assert [m.value for e in listed for m in e.metrics] == [0.030]
    comparison = tenant_a.viewer.governance.CompareModelVersions(
        gv.CompareModelVersionsRequest(candidate=challenger, baseline=champion)
    )
    rows = {(m.key, m.split): (m.candidate, m.baseline) for m in comparison.metrics}
    assert rows[("ctr", "online")] == (0.034, 0.030)
    expect_failure(
        lambda: tenant_a.editor.registry.RecordOnlineEvaluation(
            rg.RecordOnlineEvaluationRequest(
                parent=champion, online_evaluation=rg.OnlineEvaluation(metrics=[auc])
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="online_evaluation.metrics[0]",
    )


def test_alias_changes_are_watched_as_they_commit(tenant_a: Tenant, model_file: str) -> None:
    model = new_model(tenant_a)
    stream = tenant_a.viewer.registry.WatchModelAliasChanges(
        rg.WatchModelAliasChangesRequest(parent=model)
    )
    try:
        headers = dict(stream.initial_metadata() or ())
        assert WATCH_AFTER_HEADER in headers, "a watch in place sends its headers"
        version = register(tenant_a.editor, model, model_file, aliases=["candidate"]).name
        change = next(stream)
    finally:
        stream.cancel()
    assert change.alias == f"{model}/aliases/candidate"
    assert (change.previous_version, change.version) == ("", version)
    assert change.name.startswith(f"{model}/aliases/candidate/changes/")


# -- governance -------------------------------------------------------------------------------


def test_review_then_release_moves_the_alias(tenant_a: Tenant, model_file: str) -> None:
    model = new_model(tenant_a)
    version = register(tenant_a.editor, model, model_file).name
    submit(tenant_a, version)
    assert state_of(tenant_a.viewer, version) == S.STATE_PENDING_REVIEW
    assert approve(tenant_a.approver, version).state == S.STATE_APPROVED
    assert release(tenant_a, version, "prod").state == S.STATE_RELEASED
    assert alias_of(tenant_a.viewer, f"{model}/aliases/prod").version == version


def test_approving_without_the_approver_role_is_permission_denied(
    tenant_a: Tenant, model_file: str
) -> None:
    model = new_model(tenant_a)
    version = register(tenant_a.editor, model, model_file).name
    submit(tenant_a, version)
    for caller in (tenant_a.editor, tenant_a.maintainer, tenant_a.admin):
        expect_failure(
            lambda caller=caller: approve(caller, version),  # type: ignore[misc]
            grpc.StatusCode.PERMISSION_DENIED,
        )
    assert state_of(tenant_a.viewer, version) == S.STATE_PENDING_REVIEW


def test_approving_your_own_version_is_permission_denied(tenant_a: Tenant, model_file: str) -> None:
    author = principal_with_roles(tenant_a, tn.ROLE_EDITOR, tn.ROLE_APPROVER)
    model = new_model(tenant_a)
    version = register(author, model, model_file).name
    submit(tenant_a, version)
    expect_failure(lambda: approve(author, version), grpc.StatusCode.PERMISSION_DENIED)
    assert state_of(tenant_a.viewer, version) == S.STATE_PENDING_REVIEW
    assert approve(tenant_a.approver, version).state == S.STATE_APPROVED  # anyone else may


def test_releasing_a_version_the_policy_fails_is_refused(tenant_b: Tenant) -> None:
    file = create_artifact(tenant_b.editor, tenant_b, "Model")
    tenant_b.editor.artifacts.UploadArtifactContent(upload_requests(file, b"weights"))
    model = new_model(tenant_b)
    low = rg.EvaluationMetric(key="auc", value=0.7, split="test")
    version = register(tenant_b.editor, model, file, low).name
    submit(tenant_b, version)
    approve(tenant_b.approver, version)
    policy = f"{tenant_b.name}/releasePolicy"

    def set_thresholds(*thresholds: gv.MetricThreshold) -> None:
        tenant_b.admin.governance.UpdateReleasePolicy(
            gv.UpdateReleasePolicyRequest(
                release_policy=gv.ReleasePolicy(name=policy, thresholds=list(thresholds)),
                update_mask=field_mask_pb2.FieldMask(paths=["thresholds"]),
            )
        )

    set_thresholds(
        gv.MetricThreshold(key="auc", comparator=gv.COMPARATOR_GREATER_OR_EQUAL, threshold=0.8)
    )
    try:
        failure = expect_failure(
            lambda: release(tenant_b, version, "prod"), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert "auc" in failure.message, f"the refusal must say what failed: {failure}"
        assert state_of(tenant_b.viewer, version) == S.STATE_APPROVED
    finally:
        set_thresholds()


def test_rollback_returns_the_alias_and_says_when_there_is_nothing_to_return_to(
    tenant_a: Tenant, model_file: str
) -> None:
    model = new_model(tenant_a)
    first = released(tenant_a, model, model_file, "prod")
    second = released(tenant_a, model, model_file, "prod")
    alias = f"{model}/aliases/prod"
    rolled = tenant_a.maintainer.governance.RollbackModelAlias(
        gv.RollbackModelAliasRequest(alias=alias, reason="second regressed")
    )
    assert rolled.version == first
    assert state_of(tenant_a.viewer, second) == S.STATE_RETIRED
    failure = expect_failure(
        lambda: tenant_a.maintainer.governance.RollbackModelAlias(
            gv.RollbackModelAliasRequest(alias=alias, reason="again")
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "nothing to roll back to" in failure.message


# -- events and audit -------------------------------------------------------------------------


def test_moves_are_listed_watched_and_audited(tenant_a: Tenant, model_file: str) -> None:
    model = new_model(tenant_a)
    version = register(tenant_a.editor, model, model_file).name
    stream = tenant_a.viewer.governance.WatchGovernanceEvents(
        gv.WatchGovernanceEventsRequest(parent=model)
    )
    try:
        headers = dict(stream.initial_metadata() or ())
        assert WATCH_AFTER_HEADER in headers, "a watch in place sends its headers"
        submit(tenant_a, version)
        watched = next(stream)
    finally:
        stream.cancel()
    listed = tenant_a.viewer.governance.ListGovernanceEvents(
        gv.ListGovernanceEventsRequest(parent=model)
    ).events
    assert [e.name for e in listed] == [watched.name]
    assert (watched.action, watched.from_state, watched.to_state) == (
        "submit",
        S.STATE_REGISTERED,
        S.STATE_PENDING_REVIEW,
    )
    assert watched.principal == tenant_a.editor.principal
    audited = tenant_a.admin.audit.ListAuditEvents(
        au.ListAuditEventsRequest(parent=tenant_a.name, filter=f'resource = "{version}"')
    ).audit_events
    assert "SubmitModelVersion" in [e.method for e in audited]
    assert all(e.request_id for e in audited), "every audit event carries its request_id"


def test_a_watch_resumes_after_the_last_event_it_sent(tenant_a: Tenant, model_file: str) -> None:
    model = new_model(tenant_a)
    version = register(tenant_a.editor, model, model_file).name
    submit(tenant_a, version)
    approve(tenant_a.approver, version)
    first, second = tenant_a.viewer.governance.ListGovernanceEvents(
        gv.ListGovernanceEventsRequest(parent=model)
    ).events
    stream = tenant_a.viewer.governance.WatchGovernanceEvents(
        gv.WatchGovernanceEventsRequest(parent=model, after=first.name)
    )
    try:
        assert next(stream).name == second.name
    finally:
        stream.cancel()


def test_watching_another_tenants_model_is_not_found(tenant_a: Tenant, tenant_b: Tenant) -> None:
    model = new_model(tenant_a)

    def watch() -> Iterator[gv.GovernanceEvent]:
        stream: Iterator[gv.GovernanceEvent] = tenant_b.admin.governance.WatchGovernanceEvents(
            gv.WatchGovernanceEventsRequest(parent=model)
        )
        return iter([next(stream)])

    expect_failure(watch, grpc.StatusCode.NOT_FOUND)
