"""Feeds: append-only tables that watchers follow in the order of their rows' per-tenant
numbers (governance events, alias changes).

Each row carries ``seq``, the next number of its tenant's sequence for the feed
(``controlplane.store.sequences``): ids say nothing about other tenants. A watcher reads its
tenant's rows numbered above the last one it delivered. That misses nothing only if rows become
visible in number order, and if a number is never handed out twice:

- SQLite has one writer at a time, so commit order is number order.
- PostgreSQL transactions commit in any order. An appender first takes a transaction lock on
  (feed, tenant) (``ORDER_LOCK``), so the next appender of that tenant gets its number only
  after this one has committed or rolled back.
- A sequence keeps its last value in its own row, which deleting feed rows (a model's events
  go with the model) leaves as it is.

``FeedChanges`` wakes the watchers of this process when a transaction that appended to their
feed commits. Changes committed by another server process on PostgreSQL arrive at once as
notifications (``NOTIFY`` in the appending transaction, delivered on commit, heard by
``FeedListener``); as a fallback, and on SQLite, ``FeedChanges.poll`` looks every second or so:
one query per watched (feed, tenant), however many watchers it has, so an idle watch costs
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
from sqlalchemy import text

# The feeds; each is also the name of the tenant sequence that numbers its rows.
GOVERNANCE_EVENTS = "governance_events"
MODEL_ALIAS_CHANGES = "model_alias_changes"

ORDER_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:feed), hashtext(:tenant))")
# PostgreSQL's channel for feed notices; the payload is "<origin> <feed> <tenant>".
CHANNEL = "controlplane_feeds"
NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :payload)")
# A lost listener connection is opened again after this many seconds (polling covers the gap).
RECONNECT_SECONDS = 1.0

log = logging.getLogger("controlplane.store.feeds")

Key = tuple[str, str]  # (feed, tenant)


class FeedChanges:
    """In-process change notices per (feed, tenant), for watchers to wait on."""

    def __init__(self) -> None:
        self._generations: dict[Key, int] = {}
        self._waiters: dict[Key, asyncio.Event] = {}
        self._watched: Counter[Key] = Counter()
        # The newest number ``poll`` saw of each watched key.
        self._polled: dict[Key, int] = {}
        self.closed = False

    @contextlib.contextmanager
    def watching(self, feed: str, tenant: str) -> Iterator[None]:
        """Marks (feed, tenant) as watched while the block runs, so ``poll`` looks at it."""
        key = (feed, tenant)
        self._watched[key] += 1
        try:
            yield
        finally:
            self._watched[key] -= 1
            if not self._watched[key]:
                del self._watched[key]

    def watched(self) -> list[Key]:
        """The (feed, tenant) pairs that have watchers now."""
        return list(self._watched)

    async def poll(self, newest_seq: Callable[[str, str], Awaitable[int]]) -> None:
        """Looks for changes committed by other processes: reads the newest number of each
        watched (feed, tenant) with ``newest_seq(feed, tenant)`` and wakes its watchers when
        it moved, or when the key is newly watched (a commit may have come before the
        watcher's first wait)."""
        for key in list(self._watched):
            newest = await newest_seq(*key)
            if self._polled.get(key) != newest:
                self._polled[key] = newest
                self.notify(*key)
        for key in self._polled.keys() - self._watched.keys():
            del self._polled[key]

    def generation(self, feed: str, tenant: str) -> int:
        """A number that changes whenever ``notify`` is called for (feed, tenant): read it
        before reading the feed, then ``wait`` for it to change."""
        return self._generations.get((feed, tenant), 0)

    def notify(self, feed: str, tenant: str) -> None:
        """Wakes the watchers of (feed, tenant)."""
        key = (feed, tenant)
        self._generations[key] = self._generations.get(key, 0) + 1
        waiters = self._waiters.pop(key, None)
        if waiters is not None:
            waiters.set()

    async def wait(self, feed: str, tenant: str, seen: int) -> None:
        """Returns when (feed, tenant) has changed since generation ``seen``, or when closed
        (at once if either has happened already)."""
        if self.closed or self.generation(feed, tenant) != seen:
            return
        await self._waiters.setdefault((feed, tenant), asyncio.Event()).wait()

    def close(self) -> None:
        """Wakes every watcher for good: the server is stopping, and watchers end."""
        self.closed = True
        for event in self._waiters.values():
            event.set()
        self._waiters.clear()


class FeedListener:
    """Hears the feed notices of other server processes on PostgreSQL (``LISTEN``) and wakes
    this process's watchers. Notices this process sent itself (``origin``) are ignored: its
    commits wake its watchers directly. One connection, opened again when it is lost."""

    def __init__(self, dsn: str, feeds: FeedChanges, origin: str) -> None:
        self.dsn = dsn
        self.feeds = feeds
        self.origin = origin
        self._connection: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    async def start(self) -> None:
        """Listens from now on (raises if the first connection fails)."""
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._keep_listening())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=5)
            self._connection = None

    async def _connect(self) -> None:
        self._lost.clear()
        connection = await asyncpg.connect(self.dsn)
        connection.add_termination_listener(lambda _connection: self._lost.set())
        await connection.add_listener(CHANNEL, self._heard)
        self._connection = connection

    async def _keep_listening(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("the feed listener lost its connection; reconnecting")
            self._connection = None
            while self._connection is None:
                await asyncio.sleep(RECONNECT_SECONDS)
                try:
                    await self._connect()
                except Exception as error:  # any failure: keep trying, polling covers the gap
                    log.warning("the feed listener could not reconnect: %r", error)
            # Whatever was sent while it was away: let the watchers look.
            for key in list(self.feeds.watched()):
                self.feeds.notify(*key)

    def _heard(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        parts = payload.split(" ")
        if len(parts) == 3 and parts[0] != self.origin:
            self.feeds.notify(parts[1], parts[2])


def new_origin() -> str:
    """An id for this process's notices (so its listener can ignore its own)."""
    return uuid.uuid4().hex


def notice(origin: str, feed: str, tenant: str) -> str:
    """The payload of a feed notice (tenant ids and feed names hold no spaces)."""
    return f"{origin} {feed} {tenant}"
