"""ArtifactService: the bytes of metadata artifacts, streamed in chunks, content-addressed.

An upload streams into the artifact-store plugin's staging area while the server hashes it;
only content that matches the header's sha256 and size is committed, under the same database
transaction that records it (so a failure at any point leaves neither bytes nor rows).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from controlplane import clock, names
from controlplane.artifact_keys import blob_key
from controlplane.errors import (
    ContentMismatch,
    ControlPlaneError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PluginFailed,
    QuotaExceeded,
)
from controlplane.interfaces import ArtifactStore, BlobWriter
from controlplane.services._typing import ServicerContext
from controlplane.services.base import Services
from controlplane.store import artifacts as store
from controlplane.store.models import ArtifactBlob, ArtifactContent, ArtifactQuota
from controlplane.store.tenancy import platform_scope, tenant_scope
from controlplane.v1 import artifact_service_pb2 as pb
from controlplane.v1 import artifact_service_pb2_grpc as pb_grpc
from controlplane.v1 import metadata_service_pb2 as md_pb

log = logging.getLogger("controlplane.artifacts")

MAX_CHUNK_BYTES = 8 * 1024 * 1024
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
DEFAULT_MEDIA_TYPE = "application/octet-stream"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# type "/" subtype, each an RFC 6838 restricted name, optionally with parameters.
MEDIA_TYPE_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\s*;.*)?$"
)


def quota_name(tenant: str) -> str:
    return names.ARTIFACT_QUOTA.format(tenant)


def quota_tenant(name: str, field: str) -> str:
    """The tenant of a quota's name, ``tenants/{tenant}/artifactQuota`` (a singleton)."""
    (tenant,) = names.ARTIFACT_QUOTA.parse(name, field)
    return tenant


CONTENT_URI_PREFIX = "sha256:"

T = TypeVar("T")


