"""release policies: require_non_admin_approvers (approvals by administrators do not count)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
Safety: safe (a column with a default: existing policies keep counting every approval)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("release_policies") as batch:
        batch.add_column(
            sa.Column(
                "require_non_admin_approvers",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("release_policies") as batch:
        batch.drop_column("require_non_admin_approvers")
