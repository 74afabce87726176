"""Durability is one server setting: each level reaches every connection of both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from controlplane.store.db import Database
from controlplane.store.durability import Durability, resolve_durability
from controlplane.store.tenancy import platform_scope
from tests.conftest import _create_pg_database, _drop_pg_database

# PRAGMA synchronous reads back as a number: 1 NORMAL, 2 FULL.
SQLITE_SYNCHRONOUS = {Durability.NORMAL: 1, Durability.FULL: 2}
POSTGRES_SYNCHRONOUS_COMMIT = {Durability.NORMAL: "off", Durability.FULL: "on"}


def test_auto_is_normal_on_sqlite_and_full_on_postgresql() -> None:
    assert resolve_durability("auto", sqlite=True) is Durability.NORMAL
    assert resolve_durability("auto", sqlite=False) is Durability.FULL
    assert resolve_durability("full", sqlite=True) is Durability.FULL
    with pytest.raises(ValueError, match="durability"):
        resolve_durability("fast", sqlite=True)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    name, url = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(name)


async def _sqlite_levels(db: Database) -> tuple[int, int]:
    """``synchronous`` on a reader and on the writer (the one connection that write sessions
    and direct writes share)."""
    with platform_scope():
        async with db.read() as session:
            reader = (await session.execute(text("PRAGMA synchronous"))).scalar_one()
        async with db.write() as unit:
            writer = (await unit.session.execute(text("PRAGMA synchronous"))).scalar_one()
    return int(reader), int(writer)


@pytest.mark.parametrize("setting", ["auto", "full", "normal"])
async def test_sqlite_connections_sync_as_the_setting_says(tmp_path: Path, setting: str) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}", durability=setting)
    try:
        expected = SQLITE_SYNCHRONOUS[db.durability]
        assert await _sqlite_levels(db) == (expected, expected)
    finally:
        await db.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("setting", ["auto", "full", "normal"])
async def test_postgresql_commits_as_the_setting_says(pg_url: str, setting: str) -> None:
    db = Database(pg_url, durability=setting)
    try:
        with platform_scope():
            async with db.read() as session:
                value = (await session.execute(text("SHOW synchronous_commit"))).scalar_one()
        assert value == POSTGRES_SYNCHRONOUS_COMMIT[db.durability]
    finally:
        await db.dispose()