@dataclass(frozen=True)
class BlobStore:
    """The artifact-store plugin in use, called from worker threads; whatever it raises
    becomes PLUGIN_FAILED naming the plugin (the traceback goes to the log)."""

    store: ArtifactStore
    plugin: str  # the plugin that provided it
    name: str  # the store's registered name

    async def call(self, action: str, function: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(function, *args)
        except ControlPlaneError:
            raise
        except Exception as error:
            log.error(
                "artifact store %r (plugin %r) failed to %s",
                self.name,
                self.plugin,
                action,
                exc_info=error,
            )
            raise PluginFailed.of("artifact-store", self.plugin, action) from error


def _content_proto(artifact: str, record: store.ContentRecord) -> pb.ArtifactContent:
    content = pb.ArtifactContent(
        artifact=artifact,
        sha256=record.sha256,
        size_bytes=record.size_bytes,
        media_type=record.media_type,
    )
    content.create_time.FromMicroseconds(record.create_time)
    return content


def _quota_exceeded(tenant: str, limit: int, used: int, size: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"storing {size} more bytes would exceed the artifact quota of tenants/{tenant} "
        f"({used} of {limit} bytes used); delete artifacts and run garbage collection, or ask "
        "a platform administrator for a larger quota",
        metadata={
            "quota": quota_name(tenant),
            "limit_bytes": str(limit),
            "used_bytes": str(used),
            "requested_bytes": str(size),
        },
    )


def _check_header(header: pb.ArtifactContentHeader) -> tuple[str, str, str, int, str]:
    tenant, artifact_id = names.ARTIFACT.parse(header.artifact, "header.artifact")
    if not SHA256_RE.match(header.sha256):
        raise InvalidArgument.for_field("header.sha256", "must be 64 lowercase hex digits")
    if header.size_bytes < 0:
        raise InvalidArgument.for_field("header.size_bytes", "must not be negative")
    media_type = header.media_type or DEFAULT_MEDIA_TYPE
    if len(media_type) > 255 or not MEDIA_TYPE_RE.match(media_type):
        raise InvalidArgument.for_field(
            "header.media_type", "must be a media type such as application/octet-stream"
        )
    return tenant, artifact_id, header.sha256, header.size_bytes, media_type


class _Upload:
    """The bytes of one upload: hashed, counted, and (unless the tenant already stores this
    content) written to the store's staging area."""

    def __init__(self, writer: BlobWriter | None, size: int) -> None:
        self.writer = writer
        self.expected_size = size
        self.hasher = hashlib.sha256()
        self.received = 0
        self.committed = False

    def add(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        if self.writer is not None:
            self.writer.write(chunk)


class ArtifactService(pb_grpc.ArtifactServiceServicer):
    def __init__(self, services: Services) -> None:
        self.db = services.db
        if services.artifact_store is None:
            raise ValueError("the artifact service needs an artifact store")
        self.blobs = services.artifact_store

    # -- upload -----------------------------------------------------------------------------

    async def UploadArtifactContent(
        self,
        request_iterator: AsyncIterator[pb.UploadArtifactContentRequest],
        context: ServicerContext,
    ) -> pb.ArtifactContent:
        messages = aiter(request_iterator)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidArgument.for_field("header", "the first message must be the header")
        tenant, artifact_id, sha256, size, media_type = _check_header(first.header)
        name = first.header.artifact
        key = blob_key(tenant, sha256)

        async with self.db.read() as session:
            await self._check_target(session, artifact_id, name)
            # Content the tenant already stores is only hashed (to prove the client has it),
            # not written again.
            already_stored = await store.blob(session, sha256) is not None
            if not already_stored:
                await self._check_quota(session, tenant, size)

        writer = (
            None
            if already_stored
            else await self.blobs.call("start a write", self.blobs.store.writer, key)
        )
        upload = _Upload(writer, size)
        try:
            await self._receive(messages, upload)
            return await self._record(upload, tenant, artifact_id, name, sha256, size, media_type)
        except BaseException:
            # A committed blob whose rows did not land is an orphan for garbage collection;
            # anything else is discarded now.
            if writer is not None and not upload.committed:
                try:
                    await asyncio.to_thread(writer.abort)
                except Exception:
                    log.exception("aborting the upload of %s failed", name)
            raise

    async def _check_target(self, session: Any, artifact_id: str, name: str) -> None:
        """Checks that the artifact exists and can take content."""
        artifact = await store.artifact_for_content(session, artifact_id)
        if artifact is None:
            raise NotFound.resource(name)
        if await store.content_of(session, artifact.pk) is not None:
            raise FailedPrecondition(
                f"{name} already has content; content is immutable (create a new artifact for "
                "new content)",
                metadata={"resource": name},
            )
        if artifact.uri:
            raise FailedPrecondition(
                f"{name} points at {artifact.uri!r}; only an artifact with an empty uri can "
                "take uploaded content",
                metadata={"resource": name},
            )

    async def _check_quota(self, session: Any, tenant: str, size: int) -> None:
        limit = await store.limit_bytes(session)
        if limit:
            used, _ = await store.usage(session)
            if used + size > limit:
                raise _quota_exceeded(tenant, limit, used, size)

    async def _receive(
        self, messages: AsyncIterator[pb.UploadArtifactContentRequest], upload: _Upload
    ) -> None:
        """Hashes and stores the chunks in order, one write in flight while the next message
        arrives (receiving and writing overlap; memory stays at about two chunks)."""
        writing: asyncio.Future[None] | None = None
        try:
            async for message in messages:
                if message.WhichOneof("part") != "chunk":
                    raise InvalidArgument.for_field("header", "only the first message is a header")
                chunk = message.chunk
                if len(chunk) > MAX_CHUNK_BYTES:
                    raise InvalidArgument.for_field(
                        "chunk", f"is {len(chunk)} bytes; at most {MAX_CHUNK_BYTES} per message"
                    )
                upload.received += len(chunk)
                if upload.received > upload.expected_size:
                    raise ContentMismatch(
                        f"received more than the {upload.expected_size} bytes the header declared",
                        [FieldViolation("header.size_bytes", "is smaller than the content sent")],
                    )
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(self.blobs.call("write", upload.add, chunk))
            if writing is not None:
                await writing
        finally:
            # Never abort the writer under a write still running in its thread.
            if writing is not None and not writing.done():
                await asyncio.wait([writing])
            if writing is not None and writing.done() and not writing.cancelled():
                writing.exception()  # retrieved: a failure here is reported by the await above

    async def _record(
        self,
        upload: _Upload,
        tenant: str,
        artifact_id: str,
        name: str,
        sha256: str,
        size: int,
        media_type: str,
    ) -> pb.ArtifactContent:
        if upload.received != size:
            raise ContentMismatch(
                f"received {upload.received} bytes; the header declared {size}",
                [
                    FieldViolation(
                        "header.size_bytes", f"does not match the {upload.received} bytes sent"
                    )
                ],
            )
        digest = upload.hasher.hexdigest()
        if digest != sha256:
            raise ContentMismatch(
                f"the content's sha256 is {digest}; the header declared {sha256}",
                [FieldViolation("header.sha256", "does not match the content sent")],
            )
        now = clock.now_us()
        async with self.db.write() as unit:
            session = unit.session
            await store.lock_blobs(session, exclusive=False)
            await self._check_target(session, artifact_id, name)
            artifact = await store.artifact_for_content(session, artifact_id)
            assert artifact is not None  # checked just above, in this transaction
            blob = await store.blob(session, sha256)
            if blob is None:
                if upload.writer is None:
                    # Collected since the upload began: the client must send it again.
                    raise FailedPrecondition(
                        f"the stored copy of this content was removed during the upload of "
                        f"{name}; upload it again",
                        metadata={"resource": name},
                    )
                await self._check_quota(session, tenant, size)
                blob = ArtifactBlob(
                    tenant_id=tenant, sha256=sha256, size_bytes=size, create_time=now
                )
                session.add(blob)
                await session.flush()
            session.add(
                ArtifactContent(
                    tenant_id=tenant,
                    artifact_pk=artifact.pk,
                    blob_pk=blob.pk,
                    media_type=media_type,
                    create_time=now,
                )
            )
            artifact.uri = CONTENT_URI_PREFIX + sha256
            artifact.state = md_pb.Artifact.STATE_LIVE
            artifact.touch(now)
            unit.audit(name, action="upload_content", sha256=sha256, size_bytes=size)
            await session.flush()
            if upload.writer is not None:
                # Inside the transaction: if the store cannot commit, no row is written.
                await self.blobs.call("commit a write", upload.writer.commit)
                upload.committed = True
        return _content_proto(name, store.ContentRecord(sha256, size, media_type, now))

    # -- download and description -------------------------------------------------------------

    async def _content(self, name: str, field: str) -> tuple[str, store.ContentRecord]:
        tenant, artifact_id = names.ARTIFACT.parse(name, field)
        async with self.db.read() as session:
            artifact = await store.artifact_for_content(session, artifact_id)
            if artifact is None:
                raise NotFound.resource(name)
            record = await store.content_of(session, artifact.pk)
        if record is None:
            raise FailedPrecondition(f"{name} has no uploaded content", metadata={"resource": name})
        return tenant, record

    async def GetArtifactContent(
        self, request: pb.GetArtifactContentRequest, context: ServicerContext
    ) -> pb.ArtifactContent:
        _, record = await self._content(request.artifact, "artifact")
        return _content_proto(request.artifact, record)

    async def DownloadArtifactContent(
        self, request: pb.DownloadArtifactContentRequest, context: ServicerContext
    ) -> AsyncIterator[pb.DownloadArtifactContentResponse]:
        tenant, record = await self._content(request.artifact, "artifact")
        if not 0 <= request.offset <= record.size_bytes:
            raise InvalidArgument.for_field(
                "offset", f"must be between 0 and the content's size, {record.size_bytes}"
            )
        key = blob_key(tenant, record.sha256)
        reader = await self.blobs.call("open a blob", self.blobs.store.open, key, request.offset)
        try:
            yield pb.DownloadArtifactContentResponse(
                content=_content_proto(request.artifact, record)
            )
            while True:
                data = await self.blobs.call("read", reader.read, DOWNLOAD_CHUNK_BYTES)
                if not data:
                    break
                yield pb.DownloadArtifactContentResponse(chunk=data)
        finally:
            await asyncio.to_thread(reader.close)

    # -- quotas -------------------------------------------------------------------------------

    async def _quota_proto(self, session: Any, name: str) -> pb.ArtifactQuota:
        used, count = await store.usage(session)
        return pb.ArtifactQuota(
            name=name,
            limit_bytes=await store.limit_bytes(session),
            used_bytes=used,
            blob_count=count,
        )

    async def GetArtifactQuota(
        self, request: pb.GetArtifactQuotaRequest, context: ServicerContext
    ) -> pb.ArtifactQuota:
        quota_tenant(request.name, "name")
        async with self.db.read() as session:
            return await self._quota_proto(session, request.name)

    async def UpdateArtifactQuota(
        self, request: pb.UpdateArtifactQuotaRequest, context: ServicerContext
    ) -> pb.ArtifactQuota:
        tenant = quota_tenant(request.quota.name, "quota.name")
        paths = list(request.update_mask.paths) or ["limit_bytes"]
        if paths != ["limit_bytes"]:
            raise InvalidArgument.for_field("update_mask", "only limit_bytes can be updated")
        if request.quota.limit_bytes < 0:
            raise InvalidArgument.for_field(
                "quota.limit_bytes", "must not be negative (0 means no limit)"
            )
        # A platform RPC (no tenant scope from the interceptor): scope it to the named tenant.
        with tenant_scope(tenant):
            async with self.db.write() as unit:
                if not await store.tenant_exists(unit.session, tenant):
                    raise NotFound.resource(request.quota.name)
                row = await store.quota(unit.session)
                if row is None:
                    unit.session.add(
                        ArtifactQuota(tenant_id=tenant, limit_bytes=request.quota.limit_bytes)
                    )
                else:
                    row.limit_bytes = request.quota.limit_bytes
                unit.audit(
                    request.quota.name, action="update", limit_bytes=request.quota.limit_bytes
                )
                await unit.session.flush()
                return await self._quota_proto(unit.session, request.quota.name)

    # -- garbage collection -------------------------------------------------------------------

    async def CollectArtifactGarbage(
        self, request: pb.CollectArtifactGarbageRequest, context: ServicerContext
    ) -> pb.CollectArtifactGarbageResponse:
        with platform_scope():
            async with self.db.write() as unit:
                session = unit.session
                # Exclusive: no upload is between storing its blob and committing its row.
                await store.lock_blobs(session, exclusive=True)
                garbage = await store.unreferenced_blobs(session)
                known = {blob_key(t, sha) for t, sha in await store.all_blob_ids(session)}
                stored = await self.blobs.call(
                    "list blobs", lambda: list(self.blobs.store.list_keys("tenants/"))
                )
                orphans = sorted(key for key in stored if key not in known)
                freed = sum(size for _, _, size in garbage.unreferenced)
                for key in orphans:
                    freed += await self.blobs.call("stat a blob", self.blobs.store.size, key)
                if not request.dry_run:
                    await store.delete_blobs(session, garbage.unreferenced_pks)
                    per_tenant: dict[str, list[int]] = {}
                    for tenant, _, size in garbage.unreferenced:
                        per_tenant.setdefault(tenant, []).append(size)
                    for tenant, sizes in sorted(per_tenant.items()):
                        with tenant_scope(tenant):
                            unit.audit(
                                quota_name(tenant),
                                action="collect_garbage",
                                blobs=len(sizes),
                                freed_bytes=sum(sizes),
                            )
                    await session.flush()
                    # Deleted while the lock is held; if the commit then failed, the rows left
                    # would be unreferenced blobs whose objects are gone, which the next
                    # collection removes.
                    for tenant, sha256, _ in garbage.unreferenced:
                        await self.blobs.call(
                            "delete a blob", self.blobs.store.delete, blob_key(tenant, sha256)
                        )
                    for key in orphans:
                        await self.blobs.call("delete a blob", self.blobs.store.delete, key)
        log.info(
            "artifact garbage collection",
            extra={
                "dry_run": request.dry_run,
                "unreferenced_blobs": len(garbage.unreferenced),
                "orphaned_objects": len(orphans),
                "freed_bytes": freed,
            },
        )
        return pb.CollectArtifactGarbageResponse(
            unreferenced_blob_count=len(garbage.unreferenced),
            orphaned_object_count=len(orphans),
            freed_bytes=freed,
        )
