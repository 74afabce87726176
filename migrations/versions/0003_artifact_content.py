"""artifact content: blobs, which blob holds each artifact's content, per-tenant quotas

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
Safety: safe (new tables only)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TENANT_TABLES = ("artifact_blobs", "artifact_contents", "artifact_quotas")
# The same policy as revision 0002's.
SCOPE = "current_setting('controlplane.tenant', true)"
RULE = f"(tenant_id = {SCOPE} OR {SCOPE} = '*')"


def upgrade() -> None:
    op.create_table(
        "artifact_blobs",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_artifact_blobs")),
        sa.UniqueConstraint("tenant_id", "sha256", name=op.f("uq_artifact_blobs_tenant_id_sha256")),
    )
    op.create_table(
        "artifact_quotas",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("limit_bytes", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_artifact_quotas")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_artifact_quotas_tenant_id")),
    )
    op.create_table(
        "artifact_contents",
        sa.Column("artifact_pk", PK, nullable=False),
        sa.Column("blob_pk", PK, nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_pk"],
            ["md_artifacts.pk"],
            name=op.f("fk_artifact_contents_artifact_pk_md_artifacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["blob_pk"],
            ["artifact_blobs.pk"],
            name=op.f("fk_artifact_contents_blob_pk_artifact_blobs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("artifact_pk", name=op.f("pk_artifact_contents")),
    )
    op.create_index(
        op.f("ix_artifact_contents_blob_pk"), "artifact_contents", ["blob_pk"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} USING {RULE} WITH CHECK {RULE}"
            )


def downgrade() -> None:
    op.drop_index(op.f("ix_artifact_contents_blob_pk"), table_name="artifact_contents")
    op.drop_table("artifact_contents")
    op.drop_table("artifact_quotas")
    op.drop_table("artifact_blobs")
