"""Feeds (``controlplane.store.feeds``): appenders of one tenant commit in turn, on SQLite and
PostgreSQL; watchers are woken after commit, never before or for a rollback; the change
notices themselves."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from controlplane.store import migrate, sequences
from controlplane.store.db import Database
from controlplane.store.feeds import GOVERNANCE_EVENTS, FeedChanges
from controlplane.store.tenancy import tenant_scope
from tests.conftest import PG_ADMIN_URL, _create_pg_database, _drop_pg_database
from tests.test_store import empty_db, migrated  # noqa: F401  (fixtures)

# How long a blocked appender is given to (wrongly) get through; it must not, on any machine.
BLOCKED_FOR = 0.3


async def _append(
    db: Database, tenant: str, entered: asyncio.Event, release: asyncio.Event
) -> None:
    with tenant_scope(tenant):
        async with db.write() as unit:
            await unit.append_to_feed(GOVERNANCE_EVENTS)
            entered.set()
            await release.wait()


async def test_appenders_of_one_tenant_take_turns(migrated: Database) -> None:  # noqa: F811
    first_in, second_in = asyncio.Event(), asyncio.Event()
    first_done, second_done = asyncio.Event(), asyncio.Event()
    second_done.set()
    first = asyncio.create_task(_append(migrated, "a", first_in, first_done))
    await asyncio.wait_for(first_in.wait(), 10)
    second = asyncio.create_task(_append(migrated, "a", second_in, second_done))
    with pytest.raises(TimeoutError):  # SQLite: the writer; PostgreSQL: the feed's lock
        await asyncio.wait_for(asyncio.shield(second_in.wait()), BLOCKED_FOR)
    first_done.set()
    await first
    await asyncio.wait_for(second_in.wait(), 10)
    await second


@pytest.fixture
async def postgres() -> AsyncIterator[Database]:
    """A migrated PostgreSQL database: the only store whose writers run concurrently."""
    name, url = await _create_pg_database()
    db = Database(url)
    try:
        await migrate.upgrade(db)
        yield db
    finally:
        await db.dispose()
        await _drop_pg_database(name)


async def test_appenders_of_other_tenants_do_not_wait_on_each_other(postgres: Database) -> None:
    first_in, second_in = asyncio.Event(), asyncio.Event()
    first_done, second_done = asyncio.Event(), asyncio.Event()
    second_done.set()
    first = asyncio.create_task(_append(postgres, "a", first_in, first_done))
    await asyncio.wait_for(first_in.wait(), 10)
    await asyncio.wait_for(_append(postgres, "b", second_in, second_done), 10)
    first_done.set()
    await first


async def test_watchers_are_woken_after_commit_only(migrated: Database) -> None:  # noqa: F811
    feeds = migrated.feeds
    seen = feeds.generation(GOVERNANCE_EVENTS, "a")
    with tenant_scope("a"):
        with pytest.raises(RuntimeError, match="rolled back"):
            async with migrated.write() as unit:
                await unit.append_to_feed(GOVERNANCE_EVENTS)
                raise RuntimeError("rolled back")
        assert feeds.generation(GOVERNANCE_EVENTS, "a") == seen
        async with migrated.write() as unit:
            await unit.append_to_feed(GOVERNANCE_EVENTS)
            await unit.append_to_feed(GOVERNANCE_EVENTS)  # once per transaction
            assert feeds.generation(GOVERNANCE_EVENTS, "a") == seen  # not before commit
    assert feeds.generation(GOVERNANCE_EVENTS, "a") == seen + 1
    assert feeds.generation(GOVERNANCE_EVENTS, "b") == 0


async def test_wait_returns_on_a_change_of_its_own_feed_and_tenant() -> None:
    feeds = FeedChanges()
    seen = feeds.generation("f", "a")
    waiter = asyncio.create_task(feeds.wait("f", "a", seen))
    await asyncio.sleep(0)
    feeds.notify("f", "b")
    feeds.notify("g", "a")
    await asyncio.sleep(0.05)
    assert not waiter.done()
    feeds.notify("f", "a")
    await asyncio.wait_for(waiter, 10)
    # A change that came before the wait: it returns at once.
    await asyncio.wait_for(feeds.wait("f", "a", seen), 10)


async def test_close_wakes_every_waiter_for_good() -> None:
    feeds = FeedChanges()
    waiters = [asyncio.create_task(feeds.wait("f", t, 0)) for t in ("a", "b")]
    await asyncio.sleep(0)
    feeds.close()
    await asyncio.wait_for(asyncio.gather(*waiters), 10)
    await asyncio.wait_for(feeds.wait("f", "c", 0), 10)


async def test_upgrading_sqlite_keeps_the_events_and_never_reuses_their_ids(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    db = Database(f"sqlite:///{path}")
    try:
        await migrate.upgrade(db, "0006")
        with sqlite3.connect(path) as connection:  # before 0007: a plain rowid table
            connection.execute(TENANT_INSERT)
            connection.execute(MODEL_INSERT)
            connection.execute(VERSION_INSERT)
            connection.executemany(EVENT_INSERT, [(pk,) for pk in (1, 2, 3)])
        await migrate.upgrade(db, "0009")
        with sqlite3.connect(path) as connection:  # the newest event goes (its model did)
            connection.execute("DELETE FROM governance_events WHERE pk = 3")
        await migrate.upgrade(db)
        assert await migrate.model_migration_diff(db) == []
    finally:
        await db.dispose()
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT pk, seq, action FROM governance_events").fetchall()
        assert rows == [(1, 1, "submit"), (2, 2, "submit")]  # same ids as before
        # The tenant's next event is numbered after every id ever handed out, 3 included.
        assert connection.execute(
            "SELECT value FROM tenant_sequences WHERE tenant_id = 'a'"
            " AND name = 'governance_events'"
        ).fetchall() == [(3,)]


TENANT_INSERT = (
    "INSERT INTO tenants (id, display_name, description, version, create_time, update_time)"
    " VALUES ('a', '', '', 1, 0, 0)"
)
MODEL_INSERT = (
    "INSERT INTO registered_models (pk, model_id, display_name, description, latest_version,"
    " tenant_id, version, create_time, update_time) VALUES (1, 'm', '', '', 1, 'a', 1, 0, 0)"
)
VERSION_INSERT = (
    "INSERT INTO model_versions (pk, model_pk, model_id, number, description, state, author,"
    " source_run, training_dataset, code_version, framework, features, signature, runtime,"
    " tenant_id, version, create_time, update_time)"
    " VALUES (1, 1, 'm', 1, '', 2, 'p', '', '', '', '', '[]', '{}', '{}', 'a', 1, 0, 0)"
)
EVENT_INSERT = (
    "INSERT INTO governance_events (pk, model_pk, version_pk, action, from_state, to_state,"
    " principal, reason, request_id, time, detail, tenant_id)"
    " VALUES (?, 1, 1, 'submit', 1, 2, 'p', '', '', 0, '{}', 'a')"
)


async def test_poll_reads_each_watched_feed_once_and_wakes_on_a_change() -> None:
    feeds = FeedChanges()
    newest = {("f", "a"): 5, ("f", "b"): 7}
    asked: list[tuple[str, str]] = []

    async def newest_seq(feed: str, tenant: str) -> int:
        asked.append((feed, tenant))
        return newest[(feed, tenant)]

    with feeds.watching("f", "a"), feeds.watching("f", "a"):
        await feeds.poll(newest_seq)
        assert asked == [("f", "a")]  # once per watched key, however many watchers
        first = feeds.generation("f", "a")
        assert first == 1  # newly watched: woken, a commit may have come before its wait
        await feeds.poll(newest_seq)
        assert feeds.generation("f", "a") == first  # nothing new
        newest[("f", "a")] = 6
        waiter = asyncio.create_task(feeds.wait("f", "a", first))
        await asyncio.sleep(0)
        await feeds.poll(newest_seq)
        await asyncio.wait_for(waiter, 10)
    asked.clear()
    await feeds.poll(newest_seq)
    assert asked == []  # no longer watched: not read


async def test_newest_seq_reads_the_tenants_last_number(migrated: Database) -> None:  # noqa: F811
    assert await migrated.newest_seq(GOVERNANCE_EVENTS, "a") == 0
    with tenant_scope("a"):
        async with migrated.write() as unit:
            await unit.append_to_feed(GOVERNANCE_EVENTS)
            assert await sequences.next_value(unit.session, GOVERNANCE_EVENTS) == 1
            assert await sequences.next_value(unit.session, GOVERNANCE_EVENTS) == 2
            unit.audit("tenants/a")
    assert await migrated.newest_seq(GOVERNANCE_EVENTS, "a") == 2
    assert await migrated.newest_seq(GOVERNANCE_EVENTS, "b") == 0


async def _commit_append(db: Database, tenant: str, *, fail: bool = False) -> None:
    with tenant_scope(tenant), contextlib.suppress(RuntimeError):
        async with db.write() as unit:
            await unit.append_to_feed(GOVERNANCE_EVENTS)
            if fail:
                raise RuntimeError("rolled back")


async def _changed(db: Database, tenant: str, seen: int) -> int:
    """Waits until the feed's generation moves past ``seen``; returns it."""
    await asyncio.wait_for(db.feeds.wait(GOVERNANCE_EVENTS, tenant, seen), 10)
    return db.feeds.generation(GOVERNANCE_EVENTS, tenant)


