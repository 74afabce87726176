"""ArtifactService over the real server: streamed, verified, content-addressed uploads,
downloads, quotas and garbage collection (SQLite and PostgreSQL, the local artifact store)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from controlplane.artifact_keys import blob_key
from controlplane.config import Settings
from controlplane.hookspecs import hookimpl
from controlplane.interfaces import ArtifactStore, BlobWriter
from controlplane.plugin_loader import load_plugins
from controlplane.server.app import RunningServer, start
from controlplane.v1 import artifact_service_pb2 as ar
from controlplane.v1 import metadata_service_pb2 as md
from tests.conftest import Api, TenantWorld
from tests.rpc_samples import upload_requests

MiB = 1024 * 1024


def _error(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str], list[str]]:
    """(ErrorInfo reason, its metadata, the BadRequest fields) of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    reason, metadata, fields = "", {}, []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return reason, metadata, fields


async def _artifact(api: Api, world: TenantWorld, **fields: Any) -> md.Artifact:
    return await api.call(
        api.metadata.CreateArtifact,
        md.CreateArtifactRequest(
            parent=world.name,
            artifact_id=f"a{uuid.uuid4().hex[:10]}",
            artifact=md.Artifact(type="Model", **fields),
        ),
    )


async def _upload(api: Api, messages: list[ar.UploadArtifactContentRequest]) -> ar.ArtifactContent:
    return await api.artifacts.UploadArtifactContent(iter(messages), metadata=api.auth)


async def _download(api: Api, artifact: str, offset: int = 0) -> tuple[ar.ArtifactContent, bytes]:
    content = None
    data = bytearray()
    request = ar.DownloadArtifactContentRequest(artifact=artifact, offset=offset)
    async for message in api.artifacts.DownloadArtifactContent(request, metadata=api.auth):
        if message.HasField("content"):
            content = message.content
        data += message.chunk
    assert content is not None
    return content, bytes(data)


async def _quota(api: Api, world: TenantWorld) -> ar.ArtifactQuota:
    return await api.call(
        api.artifacts.GetArtifactQuota,
        ar.GetArtifactQuotaRequest(name=f"{world.name}/artifactQuota"),
    )


def _stored_keys(server: RunningServer, tenant: str) -> list[str]:
    assert server.services.artifact_store is not None
    return list(server.services.artifact_store.store.list_keys(f"tenants/{tenant}/"))


