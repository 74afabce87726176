"""model registry: registered models, versions (files, metrics, tags), aliases and their history

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
Safety: safe (new tables only)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TENANT_TABLES = (
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "model_version_files",
    "model_version_metrics",
    "model_aliases",
    "model_alias_changes",
)
# The same policy as revision 0002's.
SCOPE = "current_setting('controlplane.tenant', true)"
RULE = f"(tenant_id = {SCOPE} OR {SCOPE} = '*')"


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("model_id", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_registered_models")),
        sa.UniqueConstraint(
            "tenant_id", "model_id", name=op.f("uq_registered_models_tenant_id_model_id")
        ),
    )
    op.create_index(
        op.f("ix_registered_models_tenant_id_registered_models_create_time"),
        "registered_models",
        ["tenant_id", "create_time"],
        unique=False,
    )
    op.create_table(
        "model_alias_changes",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("model_pk", PK, nullable=False),
        sa.Column("alias", sa.String(length=63), nullable=False),
        sa.Column("previous_version", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("principal", sa.String(length=512), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_pk"],
            ["registered_models.pk"],
            name=op.f("fk_model_alias_changes_model_pk_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_model_alias_changes")),
    )
    op.create_index(
        op.f("ix_model_alias_changes_model_pk_model_alias_changes_alias_model_alias_changes_pk"),
        "model_alias_changes",
        ["model_pk", "alias", "pk"],
        unique=False,
    )
    op.create_table(
        "model_versions",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("model_pk", PK, nullable=False),
        sa.Column("model_id", sa.String(length=63), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=512), nullable=False),
        sa.Column("source_run", sa.String(length=512), nullable=False),
        sa.Column("training_dataset", sa.String(length=512), nullable=False),
        sa.Column("code_version", sa.String(length=200), nullable=False),
        sa.Column("framework", sa.String(length=100), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("runtime", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_pk"],
            ["registered_models.pk"],
            name=op.f("fk_model_versions_model_pk_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("model_pk", "number", name=op.f("uq_model_versions_model_pk_number")),
    )
    op.create_index(
        op.f("ix_model_versions_tenant_id_model_versions_create_time"),
        "model_versions",
        ["tenant_id", "create_time"],
        unique=False,
    )
    op.create_index(
        op.f("ix_model_versions_tenant_id_model_versions_model_id_model_versions_number"),
        "model_versions",
        ["tenant_id", "model_id", "number"],
        unique=False,
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("model_pk", PK, nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=5000), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_pk"],
            ["registered_models.pk"],
            name=op.f("fk_registered_model_tags_model_pk_registered_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_pk", "key", name=op.f("pk_registered_model_tags")),
    )
    op.create_index(
        op.f(
            "ix_registered_model_tags_tenant_id_registered_model_tags_key_registered_model_tags_value"
        ),
        "registered_model_tags",
        ["tenant_id", "key", "value"],
        unique=False,
    )
    op.create_table(
        "model_aliases",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("model_pk", PK, nullable=False),
        sa.Column("alias", sa.String(length=63), nullable=False),
        sa.Column("version_pk", PK, nullable=False),
        sa.Column("update_principal", sa.String(length=512), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_pk"],
            ["registered_models.pk"],
            name=op.f("fk_model_aliases_model_pk_registered_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.pk"],
            name=op.f("fk_model_aliases_version_pk_model_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_model_aliases")),
        sa.UniqueConstraint("model_pk", "alias", name=op.f("uq_model_aliases_model_pk_alias")),
    )
    op.create_index(
        op.f("ix_model_aliases_version_pk"), "model_aliases", ["version_pk"], unique=False
    )
    op.create_table(
        "model_version_files",
        sa.Column("version_pk", PK, nullable=False),
        sa.Column("role", sa.String(length=63), nullable=False),
        sa.Column("artifact_pk", PK, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_pk"],
            ["md_artifacts.pk"],
            name=op.f("fk_model_version_files_artifact_pk_md_artifacts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.pk"],
            name=op.f("fk_model_version_files_version_pk_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_pk", "role", name=op.f("pk_model_version_files")),
    )
    op.create_index(
        op.f("ix_model_version_files_artifact_pk"),
        "model_version_files",
        ["artifact_pk"],
        unique=False,
    )
    op.create_table(
        "model_version_metrics",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("version_pk", PK, nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("split", sa.String(length=100), nullable=False),
        sa.Column("slice", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.pk"],
            name=op.f("fk_model_version_metrics_version_pk_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_model_version_metrics")),
    )
    op.create_index(
        op.f(
            "ix_model_version_metrics_tenant_id_model_version_metrics_key_model_version_metrics_split_model_version_metrics_value"
        ),
        "model_version_metrics",
        ["tenant_id", "key", "split", "value"],
        unique=False,
    )
    op.create_index(
        op.f("ix_model_version_metrics_version_pk"),
        "model_version_metrics",
        ["version_pk"],
        unique=False,
    )
    op.create_table(
        "model_version_tags",
        sa.Column("version_pk", PK, nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=5000), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.pk"],
            name=op.f("fk_model_version_tags_version_pk_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_pk", "key", name=op.f("pk_model_version_tags")),
    )
    op.create_index(
        op.f("ix_model_version_tags_tenant_id_model_version_tags_key_model_version_tags_value"),
        "model_version_tags",
        ["tenant_id", "key", "value"],
        unique=False,
    )

    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING {RULE} WITH CHECK {RULE}")


def downgrade() -> None:
    op.drop_index(
        op.f("ix_model_version_tags_tenant_id_model_version_tags_key_model_version_tags_value"),
        table_name="model_version_tags",
    )
    op.drop_table("model_version_tags")
    op.drop_index(op.f("ix_model_version_metrics_version_pk"), table_name="model_version_metrics")
    op.drop_index(
        op.f(
            "ix_model_version_metrics_tenant_id_model_version_metrics_key_model_version_metrics_split_model_version_metrics_value"
        ),
        table_name="model_version_metrics",
    )
    op.drop_table("model_version_metrics")
    op.drop_index(op.f("ix_model_version_files_artifact_pk"), table_name="model_version_files")
    op.drop_table("model_version_files")
    op.drop_index(op.f("ix_model_aliases_version_pk"), table_name="model_aliases")
    op.drop_table("model_aliases")
    op.drop_index(
        op.f(
            "ix_registered_model_tags_tenant_id_registered_model_tags_key_registered_model_tags_value"
        ),
        table_name="registered_model_tags",
    )
    op.drop_table("registered_model_tags")
    op.drop_index(
        op.f("ix_model_versions_tenant_id_model_versions_model_id_model_versions_number"),
        table_name="model_versions",
    )
    op.drop_index(
        op.f("ix_model_versions_tenant_id_model_versions_create_time"), table_name="model_versions"
    )
    op.drop_table("model_versions")
    op.drop_index(
        op.f("ix_model_alias_changes_model_pk_model_alias_changes_alias_model_alias_changes_pk"),
        table_name="model_alias_changes",
    )
    op.drop_table("model_alias_changes")
    op.drop_index(
        op.f("ix_registered_models_tenant_id_registered_models_create_time"),
        table_name="registered_models",
    )
    op.drop_table("registered_models")
