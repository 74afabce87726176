"""per-tenant ids: governance events and alias changes are numbered per tenant
(tenant_sequences), online evaluations per version

Ids in these rows' names were primary keys shared by every tenant, so they jumped by the writes
of other tenants. Rows that exist keep their id (their number is their old pk), so names that
were handed out and watch cursors that clients hold still name the same row. Each existing
tenant's sequences continue after the highest pk the table ever handed out, so a number never
repeats one a watcher may hold, even one of a deleted row; tenants created later start at 1.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
Safety: safe (adds a table and columns filled from existing values; SQLite copies the two feed
tables, keeping them AUTOINCREMENT)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INT64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The same policy as revision 0002's.
SCOPE = "current_setting('controlplane.tenant', true)"
RULE = f"(tenant_id = {SCOPE} OR {SCOPE} = '*')"
# feed table -> (its old index on pk, its new index on seq, the columns of both before it)
FEEDS = {
    "governance_events": (
        "ix_governance_events_tenant_id_governance_events_model_pk_governance_events_pk",
        "ix_governance_events_tenant_id_governance_events_model_pk_governance_events_seq",
        ["tenant_id", "model_pk"],
    ),
    "model_alias_changes": (
        "ix_model_alias_changes_model_pk_model_alias_changes_alias_model_alias_changes_pk",
        "ix_model_alias_changes_model_pk_model_alias_changes_alias_model_alias_changes_seq",
        ["model_pk", "alias"],
    ),
}


def _highest_pk_ever(table: str) -> int:
    """The highest pk ``table`` ever handed out, deleted rows included."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # the feed tables are AUTOINCREMENT (0007, 0009)
        found = bind.execute(
            sa.text("SELECT seq FROM sqlite_sequence WHERE name = :table"), {"table": table}
        ).scalar()
    else:
        sequence = bind.execute(
            sa.text("SELECT pg_get_serial_sequence(:table, 'pk')"), {"table": table}
        ).scalar()
        found = bind.execute(
            sa.text(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}")
        ).scalar()
    highest = bind.execute(sa.text(f"SELECT max(pk) FROM {table}")).scalar()
    return max(int(found or 0), int(highest or 0))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # Row-level security applies to this connection too: let it see every tenant's rows.
        op.execute("SELECT set_config('controlplane.tenant', '*', true)")
    op.create_table(
        "tenant_sequences",
        sa.Column("pk", PK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("value", INT64, nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_tenant_sequences")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_tenant_sequences_tenant_id_name")),
    )
    if postgres:
        op.execute("ALTER TABLE tenant_sequences ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE tenant_sequences FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON tenant_sequences USING {RULE} WITH CHECK {RULE}"
        )

    for table, (old_index, new_index, columns) in FEEDS.items():
        highest = _highest_pk_ever(table)
        op.add_column(table, sa.Column("seq", INT64, nullable=True))
        op.execute(f"UPDATE {table} SET seq = pk")
        with op.batch_alter_table(table, table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.alter_column("seq", existing_type=INT64, nullable=False)
            batch.drop_index(op.f(old_index))
            batch.create_index(op.f(new_index), [*columns, "seq"], unique=False)
            batch.create_unique_constraint(op.f(f"uq_{table}_tenant_id_seq"), ["tenant_id", "seq"])
        if highest:
            op.execute(
                sa.text(
                    "INSERT INTO tenant_sequences (tenant_id, name, value) "
                    "SELECT id, :name, :value FROM tenants"
                ).bindparams(name=table, value=highest)
            )

    op.add_column("online_evaluations", sa.Column("number", INT64, nullable=True))
    op.execute("UPDATE online_evaluations SET number = pk")
    with op.batch_alter_table("online_evaluations") as batch:
        batch.alter_column("number", existing_type=INT64, nullable=False)
        batch.create_unique_constraint(
            op.f("uq_online_evaluations_version_pk_number"), ["version_pk", "number"]
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT set_config('controlplane.tenant', '*', true)")
    with op.batch_alter_table("online_evaluations") as batch:
        batch.drop_constraint(op.f("uq_online_evaluations_version_pk_number"), type_="unique")
        batch.drop_column("number")
    for table, (old_index, new_index, columns) in FEEDS.items():
        with op.batch_alter_table(table, table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.drop_constraint(op.f(f"uq_{table}_tenant_id_seq"), type_="unique")
            batch.drop_index(op.f(new_index))
            batch.create_index(op.f(old_index), [*columns, "pk"], unique=False)
            batch.drop_column("seq")
    op.drop_table("tenant_sequences")
