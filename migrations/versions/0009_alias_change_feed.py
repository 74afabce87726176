"""alias changes: a feed that watchers follow by pk, so SQLite never reuses a pk

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
Safety: safe (SQLite copies the table into one declared AUTOINCREMENT; PostgreSQL: nothing,
its sequences never reuse a value)
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _recreate(*, autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "model_alias_changes",
        recreate="always",
        table_kwargs={"sqlite_autoincrement": autoincrement},
    ):
        pass


def upgrade() -> None:
    _recreate(autoincrement=True)


def downgrade() -> None:
    _recreate(autoincrement=False)
