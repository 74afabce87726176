"""Row-level security on PostgreSQL: the second wall of tenant isolation.

Every tenant-owned table gets a policy that shows and accepts only rows of the tenant in the
transaction setting ``controlplane.tenant`` (set by the store at the start of every
transaction; ``*`` for platform work). FORCE makes the policy apply to the tables' owner too;
only superusers and BYPASSRLS roles are exempt, so the server must not connect as one. On
SQLite this revision does nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
Safety: safe
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "principals",
    "api_keys",
    "role_bindings",
    "audit_events",
    "idempotency_records",
    "md_artifacts",
    "md_executions",
    "md_contexts",
    "md_events",
    "md_context_artifacts",
    "md_context_executions",
    "experiments",
    "experiment_tags",
    "runs",
    "run_params",
    "run_tags",
    "latest_metrics",
    "metric_chunks",
)
SCOPE = "current_setting('controlplane.tenant', true)"
RULE = f"(tenant_id = {SCOPE} OR {SCOPE} = '*')"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING {RULE} WITH CHECK {RULE}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
