"""numbers callers can name or make grow are signed 64-bit on PostgreSQL too

Version numbers, etag counters (every versioned table's ``version``), alias moves' version
numbers, review rounds and required approvals were 32-bit INTEGER on PostgreSQL but 64-bit on
SQLite (whose INTEGER is always 64-bit), so the two stores accepted different ranges: a version
number above 2^31-1 worked on one and failed on the other. SQLite needs nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
Safety: slow on large PostgreSQL databases: each listed table is rewritten once (ALTER COLUMN
TYPE), holding its lock meanwhile
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> its columns that become BIGINT (one ALTER TABLE each, so one rewrite per table)
COLUMNS: dict[str, tuple[str, ...]] = {
    "tenants": ("version",),
    "principals": ("version",),
    "md_artifacts": ("version",),
    "md_executions": ("version",),
    "md_contexts": ("version",),
    "experiments": ("version",),
    "runs": ("version",),
    "registered_models": ("version", "latest_version"),
    "model_versions": ("version", "number"),
    "model_aliases": ("version",),
    "model_alias_changes": ("previous_version", "version"),
    "release_policies": ("version", "required_approvals"),
    "model_version_reviews": ("review_round",),
    "model_cards": ("version",),
}


def _alter(type_: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {column} TYPE {type_}" for column in columns)
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    _alter("BIGINT")


def downgrade() -> None:
    _alter("INTEGER")
