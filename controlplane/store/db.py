"""Engines, transactions and the unit of work.

SQLite (the embedded default) runs in WAL mode with one writer connection: writes queue in
process (on ``SharedWriter.lock``) instead of failing with "database is locked", and readers
never wait for the writer.
PostgreSQL uses one pooled engine for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import Select, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session

from controlplane.errors import Conflict
from controlplane.store import sequences
from controlplane.store.audit import AUDIT_INSERT, audit_row
from controlplane.store.direct import DirectUnit
from controlplane.store.durability import (
    postgres_synchronous_commit,
    resolve_durability,
    sqlite_synchronous,
)
from controlplane.store.feeds import (
    NOTIFY,
    ORDER_LOCK,
    FeedChanges,
    FeedListener,
    new_origin,
    notice,
)
from controlplane.store.inline_sqlite import SQLITE_PRAGMAS, SharedWriter
from controlplane.store.models import Versioned
from controlplane.store.tenancy import addressed_tenant, current_tenant, tenant_scope
from controlplane.store.tenant_check import DELETED_TENANTS, TenantCheck


def upsert_insert(dialect: str) -> Any:
    """The INSERT construct with ON CONFLICT support for a dialect (both backends have it)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def normalize_url(url: str) -> str:
    """Maps plain URLs to the async drivers the server uses."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def _sqlite_setup(engine: Engine, *, writer: bool, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below (pysqlite's own is unreliable).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (*SQLITE_PRAGMAS, synchronous):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a transaction never fails half-way
        # when it upgrades from reading to writing.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


class UnitOfWork:
    """One transaction. A unit that changes anything must record an audit event before it
    commits; this is checked on commit, so a mutation without an audit record cannot land."""

    def __init__(self, session: AsyncSession, *, feed_origin: str | None = None) -> None:
        self.session = session
        self._audit_rows: list[dict[str, Any]] = []
        # PostgreSQL only: the id this process's feed notices carry.
        self._feed_origin = feed_origin
        self.appended: set[tuple[str, str]] = set()

    async def append_to_feed(self, feed: str) -> None:
        """Declares that this transaction appends rows to ``feed`` for the current tenant
        (``controlplane.store.feeds``); call it before the first such row is inserted. On
        PostgreSQL it waits for the tenant's previous appender to finish, so the feed's rows
        commit in pk order, and notifies the other server processes on commit. After commit,
        the feed's watchers in this process are woken."""
        key = (feed, current_tenant())
        if key in self.appended:
            return
        if self._feed_origin is not None:
            await self.session.execute(ORDER_LOCK, {"feed": feed, "tenant": key[1]})
            payload = notice(self._feed_origin, feed, key[1])
            await self.session.execute(NOTIFY, {"payload": payload})
        self.appended.add(key)

    @property
    def audited(self) -> bool:
        return bool(self._audit_rows)

    def audit(self, resource: str, **detail: Any) -> None:
        self._audit_rows.append(audit_row(resource, detail))

    async def _write_audit(self) -> None:
        if self._audit_rows:
            await self.session.execute(AUDIT_INSERT, self._audit_rows)


def _loads_versioned_entity(statement: Select[Any]) -> bool:
    for description in statement.column_descriptions:
        entity = description.get("entity")
        if (
            entity is not None
            and description.get("expr") is entity
            and isinstance(entity, type)
            and issubclass(entity, Versioned)
        ):
            return True
    return False


class WriteSession(Session):
    """The session of ``Database.write``: notes whether anything was changed (for the audit
    check) and locks the versioned rows it reads."""

    @property
    def mutated(self) -> bool:
        return bool(self.info.get("mutated"))


@event.listens_for(WriteSession, "do_orm_execute")
def _on_write_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info["mutated"] = True
    elif isinstance(state.statement, Select) and _loads_versioned_entity(state.statement):
        # A write transaction that reads a mutable resource locks its row (PostgreSQL; SQLite
        # has one writer anyway), so an etag checked here stays true until commit.
        state.statement = state.statement.with_for_update()


@event.listens_for(WriteSession, "before_flush")
def _on_write_flush(session: Session, *_: Any) -> None:
    if session.new or session.dirty or session.deleted:
        session.info["mutated"] = True


