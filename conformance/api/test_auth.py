"""Authentication, authorization and tenant isolation."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from conformance.api.support import (
    Caller,
    Failure,
    Tenant,
    create_artifact,
    expect_failure,
    new_id,
)
from controlplane.v1 import artifact_service_pb2 as ar
from controlplane.v1 import experiment_service_pb2 as ex
from controlplane.v1 import metadata_service_pb2 as md


def _list_experiments(caller: Caller, tenant: Tenant) -> object:
    return caller.experiments.ListExperiments(ex.ListExperimentsRequest(parent=tenant.name))


def test_missing_token_is_unauthenticated(anonymous: Caller, tenant_a: Tenant) -> None:
    expect_failure(
        lambda: _list_experiments(anonymous, tenant_a),
        grpc.StatusCode.UNAUTHENTICATED,
        reason="UNAUTHENTICATED",
    )


@pytest.mark.parametrize(
    "token",
    ["garbage", "cpk_0000000000000000_unknownsecret", ""],
    ids=["malformed", "unknown-key", "empty"],
)
def test_bad_token_is_unauthenticated(
    token: str, api_channel: grpc.Channel, tenant_a: Tenant
) -> None:
    expect_failure(
        lambda: _list_experiments(Caller(api_channel, token), tenant_a),
        grpc.StatusCode.UNAUTHENTICATED,
        reason="UNAUTHENTICATED",
    )


def test_tampered_secret_of_a_real_key_is_unauthenticated(
    api_channel: grpc.Channel, tenant_a: Tenant
) -> None:
    token = tenant_a.viewer.token
    assert token
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    expect_failure(
        lambda: _list_experiments(Caller(api_channel, tampered), tenant_a),
        grpc.StatusCode.UNAUTHENTICATED,
        reason="UNAUTHENTICATED",
    )


def test_viewer_creating_an_experiment_is_permission_denied(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.viewer.experiments.CreateExperiment(
            ex.CreateExperimentRequest(
                parent=tenant_a.name, experiment=ex.Experiment(display_name="denied")
            )
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="PERMISSION_DENIED",
    )


def test_viewer_creating_a_metadata_artifact_is_permission_denied(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.viewer.metadata.CreateArtifact(
            md.CreateArtifactRequest(parent=tenant_a.name, artifact=md.Artifact(type="Dataset"))
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="PERMISSION_DENIED",
    )


# -- tenant isolation ---------------------------------------------------------------------------

SECRET = "conformance-secret-display-name"


def _experiment(tenant: Tenant) -> tuple[str, Callable[[Caller, str], object]]:
    experiment = tenant.editor.experiments.CreateExperiment(
        ex.CreateExperimentRequest(
            parent=tenant.name, experiment=ex.Experiment(display_name=SECRET)
        )
    )
    return experiment.name, lambda caller, name: caller.experiments.GetExperiment(
        ex.GetExperimentRequest(name=name)
    )


def _run(tenant: Tenant) -> tuple[str, Callable[[Caller, str], object]]:
    experiment, _ = _experiment(tenant)
    run = tenant.editor.experiments.CreateRun(
        ex.CreateRunRequest(parent=experiment, run=ex.Run(display_name=SECRET))
    )
    return run.name, lambda caller, name: caller.experiments.GetRun(ex.GetRunRequest(name=name))


def _artifact(tenant: Tenant) -> tuple[str, Callable[[Caller, str], object]]:
    artifact = tenant.editor.metadata.CreateArtifact(
        md.CreateArtifactRequest(
            parent=tenant.name, artifact=md.Artifact(type="Dataset", display_name=SECRET)
        )
    )
    return artifact.name, lambda caller, name: caller.metadata.GetArtifact(
        md.GetArtifactRequest(name=name)
    )


def _sibling(name: str) -> str:
    """The name of a resource that does not exist, beside ``name``."""
    return f"{name.rsplit('/', 1)[0]}/{new_id('missing')}"


def _anonymised(failure: Failure, name: str) -> tuple[object, ...]:
    def strip(text: str) -> str:
        return text.replace(name, "<name>")

    return (
        failure.code,
        strip(failure.message),
        failure.reason,
        failure.domain,
        {key: strip(value) for key, value in failure.info_metadata.items()},
        failure.fields,
    )


@pytest.mark.parametrize(
    "make", [_experiment, _artifact, _run], ids=["experiment", "artifact", "run"]
)
def test_another_tenants_resource_is_not_found_like_a_missing_one(
    make: Callable[[Tenant], tuple[str, Callable[[Caller, str], object]]],
    tenant_a: Tenant,
    tenant_b: Tenant,
) -> None:
    name, get = make(tenant_a)
    intruder = tenant_b.admin  # every permission, but in tenant B
    crossed = expect_failure(
        lambda: get(intruder, name), grpc.StatusCode.NOT_FOUND, reason="NOT_FOUND"
    )
    assert SECRET not in str(crossed), f"the error reveals the resource: {crossed}"
    missing_name = _sibling(name)
    missing = expect_failure(lambda: get(intruder, missing_name), grpc.StatusCode.NOT_FOUND)
    assert _anonymised(crossed, name) == _anonymised(missing, missing_name), (
        f"a resource of another tenant must fail exactly as a missing one: {crossed} vs {missing}"
    )
    get(tenant_a.viewer, name)  # it does exist, for its own tenant


def test_another_tenants_artifact_content_is_not_found(tenant_a: Tenant, tenant_b: Tenant) -> None:
    artifact = create_artifact(tenant_a.editor, tenant_a)
    expect_failure(
        lambda: tenant_b.admin.artifacts.GetArtifactContent(
            ar.GetArtifactContentRequest(artifact=artifact)
        ),
        grpc.StatusCode.NOT_FOUND,
        reason="NOT_FOUND",
    )


def test_listing_another_tenants_experiments_is_not_found(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    expect_failure(
        lambda: _list_experiments(tenant_b.admin, tenant_a),
        grpc.StatusCode.NOT_FOUND,
        reason="NOT_FOUND",
    )


def test_creating_in_another_tenant_is_not_found_and_creates_nothing(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    marker = new_id("intruder")
    expect_failure(
        lambda: tenant_b.admin.experiments.CreateExperiment(
            ex.CreateExperimentRequest(
                parent=tenant_a.name, experiment=ex.Experiment(display_name=marker)
            )
        ),
        grpc.StatusCode.NOT_FOUND,
        reason="NOT_FOUND",
    )
    listed = tenant_a.viewer.experiments.ListExperiments(
        ex.ListExperimentsRequest(parent=tenant_a.name, filter=f'display_name : "{marker}"')
    )
    assert list(listed.experiments) == []
