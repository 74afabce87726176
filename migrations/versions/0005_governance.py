"""governance and model cards: release policies, reviews, governance events, model cards

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
Safety: safe (new tables only)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TENANT_TABLES = ("release_policies", "model_version_reviews", "governance_events", "model_cards")
# The same policy as revision 0002's.
SCOPE = "current_setting('controlplane.tenant', true)"
RULE = f"(tenant_id = {SCOPE} OR {SCOPE} = '*')"


def upgrade() -> None:
    op.create_table(
        "release_policies",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("champion_rules", sa.JSON(), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("required_card_fields", sa.JSON(), nullable=False),
        sa.Column("require_signature", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_release_policies")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_release_policies_tenant_id")),
    )
    op.create_table(
        "governance_events",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("model_pk", PK, nullable=False),
        sa.Column("version_pk", PK, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_state", sa.Integer(), nullable=False),
        sa.Column("to_state", sa.Integer(), nullable=False),
        sa.Column("principal", sa.String(length=512), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_pk"],
            ["registered_models.pk"],
            name=op.f("fk_governance_events_model_pk_registered_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.pk"],
            name=op.f("fk_governance_events_version_pk_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_governance_events")),
    )
    op.create_index(
        op.f("ix_governance_events_model_pk"), "governance_events", ["model_pk"], unique=False
    )
    op.create_index(
        op.f("ix_governance_events_tenant_id_governance_events_model_pk_governance_events_pk"),
        "governance_events",
        ["tenant_id", "model_pk", "pk"],
        unique=False,
    )
    op.create_index(
        op.f("ix_governance_events_tenant_id_governance_events_time"),
        "governance_events",
        ["tenant_id", "time"],
        unique=False,
    )
    op.create_index(
        op.f("ix_governance_events_version_pk"), "governance_events", ["version_pk"], unique=False
    )
    op.create_table(
        "model_cards",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("version_pk", PK, nullable=False),
        sa.Column("intended_use", sa.Text(), nullable=False),
        sa.Column("out_of_scope_use", sa.Text(), nullable=False),
        sa.Column("limitations", sa.Text(), nullable=False),
        sa.Column("ethical_considerations", sa.Text(), nullable=False),
        sa.Column("training_data_description", sa.Text(), nullable=False),
        sa.Column("caveats_and_recommendations", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.pk"],
            name=op.f("fk_model_cards_version_pk_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_model_cards")),
        sa.UniqueConstraint("version_pk", name=op.f("uq_model_cards_version_pk")),
    )
    op.create_table(
        "model_version_reviews",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("version_pk", PK, nullable=False),
        sa.Column("review_round", sa.Integer(), nullable=False),
        sa.Column("principal", sa.String(length=512), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.pk"],
            name=op.f("fk_model_version_reviews_version_pk_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_model_version_reviews")),
        sa.UniqueConstraint(
            "version_pk",
            "review_round",
            "principal",
            name=op.f("uq_model_version_reviews_version_pk_review_round_principal"),
        ),
    )
    op.create_index(
        op.f("ix_model_version_reviews_version_pk"),
        "model_version_reviews",
        ["version_pk"],
        unique=False,
    )

    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING {RULE} WITH CHECK {RULE}")


def downgrade() -> None:
    for table in ("model_cards", "governance_events", "model_version_reviews", "release_policies"):
        op.drop_table(table)
