"""online evaluations: results of a version measured while it serves, recorded after
registration

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
Safety: safe (new tables only)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TENANT_TABLES = ("online_evaluations", "online_evaluation_metrics")
# The same policy as revision 0002's.
SCOPE = "current_setting('controlplane.tenant', true)"
RULE = f"(tenant_id = {SCOPE} OR {SCOPE} = '*')"


def upgrade() -> None:
    op.create_table(
        "online_evaluations",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("version_pk", PK, nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=True),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("record_time", sa.BigInteger(), nullable=False),
        sa.Column("recorded_by", sa.String(length=512), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.pk"],
            name=op.f("fk_online_evaluations_version_pk_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_online_evaluations")),
    )
    op.create_index(
        op.f("ix_online_evaluations_tenant_id_online_evaluations_version_pk_online_evaluations_pk"),
        "online_evaluations",
        ["tenant_id", "version_pk", "pk"],
        unique=False,
    )
    op.create_table(
        "online_evaluation_metrics",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("evaluation_pk", PK, nullable=False),
        sa.Column("version_pk", PK, nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("split", sa.String(length=100), nullable=False),
        sa.Column("slice", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_pk"],
            ["online_evaluations.pk"],
            name=op.f("fk_online_evaluation_metrics_evaluation_pk_online_evaluations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.pk"],
            name=op.f("fk_online_evaluation_metrics_version_pk_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_online_evaluation_metrics")),
    )
    op.create_index(
        op.f("ix_online_evaluation_metrics_evaluation_pk"),
        "online_evaluation_metrics",
        ["evaluation_pk"],
        unique=False,
    )
    op.create_index(
        op.f(
            "ix_online_evaluation_metrics_version_pk_online_evaluation_metrics_key_online_"
            "evaluation_metrics_split_online_evaluation_metrics_slice_online_evaluation_"
            "metrics_window_end"
        ),
        "online_evaluation_metrics",
        ["version_pk", "key", "split", "slice", "window_end"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING {RULE} WITH CHECK {RULE}")


def downgrade() -> None:
    op.drop_table("online_evaluation_metrics")
    op.drop_table("online_evaluations")
