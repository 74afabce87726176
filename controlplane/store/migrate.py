"""Schema migrations (alembic). The revisions live in the repository's ``migrations/`` folder
and ship inside the wheel as ``controlplane/_migrations``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from controlplane.store.db import Database
from controlplane.store.models import Base


class SchemaError(RuntimeError):
    """The database schema is not the one this server needs; the message says what to do."""


def migrations_dir() -> Path:
    packaged = Path(str(resources.files("controlplane"))) / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "migrations/ has no revisions"
    return head


def _current(connection: Connection) -> tuple[str | None, bool]:
    """(revision, whether the database has any table at all)."""
    revision = MigrationContext.configure(connection).get_current_revision()
    return revision, bool(inspect(connection).get_table_names())


async def current_revision(db: Database) -> tuple[str | None, bool]:
    async with db.writer_turn(), db.writer.connect() as connection:
        return await connection.run_sync(_current)


async def upgrade(db: Database, revision: str = "head") -> None:
    async with db.writer_turn(), db.writer.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_config(sync), revision))


async def ensure_schema(db: Database, *, auto_upgrade_empty: bool) -> None:
    """Upgrades an empty database when allowed; refuses any other schema that is not head."""
    revision, has_tables = await current_revision(db)
    head = head_revision()
    if revision == head:
        return
    if revision is None and not has_tables and auto_upgrade_empty:
        await upgrade(db)
        return
    if revision is None and not has_tables:
        raise SchemaError(
            "the database is empty; create the schema with `mlctl db upgrade --database-url ...`"
        )
    if revision is None:
        raise SchemaError(
            "the database has tables but no controlplane schema version; point the server at an "
            "empty database or one created by `mlctl db upgrade`"
        )
    known = {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}
    if revision not in known:
        raise SchemaError(
            f"the database schema ({revision}) is newer than this server knows (head {head}); "
            "upgrade the controlplane package"
        )
    raise SchemaError(
        f"the database schema is at revision {revision} but this server needs {head}; back up "
        "the database, then run `mlctl db upgrade` (with the same --database-url/--data-dir)"
    )


def _diff(connection: Connection) -> list[Any]:
    return list(
        compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    )


async def model_migration_diff(db: Database) -> list[Any]:
    """Differences between the models and a migrated database (``alembic check``); empty
    when they agree."""
    async with db.writer_turn(), db.writer.connect() as connection:
        return await connection.run_sync(_diff)
