"""Standard methods (AIP-131 to 135) of experiments and metadata artifacts: Create, Get, List,
Update with a field mask, Delete; etags, request ids and pagination."""

from __future__ import annotations

import re
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from conformance.api.support import (
    Caller,
    Tenant,
    expect_failure,
    new_id,
    new_request_id,
)
from controlplane.v1 import experiment_service_pb2 as ex
from controlplane.v1 import metadata_service_pb2 as md

ID = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class Experiments:
    """Experiments through ExperimentService. The decoy, a change outside the update mask,
    is the description."""

    collection = "experiments"

    def create(
        self,
        caller: Caller,
        tenant: Tenant,
        display_name: str,
        *,
        resource_id: str = "",
        request_id: str = "",
    ) -> Any:
        return caller.experiments.CreateExperiment(
            ex.CreateExperimentRequest(
                parent=tenant.name,
                experiment=ex.Experiment(display_name=display_name, description="original"),
                experiment_id=resource_id,
                request_id=request_id,
            )
        )

    def get(self, caller: Caller, name: str) -> Any:
        return caller.experiments.GetExperiment(ex.GetExperimentRequest(name=name))

    def list(
        self,
        caller: Caller,
        tenant: Tenant,
        *,
        page_size: int = 0,
        page_token: str = "",
        filter: str = "",
    ) -> tuple[list[Any], str]:
        response = caller.experiments.ListExperiments(
            ex.ListExperimentsRequest(
                parent=tenant.name, page_size=page_size, page_token=page_token, filter=filter
            )
        )
        return list(response.experiments), response.next_page_token

    def update(self, caller: Caller, name: str, display_name: str, *, etag: str = "") -> Any:
        return caller.experiments.UpdateExperiment(
            ex.UpdateExperimentRequest(
                experiment=ex.Experiment(
                    name=name, display_name=display_name, description="decoy", etag=etag
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            )
        )

    def decoy_applied(self, resource: Any) -> bool:
        return bool(resource.description != "original")

    def delete(self, caller: Caller, name: str, *, etag: str = "") -> None:
        caller.experiments.DeleteExperiment(ex.DeleteExperimentRequest(name=name, etag=etag))


class Artifacts:
    """Metadata artifacts through MetadataService. The decoy is a property."""

    collection = "artifacts"

    def create(
        self,
        caller: Caller,
        tenant: Tenant,
        display_name: str,
        *,
        resource_id: str = "",
        request_id: str = "",
    ) -> Any:
        return caller.metadata.CreateArtifact(
            md.CreateArtifactRequest(
                parent=tenant.name,
                artifact=md.Artifact(
                    type="Dataset",
                    display_name=display_name,
                    properties={"origin": md.Value(string_value="original")},
                ),
                artifact_id=resource_id,
                request_id=request_id,
            )
        )

    def get(self, caller: Caller, name: str) -> Any:
        return caller.metadata.GetArtifact(md.GetArtifactRequest(name=name))

    def list(
        self,
        caller: Caller,
        tenant: Tenant,
        *,
        page_size: int = 0,
        page_token: str = "",
        filter: str = "",
    ) -> tuple[list[Any], str]:
        response = caller.metadata.ListArtifacts(
            md.ListArtifactsRequest(
                parent=tenant.name, page_size=page_size, page_token=page_token, filter=filter
            )
        )
        return list(response.artifacts), response.next_page_token

    def update(self, caller: Caller, name: str, display_name: str, *, etag: str = "") -> Any:
        return caller.metadata.UpdateArtifact(
            md.UpdateArtifactRequest(
                artifact=md.Artifact(
                    name=name,
                    type="Dataset",
                    display_name=display_name,
                    properties={"origin": md.Value(string_value="decoy")},
                    etag=etag,
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            )
        )

    def decoy_applied(self, resource: Any) -> bool:
        return bool(resource.properties["origin"].string_value != "original")

    def delete(self, caller: Caller, name: str, *, etag: str = "") -> None:
        caller.metadata.DeleteArtifact(md.DeleteArtifactRequest(name=name, etag=etag))


Kind = Experiments | Artifacts


@pytest.fixture(params=[Experiments(), Artifacts()], ids=["experiment", "artifact"])
def kind(request: pytest.FixtureRequest) -> Kind:
    resources: Kind = request.param
    return resources


def _contains(text: str) -> str:
    """A filter matching display names that contain ``text`` (hex digits and hyphens)."""
    return f'display_name : "{text}"'


def _tampered(token: str) -> str:
    middle = len(token) // 2
    replacement = "A" if token[middle] != "A" else "B"
    return token[:middle] + replacement + token[middle + 1 :]


def test_create_then_get_returns_the_same_resource(kind: Kind, tenant_a: Tenant) -> None:
    resource_id = new_id("res")
    created = kind.create(tenant_a.editor, tenant_a, "created", resource_id=resource_id)
    assert created.name == f"{tenant_a.name}/{kind.collection}/{resource_id}"
    assert created.etag
    assert kind.get(tenant_a.viewer, created.name) == created


def test_create_without_an_id_generates_one(kind: Kind, tenant_a: Tenant) -> None:
    created = kind.create(tenant_a.editor, tenant_a, "generated")
    prefix = f"{tenant_a.name}/{kind.collection}/"
    assert created.name.startswith(prefix), created.name
    assert ID.fullmatch(created.name.removeprefix(prefix)), created.name


def test_create_with_a_taken_id_is_already_exists(kind: Kind, tenant_a: Tenant) -> None:
    resource_id = new_id("taken")
    kind.create(tenant_a.editor, tenant_a, "first", resource_id=resource_id)
    expect_failure(
        lambda: kind.create(tenant_a.editor, tenant_a, "second", resource_id=resource_id),
        grpc.StatusCode.ALREADY_EXISTS,
        reason="ALREADY_EXISTS",
    )


def test_list_includes_the_created_resource(kind: Kind, tenant_a: Tenant) -> None:
    marker = new_id("listed")
    created = kind.create(tenant_a.editor, tenant_a, marker)
    listed, _ = kind.list(tenant_a.viewer, tenant_a, filter=_contains(marker))
    assert listed == [created]


def test_update_changes_only_the_fields_in_the_mask(kind: Kind, tenant_a: Tenant) -> None:
    created = kind.create(tenant_a.editor, tenant_a, "before")
    updated = kind.update(tenant_a.editor, created.name, "after")
    assert updated.display_name == "after"
    assert not kind.decoy_applied(updated), "a field outside update_mask was changed"
    assert updated.etag and updated.etag != created.etag, "an update must change the etag"
    assert kind.get(tenant_a.viewer, created.name) == updated


def test_update_with_a_stale_etag_is_aborted(kind: Kind, tenant_a: Tenant) -> None:
    created = kind.create(tenant_a.editor, tenant_a, "v1")
    current = kind.update(tenant_a.editor, created.name, "v2", etag=created.etag)
    expect_failure(
        lambda: kind.update(tenant_a.editor, created.name, "v3", etag=created.etag),
        grpc.StatusCode.ABORTED,
        reason="ETAG_MISMATCH",
    )
    assert kind.get(tenant_a.viewer, created.name) == current


def test_delete_with_a_stale_etag_is_aborted(kind: Kind, tenant_a: Tenant) -> None:
    created = kind.create(tenant_a.editor, tenant_a, "kept")
    kind.update(tenant_a.editor, created.name, "kept, changed")
    expect_failure(
        lambda: kind.delete(tenant_a.admin, created.name, etag=created.etag),
        grpc.StatusCode.ABORTED,
        reason="ETAG_MISMATCH",
    )
    kind.get(tenant_a.viewer, created.name)


def test_delete_then_get_is_not_found(kind: Kind, tenant_a: Tenant) -> None:
    created = kind.create(tenant_a.editor, tenant_a, "deleted")
    kind.delete(tenant_a.admin, created.name, etag=created.etag)
    expect_failure(
        lambda: kind.get(tenant_a.viewer, created.name),
        grpc.StatusCode.NOT_FOUND,
        reason="NOT_FOUND",
    )


def test_request_id_retry_returns_the_same_resource_and_creates_nothing_twice(
    kind: Kind, tenant_a: Tenant
) -> None:
    marker, request_id = new_id("retried"), new_request_id()
    first = kind.create(tenant_a.editor, tenant_a, marker, request_id=request_id)
    again = kind.create(tenant_a.editor, tenant_a, marker, request_id=request_id)
    assert again == first, "a retry returns the first response"
    listed, _ = kind.list(tenant_a.viewer, tenant_a, filter=_contains(marker))
    assert [resource.name for resource in listed] == [first.name]


def test_request_id_reused_for_another_request_is_invalid_argument(
    kind: Kind, tenant_a: Tenant
) -> None:
    marker, request_id = new_id("reused"), new_request_id()
    kind.create(tenant_a.editor, tenant_a, marker, request_id=request_id)
    expect_failure(
        lambda: kind.create(tenant_a.editor, tenant_a, marker + "-other", request_id=request_id),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="REQUEST_ID_REUSED",
    )
    listed, _ = kind.list(tenant_a.viewer, tenant_a, filter=_contains(marker + "-other"))
    assert listed == []


def _five(kind: Kind, tenant: Tenant) -> tuple[str, list[str]]:
    marker = new_id("paged")
    names = [kind.create(tenant.editor, tenant, f"{marker}-{i}").name for i in range(5)]
    return marker, names


def test_pagination_with_page_size_2_returns_every_resource_once(
    kind: Kind, tenant_a: Tenant
) -> None:
    marker, names = _five(kind, tenant_a)
    pages: list[list[str]] = []
    token = ""
    while True:
        page, token = kind.list(
            tenant_a.viewer, tenant_a, page_size=2, page_token=token, filter=_contains(marker)
        )
        pages.append([resource.name for resource in page])
        if not token:
            break
        assert len(pages) < 10, "pagination does not end"
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [name for page in pages for name in page] == names, "default order: oldest first"


def test_tampered_page_token_is_invalid_argument(kind: Kind, tenant_a: Tenant) -> None:
    marker, _ = _five(kind, tenant_a)
    _, token = kind.list(tenant_a.viewer, tenant_a, page_size=2, filter=_contains(marker))
    assert token
    expect_failure(
        lambda: kind.list(
            tenant_a.viewer,
            tenant_a,
            page_size=2,
            page_token=_tampered(token),
            filter=_contains(marker),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_PAGE_TOKEN",
    )


def test_page_token_of_another_query_is_invalid_argument(kind: Kind, tenant_a: Tenant) -> None:
    marker, _ = _five(kind, tenant_a)
    _, token = kind.list(tenant_a.viewer, tenant_a, page_size=2, filter=_contains(marker))
    assert token
    expect_failure(
        lambda: kind.list(tenant_a.viewer, tenant_a, page_size=2, page_token=token),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_PAGE_TOKEN",
    )