async def _expect_nothing_stored(
    api: Api, server: RunningServer, world: TenantWorld, artifact: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await api.call(
            api.artifacts.GetArtifactContent, ar.GetArtifactContentRequest(artifact=artifact)
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    found = await api.call(api.metadata.GetArtifact, md.GetArtifactRequest(name=artifact))
    assert (found.uri, found.state) == ("", md.Artifact.STATE_UNSPECIFIED)
    assert _stored_keys(server, world.tenant_id) == []
    assert (await _quota(api, world)).used_bytes == 0


async def test_content_uploads_in_chunks_and_downloads_whole(
    world: TenantWorld, server: RunningServer
) -> None:
    editor = world["editor"]
    artifact = await _artifact(editor, world)
    content = os.urandom(3 * MiB + 12_345)
    digest = hashlib.sha256(content).hexdigest()
    uploaded = await _upload(
        editor, upload_requests(artifact.name, content, chunk_size=MiB, media_type="model/x-torch")
    )
    assert (uploaded.artifact, uploaded.sha256, uploaded.size_bytes, uploaded.media_type) == (
        artifact.name,
        digest,
        len(content),
        "model/x-torch",
    )
    described, data = await _download(world["viewer"], artifact.name)
    assert data == content
    assert described == uploaded
    after = await editor.call(
        editor.metadata.GetArtifact, md.GetArtifactRequest(name=artifact.name)
    )
    assert (after.uri, after.state) == (f"sha256:{digest}", md.Artifact.STATE_LIVE)
    assert after.etag != artifact.etag
    assert _stored_keys(server, world.tenant_id) == [blob_key(world.tenant_id, digest)]


async def test_a_download_resumes_from_an_offset(world: TenantWorld) -> None:
    editor = world["editor"]
    artifact = await _artifact(editor, world)
    content = os.urandom(2 * MiB + 7)
    await _upload(editor, upload_requests(artifact.name, content))
    _, tail = await _download(editor, artifact.name, offset=MiB + 3)
    assert tail == content[MiB + 3 :]
    _, nothing = await _download(editor, artifact.name, offset=len(content))
    assert nothing == b""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _download(editor, artifact.name, offset=len(content) + 1)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error(caught.value)[2] == ["offset"]


async def test_empty_content_is_valid(world: TenantWorld) -> None:
    editor = world["editor"]
    artifact = await _artifact(editor, world)
    uploaded = await _upload(editor, upload_requests(artifact.name, b""))
    assert (uploaded.size_bytes, uploaded.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert (await _download(editor, artifact.name))[1] == b""


async def test_content_that_lies_about_its_hash_is_refused_and_nothing_stored(
    world: TenantWorld, server: RunningServer
) -> None:
    editor = world["editor"]
    artifact = await _artifact(editor, world)
    messages = upload_requests(
        artifact.name, b"real bytes", sha256=hashlib.sha256(b"x").hexdigest()
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _upload(editor, messages)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error(caught.value)[0] == "CONTENT_MISMATCH"
    assert _error(caught.value)[2] == ["header.sha256"]
    await _expect_nothing_stored(editor, server, world, artifact.name)


@pytest.mark.parametrize("declared", [5, 50], ids=["more-than-declared", "fewer-than-declared"])
async def test_content_that_lies_about_its_size_is_refused_and_nothing_stored(
    declared: int, world: TenantWorld, server: RunningServer
) -> None:
    editor = world["editor"]
    artifact = await _artifact(editor, world)
    content = b"twenty bytes exactly"
    messages = upload_requests(artifact.name, content, chunk_size=4, size_bytes=declared)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _upload(editor, messages)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error(caught.value)[:3:2] == ("CONTENT_MISMATCH", ["header.size_bytes"])
    await _expect_nothing_stored(editor, server, world, artifact.name)


async def test_an_upload_that_stops_midway_stores_nothing(
    world: TenantWorld, server: RunningServer
) -> None:
    editor = world["editor"]
    artifact = await _artifact(editor, world)
    content = os.urandom(4 * MiB)
    messages = upload_requests(artifact.name, content, chunk_size=MiB)
    sent = asyncio.Event()

    async def some_then_stall() -> AsyncIterator[ar.UploadArtifactContentRequest]:
        for message in messages[:3]:
            yield message
        sent.set()
        await asyncio.sleep(3600)

    call = editor.artifacts.UploadArtifactContent(some_then_stall(), metadata=editor.auth)
    await sent.wait()
    await asyncio.sleep(0.2)  # the server has received and staged some bytes
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    for _ in range(50):  # the server notices the cancellation on its own schedule
        staging = Path(server.services.artifact_store.store.root) / ".staging"  # type: ignore[union-attr, attr-defined]
        if not staging.exists() or not any(staging.iterdir()):
            break
        await asyncio.sleep(0.1)
    assert not staging.exists() or not any(staging.iterdir())
    await _expect_nothing_stored(editor, server, world, artifact.name)


async def test_the_same_content_is_stored_once_and_counted_once(
    world: TenantWorld, server: RunningServer
) -> None:
    editor = world["editor"]
    content = os.urandom(100_000)
    first, second = await _artifact(editor, world), await _artifact(editor, world)
    await _upload(editor, upload_requests(first.name, content))
    await _upload(editor, upload_requests(second.name, content))
    assert (await _download(editor, second.name))[1] == content
    quota = await _quota(editor, world)
    assert (quota.used_bytes, quota.blob_count) == (len(content), 1)
    assert len(_stored_keys(server, world.tenant_id)) == 1


async def test_content_is_immutable(world: TenantWorld) -> None:
    editor = world["editor"]
    artifact = await _artifact(editor, world)
    await _upload(editor, upload_requests(artifact.name, b"one"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _upload(editor, upload_requests(artifact.name, b"two"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already has content" in (caught.value.details() or "")
    assert (await _download(editor, artifact.name))[1] == b"one"


async def test_an_artifact_that_points_elsewhere_takes_no_upload(world: TenantWorld) -> None:
    editor = world["editor"]
    artifact = await _artifact(editor, world, uri="s3://bucket/model.pt")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _upload(editor, upload_requests(artifact.name, b"bytes"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "s3://bucket/model.pt" in (caught.value.details() or "")


async def test_uploading_to_a_missing_artifact_is_not_found(world: TenantWorld) -> None:
    editor = world["editor"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _upload(editor, upload_requests(f"{world.name}/artifacts/nope", b"bytes"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def _bad_uploads(artifact: str) -> Iterator[tuple[str, list[ar.UploadArtifactContentRequest], str]]:
    good = upload_requests(artifact, b"bytes")
    yield "chunk-first", [ar.UploadArtifactContentRequest(chunk=b"x")], "header"
    yield "no-messages", [], "header"
    yield "two-headers", [good[0], good[0]], "header"
    yield "short-sha", upload_requests(artifact, b"bytes", sha256="abc"), "header.sha256"
    yield (
        "uppercase-sha",
        upload_requests(artifact, b"bytes", sha256=hashlib.sha256(b"bytes").hexdigest().upper()),
        "header.sha256",
    )
    yield "negative-size", upload_requests(artifact, b"", size_bytes=-1), "header.size_bytes"
    yield (
        "bad-media-type",
        upload_requests(artifact, b"bytes", media_type="not a type"),
        ("header.media_type"),
    )
    yield "bad-name", upload_requests(artifact + "/x", b"bytes"), "header.artifact"
    big = b"\0" * (8 * MiB + 1)
    yield "oversize-chunk", upload_requests(artifact, big, chunk_size=len(big)), "chunk"


@pytest.mark.parametrize(
    "case", [c[0] for c in _bad_uploads("tenants/t/artifacts/a")], ids=lambda c: c
)
async def test_malformed_uploads_name_the_field(
    case: str, world: TenantWorld, server: RunningServer
) -> None:
    editor = world["editor"]
    artifact = await _artifact(editor, world)
    messages, field = next((m, f) for c, m, f in _bad_uploads(artifact.name) if c == case)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _upload(editor, messages)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert _error(caught.value)[2] == [field]
    await _expect_nothing_stored(editor, server, world, artifact.name)


async def test_an_upload_over_quota_is_refused_before_storing(
    admin: Api, world: TenantWorld, server: RunningServer
) -> None:
    editor = world["editor"]
    quota_name = f"{world.name}/artifactQuota"
    updated = await admin.call(
        admin.artifacts.UpdateArtifactQuota,
        ar.UpdateArtifactQuotaRequest(quota=ar.ArtifactQuota(name=quota_name, limit_bytes=1000)),
    )
    assert (updated.limit_bytes, updated.used_bytes) == (1000, 0)
    first = await _artifact(editor, world)
    await _upload(editor, upload_requests(first.name, os.urandom(600)))
    second = await _artifact(editor, world)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _upload(editor, upload_requests(second.name, os.urandom(600)))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    reason, metadata, _ = _error(caught.value)
    assert reason == "QUOTA_EXCEEDED"
    assert metadata["limit_bytes"] == "1000"
    assert metadata["used_bytes"] == "600"
    assert len(_stored_keys(server, world.tenant_id)) == 1
    # Content the tenant already stores costs nothing more.
    third = await _artifact(editor, world)
    duplicate = (await _download(editor, first.name))[1]
    await _upload(editor, upload_requests(third.name, duplicate))
    assert (await _quota(editor, world)).used_bytes == 600


@pytest.mark.parametrize(
    ("quota", "mask", "field"),
    [
        ({"limit_bytes": -1}, [], "quota.limit_bytes"),
        ({"limit_bytes": 5}, ["used_bytes"], "update_mask"),
        ({"limit_bytes": 5, "name": "tenants/x/artifacts/y"}, [], "quota.name"),
    ],
    ids=["negative", "bad-mask", "bad-name"],
)
async def test_bad_quota_updates_name_the_field(
    quota: dict[str, Any], mask: list[str], field: str, admin: Api, world: TenantWorld
) -> None:
    message = ar.ArtifactQuota(**{"name": f"{world.name}/artifactQuota", **quota})
    request = ar.UpdateArtifactQuotaRequest(quota=message)
    request.update_mask.paths.extend(mask)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.call(admin.artifacts.UpdateArtifactQuota, request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error(caught.value)[2] == [field]


async def test_the_quota_of_a_missing_tenant_is_not_found(admin: Api) -> None:
    request = ar.UpdateArtifactQuotaRequest(
        quota=ar.ArtifactQuota(name="tenants/nobody-here/artifactQuota", limit_bytes=5)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.call(admin.artifacts.UpdateArtifactQuota, request)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_garbage_collection_removes_unreferenced_blobs_and_orphans(
    admin: Api, world: TenantWorld, server: RunningServer
) -> None:
    maintainer = world["maintainer"]
    kept, dropped = await _artifact(maintainer, world), await _artifact(maintainer, world)
    kept_bytes, dropped_bytes = os.urandom(1000), os.urandom(2000)
    await _upload(maintainer, upload_requests(kept.name, kept_bytes))
    await _upload(maintainer, upload_requests(dropped.name, dropped_bytes))
    await maintainer.call(
        maintainer.metadata.DeleteArtifact, md.DeleteArtifactRequest(name=dropped.name)
    )
    # An object no row knows: what an upload interrupted between storing and recording leaves.
    store = server.services.artifact_store.store  # type: ignore[union-attr]
    orphan = blob_key(world.tenant_id, hashlib.sha256(b"orphan").hexdigest())
    writer = store.writer(orphan)
    writer.write(b"orphan")
    writer.commit()
    dropped_key = blob_key(world.tenant_id, hashlib.sha256(dropped_bytes).hexdigest())
    assert (await _quota(maintainer, world)).used_bytes == 3000

    dry = await admin.call(
        admin.artifacts.CollectArtifactGarbage, ar.CollectArtifactGarbageRequest(dry_run=True)
    )
    assert dry.unreferenced_blob_count >= 1 and dry.orphaned_object_count >= 1
    assert dry.freed_bytes >= 2000 + len(b"orphan")
    assert store.exists(dropped_key) and store.exists(orphan)

    done = await admin.call(
        admin.artifacts.CollectArtifactGarbage, ar.CollectArtifactGarbageRequest()
    )
    assert done.freed_bytes >= 2000 + len(b"orphan")
    assert not store.exists(dropped_key) and not store.exists(orphan)
    assert (await _download(maintainer, kept.name))[1] == kept_bytes
    quota = await _quota(maintainer, world)
    assert (quota.used_bytes, quota.blob_count) == (1000, 1)
    again = await admin.call(
        admin.artifacts.CollectArtifactGarbage, ar.CollectArtifactGarbageRequest()
    )
    assert store.exists(blob_key(world.tenant_id, hashlib.sha256(kept_bytes).hexdigest()))
    assert again.freed_bytes == 0 or not store.exists(dropped_key)


async def test_the_server_lists_its_plugins(world: TenantWorld) -> None:
    viewer = world["viewer"]
    from controlplane.v1 import plugin_service_pb2 as pl

    listed = await viewer.call(viewer.plugins.ListPlugins, pl.ListPluginsRequest())
    assert listed.artifact_store == "local"
    by_name = {plugin.name: plugin for plugin in listed.plugins}
    for name in ("local", "fsspec"):
        assert by_name[name].source == "built-in"
        assert by_name[name].status == pl.Plugin.STATUS_LOADED
        assert [(p.kind, p.name, p.active) for p in by_name[name].provisions] == [
            ("artifact-store", name, True)
        ]


# -- a plugin that fails at run time -------------------------------------------------------------


class _BrokenWriter(BlobWriter):
    def write(self, data: bytes) -> None:
        raise OSError("disk on fire")

    def commit(self) -> None:
        raise AssertionError("never reached")

    def abort(self) -> None:
        pass


class _BrokenStore(ArtifactStore):
    name = "broken"

    def writer(self, key: str) -> BlobWriter:
        return _BrokenWriter()

    def open(self, key: str, offset: int = 0) -> Any:
        raise OSError("disk on fire")

    def size(self, key: str) -> int:
        raise OSError("disk on fire")

    def exists(self, key: str) -> bool:
        return False

    def delete(self, key: str) -> None:
        pass

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return iter(())


def _broken_plugin() -> types.ModuleType:
    module = types.ModuleType("broken_store_plugin")

    @hookimpl
    def controlplane_register_artifact_stores(registry: Any) -> None:
        registry.add_artifact_store("broken", lambda root: _BrokenStore())

    module.controlplane_register_artifact_stores = controlplane_register_artifact_stores  # type: ignore[attr-defined]
    return module


async def test_a_failing_artifact_store_fails_the_call_cleanly_naming_the_plugin(
    tmp_path: Path,
) -> None:
    plugins = load_plugins(extra=[("broken-store", _broken_plugin())])
    running = await start(
        Settings(listen="127.0.0.1:0", data_dir=tmp_path, artifact_store="broken"), plugins
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            assert running.admin_key
            admin = Api(channel, running.admin_key)
            artifact = await admin.call(
                admin.metadata.CreateArtifact,
                md.CreateArtifactRequest(
                    parent="tenants/platform", artifact_id="m", artifact=md.Artifact(type="Model")
                ),
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _upload(admin, upload_requests(artifact.name, b"bytes"))
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            reason, metadata, _ = _error(caught.value)
            assert (reason, metadata["plugin"]) == ("PLUGIN_FAILED", "broken-store")
            assert "disk on fire" not in (caught.value.details() or "")
            found = await admin.call(
                admin.metadata.GetArtifact, md.GetArtifactRequest(name=artifact.name)
            )
            assert found.uri == ""
    finally:
        await running.stop(0)


async def test_an_unknown_artifact_store_stops_the_start_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no artifact-store named 'nope' \(available: .*local"):
        await start(Settings(listen="127.0.0.1:0", data_dir=tmp_path, artifact_store="nope"))


async def test_the_uri_of_an_artifact_with_content_cannot_change(world: TenantWorld) -> None:
    from google.protobuf import field_mask_pb2

    editor = world["editor"]
    artifact = await _artifact(editor, world)
    await _upload(editor, upload_requests(artifact.name, b"weights"))
    request = md.UpdateArtifactRequest(
        artifact=md.Artifact(name=artifact.name, uri="s3://elsewhere"),
        update_mask=field_mask_pb2.FieldMask(paths=["uri"]),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await editor.call(editor.metadata.UpdateArtifact, request)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    renamed = md.UpdateArtifactRequest(
        artifact=md.Artifact(name=artifact.name, display_name="weights v1"),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
    )
    updated = await editor.call(editor.metadata.UpdateArtifact, renamed)
    assert updated.uri.startswith("sha256:") and updated.display_name == "weights v1"


async def test_a_broken_plugin_is_reported_and_the_server_serves(tmp_path: Path) -> None:
    from controlplane.v1 import plugin_service_pb2 as pl

    broken = types.ModuleType("broken_hook_plugin")

    @hookimpl
    def controlplane_register_alert_channels(registry: Any) -> None:
        raise RuntimeError("misconfigured: no SMTP host")

    broken.controlplane_register_alert_channels = controlplane_register_alert_channels  # type: ignore[attr-defined]
    plugins = load_plugins(extra=[("broken-alerts", broken)])
    running = await start(Settings(listen="127.0.0.1:0", data_dir=tmp_path), plugins)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            assert running.admin_key
            admin = Api(channel, running.admin_key)
            listed = await admin.call(admin.plugins.ListPlugins, pl.ListPluginsRequest())
            by_name = {plugin.name: plugin for plugin in listed.plugins}
            assert by_name["broken-alerts"].status == pl.Plugin.STATUS_FAILED
            assert "misconfigured: no SMTP host" in by_name["broken-alerts"].error
            assert list(by_name["broken-alerts"].provisions) == []
            assert by_name["alerts"].status == pl.Plugin.STATUS_LOADED
            assert listed.artifact_store == "local"
    finally:
        await running.stop(0)
