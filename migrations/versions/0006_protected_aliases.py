"""release policies: protected aliases (aliases only governance moves)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
Safety: safe (a new column with a default)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("release_policies") as batch:
        batch.add_column(
            sa.Column("protected_aliases", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("release_policies") as batch:
        batch.drop_column("protected_aliases")
