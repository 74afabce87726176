"""Alembic environment. Run through ``controlplane.store.migrate`` (``mlctl db upgrade``),
which passes an open connection in ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

from controlplane.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