async def test_commits_of_another_process_wake_watchers_at_once(postgres: Database) -> None:
    # No poll runs here: only PostgreSQL's notices can wake the listening side.
    await postgres.listen_to_feeds()
    other = Database(postgres.url)  # another server process on the same database

    async def all_heard() -> None:
        """Notices arrive in commit order: once one for tenant b is heard, so is all before."""
        seen = postgres.feeds.generation(GOVERNANCE_EVENTS, "b")
        await _commit_append(other, "b")
        await _changed(postgres, "b", seen)

    try:
        seen = postgres.feeds.generation(GOVERNANCE_EVENTS, "a")
        await _commit_append(other, "a", fail=True)  # a rollback sends nothing
        await _commit_append(other, "a")
        assert await _changed(postgres, "a", seen) == seen + 1  # at once: no poll runs
        await all_heard()
        assert postgres.feeds.generation(GOVERNANCE_EVENTS, "a") == seen + 1
        await _commit_append(postgres, "a")  # its own commit wakes it directly, once
        await all_heard()
        assert postgres.feeds.generation(GOVERNANCE_EVENTS, "a") == seen + 2
    finally:
        await other.dispose()


async def test_the_listener_reconnects_after_losing_its_connection(postgres: Database) -> None:
    await postgres.listen_to_feeds()
    listener = postgres._feed_listener
    assert listener is not None and listener._connection is not None
    backend = listener._connection.get_server_pid()
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", backend)
    finally:
        await admin.close()
    other = Database(postgres.url)
    try:
        with postgres.feeds.watching(GOVERNANCE_EVENTS, "a"):
            seen = postgres.feeds.generation(GOVERNANCE_EVENTS, "a")
            # Back: it wakes the watched feeds (notices may have been missed meanwhile).
            seen = await asyncio.wait_for(_changed(postgres, "a", seen), 10)
            await _commit_append(other, "a")
            assert await _changed(postgres, "a", seen) == seen + 1
        assert listener._connection.get_server_pid() != backend
    finally:
        await other.dispose()
