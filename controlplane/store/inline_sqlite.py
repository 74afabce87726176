"""The embedded store's writer: one sqlite3 connection, used inline on the event loop thread.

aiosqlite sends every call (cursor, execute, fetch, close) to a worker thread and back: about
30 thread round trips for one small write transaction, which costs more than the SQL itself
(measured: 2.8 ms of a 5 ms LogMetricBatch). The embedded store's writer connection runs its
calls inline instead: SQLite runs in-process, and the writer's transactions are short and
serialized (one writer connection), so running them inline is both faster and no less
concurrent. Readers keep the threaded connection, so a long search never stalls the event loop.

The same connection serves two paths: the writer engine's pool (ORM sessions) and
``Database.direct_write`` (prepared statements, no pool). ``SharedWriter.lock`` is what keeps
their transactions apart; the direct path skips the pool's checkout, which costs more than a
small transaction's SQL.

Checkpoints (copying the WAL into the database file, with its fsyncs) are moved off the
writer: left to SQLite, one commit in every few dozen stalls for 10+ ms (measured: 5% of the
commits took two thirds of all commit time). ``SharedWriter.checkpoint`` runs them on a worker
thread instead (``Database.checkpoint``; the server calls it every fraction of a second); the
writer's own automatic checkpoint stays as a backstop for a WAL that nobody checkpoints.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, cast

import aiosqlite

# Run on every connection to the embedded store, the writer and the readers (with the
# ``synchronous`` PRAGMA of the server's durability: ``controlplane.store.durability``).
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
# The writer checkpoints by itself only once the WAL holds this many pages (64 MiB), and a WAL
# that grew is cut back to JOURNAL_SIZE_LIMIT once checkpointed.
WRITER_AUTOCHECKPOINT_PAGES = 16384
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


class InlineConnection(aiosqlite.Connection):
    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return partial(fn, *args, **kwargs)()


class SharedWriter:
    """The one writer connection of a SQLite database and the lock over its transactions.

    Whoever runs a transaction on it (a write session, a direct write, ANALYZE) holds ``lock``
    from before BEGIN until after COMMIT or ROLLBACK."""

    def __init__(self, path: str, synchronous: str) -> None:
        self.path = path
        self.synchronous = synchronous  # the PRAGMA, e.g. "PRAGMA synchronous=NORMAL"
        self.lock = asyncio.Lock()
        self._connection: sqlite3.Connection | None = None
        self._checkpointer: sqlite3.Connection | None = None
        # Transactions taken so far, and the count when the WAL was last fully checkpointed:
        # an idle server skips checkpoints (no wake-ups on a laptop doing nothing).
        self.turns = 0
        self._caught_up_at = -1
        # A checkpoint runs on a worker thread; closing must wait for it.
        self._checkpoint_lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """The open connection; opens it again when the pool has closed it (dispose)."""
        if self._connection is not None:
            try:
                self._connection.in_transaction  # noqa: B018 - raises once closed
                return self._connection
            except sqlite3.ProgrammingError:
                self._connection = None
        # Used on the event loop thread, but aiosqlite's worker thread handles it too (it runs
        # the connector): allow that. Transactions are begun explicitly (BEGIN IMMEDIATE).
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        for pragma in (*SQLITE_PRAGMAS, self.synchronous):
            connection.execute(pragma)
        connection.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
        connection.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        self._connection = connection
        return connection

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Holds the writer for one transaction."""
        async with self.lock:
            self.turns += 1
            yield

    def checkpoint(self) -> tuple[int, int]:
        """A PASSIVE checkpoint on a connection of its own: copies what it can of the WAL into
        the database file without waiting for, or blocking, the writer or any reader. Blocking:
        call it from a worker thread. Returns (pages in the WAL, pages checkpointed); (0, 0)
        without touching the database when no transaction ran since the WAL was last copied
        in full."""
        with self._checkpoint_lock:
            turns = self.turns
            if turns == self._caught_up_at:
                return 0, 0
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    self.path, check_same_thread=False, isolation_level=None
                )
            _busy, wal_pages, done = self._checkpointer.execute(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
            if done >= wal_pages:  # else a reader held pages back: try again next time
                self._caught_up_at = turns
            return int(wal_pages), int(done)

    def close_checkpointer(self) -> None:
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None

    def connector(self) -> Callable[[], Any]:
        """An ``async_creator`` for SQLAlchemy's aiosqlite dialect, handing out this
        connection."""

        async def connect() -> InlineConnection:
            # Opened here, on the event loop thread, so only that thread ever opens it.
            shared = self.connection()
            connection = InlineConnection(lambda: shared, iter_chunk_size=64)
            return cast(InlineConnection, await connection)

        return connect