# PostgreSQL's answers to two transactions that raced: a deadlock one of them lost, and a
# serialization failure. Either is undone whole, and the same call can simply be made again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def _sqlstate(exc: DBAPIError | sqlite3.Error) -> str | None:
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    state = getattr(original, "sqlstate", None) or getattr(
        getattr(original, "__cause__", None), "sqlstate", None
    )
    return state if isinstance(state, str) else None


def _is_unique_violation(exc: IntegrityError | sqlite3.IntegrityError) -> bool:
    original = exc.orig if isinstance(exc, IntegrityError) else exc
    return _sqlstate(exc) == "23505" or "UNIQUE constraint failed" in str(original)


def _raise_conflict_if_raced(exc: DBAPIError | sqlite3.Error) -> None:
    """Two writers racing (a unique constraint violation, a deadlock, a serialization
    failure) becomes ABORTED so the caller can retry; other database errors are bugs and stay
    as they are."""
    raced = _sqlstate(exc) in RETRYABLE_SQLSTATES
    if raced or (
        isinstance(exc, IntegrityError | sqlite3.IntegrityError) and _is_unique_violation(exc)
    ):
        raise Conflict("the write conflicted with a concurrent change; retry the call") from exc


def _create_private(database: str) -> None:
    """Creates the embedded store's file readable by its owner only (0600) before SQLite
    does: SQLite gives the -wal and -shm files it creates the database file's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    # Exists already, or a folder that does not: SQLite opens it, or says what is wrong.
    with contextlib.suppress(OSError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Database:
    def __init__(self, url: str, *, echo: bool = False, durability: str = "auto") -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # How durable an acknowledged write is (``controlplane.store.durability``).
        self.durability = resolve_durability(durability, sqlite=self.is_sqlite)
        self._shared_writer: SharedWriter | None = None
        if self.is_sqlite:
            synchronous = sqlite_synchronous(self.durability)
            _create_private(make_url(self.url).database or "")
            self._shared_writer = SharedWriter(
                make_url(self.url).database or ":memory:", synchronous
            )
            self.writer = create_async_engine(
                self.url,
                echo=echo,
                pool_size=1,
                max_overflow=0,
                async_creator=self._shared_writer.connector(),
            )
            self.reader = create_async_engine(self.url, echo=echo, pool_size=8, max_overflow=8)
            _sqlite_setup(self.writer.sync_engine, writer=True, synchronous=synchronous)
            _sqlite_setup(self.reader.sync_engine, writer=False, synchronous=synchronous)
        else:
            commit = postgres_synchronous_commit(self.durability)
            self.writer = create_async_engine(
                self.url,
                echo=echo,
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                connect_args={"server_settings": {"synchronous_commit": commit}},
            )
            self.reader = self.writer
        self._write_sessions = async_sessionmaker(
            self.writer, expire_on_commit=False, sync_session_class=WriteSession
        )
        self._read_sessions = async_sessionmaker(self.reader, expire_on_commit=False)
        self.feeds = FeedChanges()
        self.tenant_check = TenantCheck(sqlite=self.is_sqlite)
        self._feed_origin = None if self.is_sqlite else new_origin()
        self._feed_listener: FeedListener | None = None

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        return (self.writer,) if self.reader is self.writer else (self.writer, self.reader)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read_sessions() as session, session.begin():
            await self._scope_transaction(session, write=False)
            yield session

    async def _scope_transaction(self, session: AsyncSession, *, write: bool) -> None:
        """On PostgreSQL, hands the tenant scope to row-level security for this transaction
        (migration 0002): even SQL that escaped the ORM's scoping sees only this tenant. On
        both, checks that the tenant a request addressed exists (``store.tenant_check``)."""
        if not self.is_sqlite:
            await self.tenant_check.begin_postgres(session)
        elif not write:
            await self.tenant_check.begin_sqlite_read(session)
        elif addressed_tenant() is not None and self._shared_writer is not None:
            await session.connection()  # BEGIN IMMEDIATE: the check runs in the transaction
            self.tenant_check.begin_sqlite_write(self._shared_writer.connection())

    @asynccontextmanager
    async def writer_turn(self) -> AsyncIterator[None]:
        """Holds the embedded store's writer for one transaction (no-op on PostgreSQL, whose
        writers run concurrently). Anything using ``writer`` directly on SQLite takes it."""
        if self._shared_writer is None:
            yield
            return
        async with self._shared_writer.turn():
            yield

    @asynccontextmanager
    async def write(self) -> AsyncIterator[UnitOfWork]:
        """A write transaction; commits on success, rolls back on any exception. Two writers
        racing (a unique constraint violation; on PostgreSQL also a deadlock or a
        serialization failure) becomes ABORTED so the caller can retry."""
        async with self.writer_turn(), self._write_sessions() as session:
            unit = UnitOfWork(session, feed_origin=self._feed_origin)
            try:
                async with session.begin():
                    await self._scope_transaction(session, write=True)
                    yield unit
                    await session.flush()
                    if not unit.audited and cast(WriteSession, session.sync_session).mutated:
                        raise RuntimeError("a mutation was about to commit without an audit event")
                    await unit._write_audit()
            except DBAPIError as exc:
                _raise_conflict_if_raced(exc)
                raise
            self.tenant_check.forget(session.info.get(DELETED_TENANTS, ()))
        for feed, tenant in unit.appended:
            self.feeds.notify(feed, tenant)

    async def newest_seq(self, feed: str, tenant: str) -> int:
        """The number of ``tenant``'s newest row in ``feed`` (0 when it has none)."""
        with tenant_scope(tenant):
            async with self.read() as session:
                return await sequences.current_value(session, feed)

    async def poll_feeds(self) -> None:
        """Wakes this process's watchers of feeds that another process appended to."""
        await self.feeds.poll(self.newest_seq)

    async def listen_to_feeds(self) -> None:
        """On PostgreSQL, hears other processes' feed notices from now on (until dispose), so
        their commits wake this process's watchers at once; a no-op on SQLite."""
        if self._feed_origin is None or self._feed_listener is not None:
            return
        dsn = make_url(self.url).set(drivername="postgresql")
        listener = FeedListener(
            dsn.render_as_string(hide_password=False), self.feeds, self._feed_origin
        )
        await listener.start()
        self._feed_listener = listener

    @property
    def has_direct_writes(self) -> bool:
        """Whether ``direct_write`` is available (the embedded SQLite store)."""
        return self.is_sqlite

    @asynccontextmanager
    async def direct_write(self) -> AsyncIterator[DirectUnit]:
        """A write transaction of prepared statements run straight on the embedded store's
        writer connection (``controlplane.store.direct``): the hot path's alternative to
        ``write``, with the same guarantees. Commits on success, rolls back on any exception."""
        if self._shared_writer is None:
            raise RuntimeError("direct writes exist only on the embedded SQLite store")
        async with self._shared_writer.turn():
            database = self._shared_writer.connection()
            unit = DirectUnit(database)
            # Same locking as the writer engine's "begin" hook: take the write lock up front.
            database.execute("BEGIN IMMEDIATE")
            try:
                self.tenant_check.begin_sqlite_write(database)
                yield unit
                unit.finish()
                database.execute("COMMIT")
            except BaseException as exc:
                if database.in_transaction:
                    database.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):
                    _raise_conflict_if_raced(exc)
                raise
        for feed, tenant in unit.appended:
            self.feeds.notify(feed, tenant)

    async def checkpoint(self) -> tuple[int, int]:
        """Copies the embedded store's WAL into its database file, on a worker thread, never
        waiting for or blocking a writer or reader (see ``SharedWriter.checkpoint``); returns
        (pages in the WAL, pages checkpointed), (0, 0) when there was nothing to do and on
        PostgreSQL."""
        if self._shared_writer is None:
            return 0, 0
        return await asyncio.to_thread(self._shared_writer.checkpoint)

    async def analyze(self) -> None:
        """Refreshes SQLite's planner statistics (PostgreSQL's autovacuum does this itself).
        Without them SQLite plans a filtered search over 100k runs ten times slower."""
        if not self.is_sqlite:
            return
        async with self.writer_turn(), self.writer.begin() as connection:
            # Sample at most ~1000 rows per index: milliseconds, whatever the table size.
            await connection.exec_driver_sql("PRAGMA analysis_limit=1000")
            await connection.exec_driver_sql("ANALYZE")
        # SQLite reads statistics when a connection opens (ANALYZE changes no schema, so open
        # connections never notice): let the readers reconnect.
        await self.reader.dispose()

    async def dispose(self) -> None:
        self.feeds.close()
        if self._feed_listener is not None:
            await self._feed_listener.stop()
            self._feed_listener = None
        for engine in self.engines:
            await engine.dispose()
        if self._shared_writer is not None:
            self._shared_writer.close_checkpointer()
