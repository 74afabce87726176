"""Artifact content: blobs (content stored once per tenant), which blob holds each artifact's
content, and quotas. Queries are tenant-scoped by ``controlplane.store.tenancy`` except the
garbage collector's, which runs in the platform scope on purpose."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.store.models import (
    ArtifactBlob,
    ArtifactContent,
    ArtifactQuota,
    MetadataArtifact,
    Tenant,
)

# Uploads commit under a shared lock and the garbage collector works under the exclusive one,
# so it never deletes an object that an upload has stored but not yet committed a row for.
# SQLite needs no lock: it has one writer.
_BLOB_LOCK_ID = 0x636F6E74726F6C  # arbitrary, fixed


async def lock_blobs(session: AsyncSession, *, exclusive: bool) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.execute(text(f"SELECT {function}(:id)"), {"id": _BLOB_LOCK_ID})


@dataclass(frozen=True)
class ContentRecord:
    sha256: str
    size_bytes: int
    media_type: str
    create_time: int


async def artifact_for_content(session: AsyncSession, artifact_id: str) -> MetadataArtifact | None:
    return await session.scalar(
        select(MetadataArtifact).where(MetadataArtifact.artifact_id == artifact_id)
    )


async def content_of(session: AsyncSession, artifact_pk: int) -> ContentRecord | None:
    row = (
        await session.execute(
            select(
                ArtifactBlob.sha256,
                ArtifactBlob.size_bytes,
                ArtifactContent.media_type,
                ArtifactContent.create_time,
            )
            .join(ArtifactBlob, ArtifactBlob.pk == ArtifactContent.blob_pk)
            .where(ArtifactContent.artifact_pk == artifact_pk)
        )
    ).first()
    return ContentRecord(row[0], row[1], row[2], row[3]) if row is not None else None


async def blob(session: AsyncSession, sha256: str) -> ArtifactBlob | None:
    return await session.scalar(select(ArtifactBlob).where(ArtifactBlob.sha256 == sha256))


async def usage(session: AsyncSession) -> tuple[int, int]:
    """(bytes stored, blob count) of the current tenant."""
    row = (
        await session.execute(
            select(func.coalesce(func.sum(ArtifactBlob.size_bytes), 0), func.count(ArtifactBlob.pk))
        )
    ).one()
    return int(row[0]), int(row[1])


async def quota(session: AsyncSession) -> ArtifactQuota | None:
    return await session.scalar(select(ArtifactQuota))


async def tenant_exists(session: AsyncSession, tenant: str) -> bool:
    return await session.scalar(select(Tenant.id).where(Tenant.id == tenant)) is not None


async def limit_bytes(session: AsyncSession) -> int:
    row = await quota(session)
    return row.limit_bytes if row is not None else 0


@dataclass(frozen=True)
class Garbage:
    unreferenced: list[tuple[str, str, int]]  # (tenant, sha256, size) of blobs nobody uses
    unreferenced_pks: list[int]


async def unreferenced_blobs(session: AsyncSession) -> Garbage:
    """Blobs of every tenant that no artifact content references (platform scope)."""
    referenced = select(ArtifactContent.blob_pk).where(ArtifactContent.blob_pk == ArtifactBlob.pk)
    rows = (
        await session.execute(
            select(
                ArtifactBlob.pk,
                ArtifactBlob.tenant_id,
                ArtifactBlob.sha256,
                ArtifactBlob.size_bytes,
            ).where(~referenced.exists())
        )
    ).all()
    return Garbage([(r[1], r[2], r[3]) for r in rows], [r[0] for r in rows])


async def all_blob_ids(session: AsyncSession) -> set[tuple[str, str]]:
    """(tenant, sha256) of every blob row (platform scope)."""
    rows = (await session.execute(select(ArtifactBlob.tenant_id, ArtifactBlob.sha256))).all()
    return {(r[0], r[1]) for r in rows}


async def delete_blobs(session: AsyncSession, pks: list[int]) -> None:
    for start in range(0, len(pks), 500):
        await session.execute(
            delete(ArtifactBlob).where(ArtifactBlob.pk.in_(pks[start : start + 500]))
        )
