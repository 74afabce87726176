"""Artifact content: chunked, sha256-verified uploads, downloads (from an offset), and the
tenant's quota."""

from __future__ import annotations

import hashlib
import os

import grpc
import pytest

from conformance.api.support import (
    Tenant,
    create_artifact,
    download,
    expect_failure,
    upload_requests,
)
from controlplane.v1 import artifact_service_pb2 as ar
from controlplane.v1 import metadata_service_pb2 as md

CONTENT = os.urandom(300 * 1024 + 17)  # several upload chunks, not a multiple of any


@pytest.fixture(scope="module")
def uploaded(tenant_a: Tenant) -> str:
    """An artifact whose content is CONTENT, uploaded in 64 KiB chunks."""
    artifact = create_artifact(tenant_a.editor, tenant_a)
    tenant_a.editor.artifacts.UploadArtifactContent(
        upload_requests(artifact, CONTENT, chunk_size=64 * 1024, media_type="application/x-test")
    )
    return artifact


def test_upload_in_chunks_describes_the_content(tenant_a: Tenant) -> None:
    artifact = create_artifact(tenant_a.editor, tenant_a)
    content = tenant_a.editor.artifacts.UploadArtifactContent(
        upload_requests(artifact, CONTENT, chunk_size=50_000)
    )
    assert content.artifact == artifact
    assert content.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert content.size_bytes == len(CONTENT)
    assert content.media_type == "application/octet-stream", "the default media type"


def test_uploaded_artifact_is_live_with_a_sha256_uri(tenant_a: Tenant, uploaded: str) -> None:
    artifact = tenant_a.viewer.metadata.GetArtifact(md.GetArtifactRequest(name=uploaded))
    assert artifact.uri == f"sha256:{hashlib.sha256(CONTENT).hexdigest()}"
    assert artifact.state == md.Artifact.STATE_LIVE


def test_download_returns_the_uploaded_bytes(tenant_a: Tenant, uploaded: str) -> None:
    content, data = download(tenant_a.viewer, uploaded)
    assert data == CONTENT
    assert content.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert content.size_bytes == len(CONTENT)
    assert content.media_type == "application/x-test"


def test_download_from_an_offset_returns_the_rest(tenant_a: Tenant, uploaded: str) -> None:
    offset = 100_001
    content, data = download(tenant_a.viewer, uploaded, offset=offset)
    assert data == CONTENT[offset:]
    assert content.size_bytes == len(CONTENT), "the description is of the whole content"


def test_get_artifact_content_describes_without_bytes(tenant_a: Tenant, uploaded: str) -> None:
    content = tenant_a.viewer.artifacts.GetArtifactContent(
        ar.GetArtifactContentRequest(artifact=uploaded)
    )
    assert (content.artifact, content.sha256, content.size_bytes) == (
        uploaded,
        hashlib.sha256(CONTENT).hexdigest(),
        len(CONTENT),
    )


def test_sha256_mismatch_is_content_mismatch(tenant_a: Tenant) -> None:
    artifact = create_artifact(tenant_a.editor, tenant_a)
    expect_failure(
        lambda: tenant_a.editor.artifacts.UploadArtifactContent(
            upload_requests(artifact, b"the real bytes", sha256="0" * 64)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="CONTENT_MISMATCH",
        field="header.sha256",
    )


def test_refused_upload_stores_nothing(tenant_a: Tenant) -> None:
    artifact = create_artifact(tenant_a.editor, tenant_a)
    expect_failure(
        lambda: tenant_a.editor.artifacts.UploadArtifactContent(
            upload_requests(artifact, b"the real bytes", sha256="0" * 64)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="CONTENT_MISMATCH",
    )
    expect_failure(
        lambda: tenant_a.viewer.artifacts.GetArtifactContent(
            ar.GetArtifactContentRequest(artifact=artifact)
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="FAILED_PRECONDITION",
    )
    assert tenant_a.viewer.metadata.GetArtifact(md.GetArtifactRequest(name=artifact)).uri == ""


def test_size_mismatch_is_content_mismatch(tenant_a: Tenant) -> None:
    artifact = create_artifact(tenant_a.editor, tenant_a)
    data = b"twelve bytes"
    expect_failure(
        lambda: tenant_a.editor.artifacts.UploadArtifactContent(
            upload_requests(artifact, data, sha256=hashlib.sha256(data).hexdigest(), size_bytes=13)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="CONTENT_MISMATCH",
        field="header.size_bytes",
    )


def test_second_upload_is_failed_precondition(tenant_a: Tenant, uploaded: str) -> None:
    expect_failure(
        lambda: tenant_a.editor.artifacts.UploadArtifactContent(
            upload_requests(uploaded, b"other bytes")
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert download(tenant_a.viewer, uploaded)[1] == CONTENT


def test_viewer_uploading_is_permission_denied(tenant_a: Tenant) -> None:
    artifact = create_artifact(tenant_a.editor, tenant_a)
    expect_failure(
        lambda: tenant_a.viewer.artifacts.UploadArtifactContent(upload_requests(artifact, b"x")),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="PERMISSION_DENIED",
    )


def test_artifact_quota_is_readable_by_a_viewer(tenant_a: Tenant, uploaded: str) -> None:
    quota = tenant_a.viewer.artifacts.GetArtifactQuota(
        ar.GetArtifactQuotaRequest(name=f"{tenant_a.name}/artifactQuota")
    )
    assert quota.name == f"{tenant_a.name}/artifactQuota"
    assert quota.limit_bytes >= 0
    assert quota.used_bytes >= len(CONTENT), "the uploaded content counts against the quota"
    assert quota.blob_count >= 1


def test_download_from_the_end_sends_only_the_description(tenant_a: Tenant, uploaded: str) -> None:
    content, data = download(tenant_a.viewer, uploaded, offset=len(CONTENT))
    assert data == b""
    assert content.size_bytes == len(CONTENT)


def test_download_past_the_end_is_invalid_argument(tenant_a: Tenant, uploaded: str) -> None:
    expect_failure(
        lambda: download(tenant_a.viewer, uploaded, offset=len(CONTENT) + 1),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="offset",
    )


def test_upload_must_start_with_the_header(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.editor.artifacts.UploadArtifactContent(
            iter([ar.UploadArtifactContentRequest(chunk=b"bytes first")])
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="header",
    )


def _quota(tenant: Tenant) -> ar.ArtifactQuota:
    quota: ar.ArtifactQuota = tenant.viewer.artifacts.GetArtifactQuota(
        ar.GetArtifactQuotaRequest(name=f"{tenant.name}/artifactQuota")
    )
    return quota


def test_identical_content_is_stored_and_counted_once(tenant_a: Tenant) -> None:
    data = os.urandom(4096)
    before = _quota(tenant_a)
    for _ in range(2):
        artifact = create_artifact(tenant_a.editor, tenant_a)
        tenant_a.editor.artifacts.UploadArtifactContent(upload_requests(artifact, data))
        assert download(tenant_a.viewer, artifact)[1] == data
    after = _quota(tenant_a)
    assert after.used_bytes - before.used_bytes == len(data)
    assert after.blob_count - before.blob_count == 1


def test_tenant_admin_changing_the_quota_is_permission_denied(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.admin.artifacts.UpdateArtifactQuota(
            ar.UpdateArtifactQuotaRequest(
                quota=ar.ArtifactQuota(name=f"{tenant_a.name}/artifactQuota", limit_bytes=1)
            )
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="PERMISSION_DENIED",
    )
