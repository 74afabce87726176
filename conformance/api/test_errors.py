"""Errors: a ``google.rpc.Status`` with an ``ErrorInfo`` of domain ``controlplane.dev`` and, for
bad fields, a ``BadRequest`` naming each field by its path in the request."""

from __future__ import annotations

import re
from collections.abc import Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2

from conformance.api.support import Caller, Tenant, expect_failure
from controlplane.v1 import experiment_service_pb2 as ex
from controlplane.v1 import metadata_service_pb2 as md

Call = Callable[[Caller, Tenant], object]

MALFORMED_NAMES: list[tuple[str, Call, str]] = [
    (
        "experiment-without-tenant",
        lambda c, t: c.experiments.GetExperiment(ex.GetExperimentRequest(name="experiments/x")),
        "name",
    ),
    (
        "experiment-id-with-capitals",
        lambda c, t: c.experiments.GetExperiment(
            ex.GetExperimentRequest(name=f"{t.name}/experiments/Not_An_Id")
        ),
        "name",
    ),
    (
        "run-without-id",
        lambda c, t: c.experiments.GetRun(ex.GetRunRequest(name=f"{t.name}/experiments/e/runs")),
        "name",
    ),
    (
        "artifact-in-wrong-collection",
        lambda c, t: c.metadata.GetArtifact(md.GetArtifactRequest(name=f"{t.name}/artefacts/a")),
        "name",
    ),
    (
        "empty-parent",
        lambda c, t: c.experiments.CreateExperiment(
            ex.CreateExperimentRequest(parent="", experiment=ex.Experiment())
        ),
        "parent",
    ),
    (
        "malformed-new-id",
        lambda c, t: c.experiments.CreateExperiment(
            ex.CreateExperimentRequest(
                parent=t.name, experiment=ex.Experiment(), experiment_id="Not An Id"
            )
        ),
        "experiment_id",
    ),
]


@pytest.mark.parametrize(
    ("call", "field"),
    [pytest.param(call, field, id=case) for case, call, field in MALFORMED_NAMES],
)
def test_malformed_name_is_invalid_argument_naming_the_field(
    call: Call, field: str, tenant_a: Tenant
) -> None:
    expect_failure(
        lambda: call(tenant_a.editor, tenant_a),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field=field,
    )


def test_unknown_filter_field_is_invalid_argument(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.viewer.experiments.ListExperiments(
            ex.ListExperimentsRequest(parent=tenant_a.name, filter='no_such_field = "x"')
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="filter",
    )


def test_unknown_order_by_field_is_invalid_argument(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.viewer.experiments.ListExperiments(
            ex.ListExperimentsRequest(parent=tenant_a.name, order_by="no_such_field desc")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="order_by",
    )


def test_page_size_over_the_limit_is_invalid_argument(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.viewer.experiments.ListExperiments(
            ex.ListExperimentsRequest(parent=tenant_a.name, page_size=1001)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="page_size",
    )


def test_negative_page_size_is_invalid_argument(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.viewer.experiments.ListExperiments(
            ex.ListExperimentsRequest(parent=tenant_a.name, page_size=-1)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="page_size",
    )


def test_filter_comparing_a_number_with_a_string_is_invalid_argument(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.viewer.experiments.SearchRuns(
            ex.SearchRunsRequest(
                parent=f"{tenant_a.name}/experiments/-", filter='metrics.loss = "x"'
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="filter",
    )


def test_update_mask_naming_an_output_only_field_is_invalid_argument(tenant_a: Tenant) -> None:
    experiment = tenant_a.editor.experiments.CreateExperiment(
        ex.CreateExperimentRequest(parent=tenant_a.name, experiment=ex.Experiment())
    )
    expect_failure(
        lambda: tenant_a.editor.experiments.UpdateExperiment(
            ex.UpdateExperimentRequest(
                experiment=ex.Experiment(name=experiment.name, display_name="changed"),
                update_mask=field_mask_pb2.FieldMask(paths=["create_time"]),
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="update_mask",
    )
    fetched = tenant_a.viewer.experiments.GetExperiment(
        ex.GetExperimentRequest(name=experiment.name)
    )
    assert fetched == experiment, "nothing of a failed call is written"


def test_display_name_over_its_limit_is_invalid_argument(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.editor.experiments.CreateExperiment(
            ex.CreateExperimentRequest(
                parent=tenant_a.name, experiment=ex.Experiment(display_name="x" * 201)
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="experiment.display_name",
    )


def _oversized_tag(tenant: Tenant) -> list[str]:
    """Creates a run with a tag value over the limit; returns the BadRequest's fields."""
    experiment = tenant.editor.experiments.CreateExperiment(
        ex.CreateExperimentRequest(parent=tenant.name, experiment=ex.Experiment())
    )
    failure = expect_failure(
        lambda: tenant.editor.experiments.CreateRun(
            ex.CreateRunRequest(parent=experiment.name, run=ex.Run(tags={"team": "x" * 5001}))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
    )
    return failure.fields


def test_tag_value_over_its_limit_names_the_map_entry(tenant_a: Tenant) -> None:
    fields = _oversized_tag(tenant_a)
    assert any(re.fullmatch(r"""run\.tags\[(['"])team\1\]""", field) for field in fields), fields


def test_map_entry_path_is_quoted_as_documented(tenant_a: Tenant) -> None:
    assert 'run.tags["team"]' in _oversized_tag(tenant_a)
