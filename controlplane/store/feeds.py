"""Feeds: append-only tables that watchers follow in primary-key order (governance events).

A watcher reads its tenant's rows with a pk above the last one it delivered. That misses
nothing only if rows become visible in pk order:

- SQLite has one writer at a time, so commit order is pk order; feed tables are
  ``AUTOINCREMENT``, so the pk of a deleted row is never handed out again.
- PostgreSQL hands out pks at insert while transactions commit in any order. An appender
  first takes a transaction lock on (feed, tenant) (``ORDER_LOCK``), so the next appender of
  that tenant gets its pk only after this one has committed or rolled back.

``FeedChanges`` wakes the watchers of this process when a transaction that appended to their
feed commits; a change committed by another server process is found by polling.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

GOVERNANCE_EVENTS = "governance_events"

ORDER_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:feed), hashtext(:tenant))")


class FeedChanges:
    """In-process change notices per (feed, tenant), for watchers to wait on."""

    def __init__(self) -> None:
        self._generations: dict[tuple[str, str], int] = {}
        self._waiters: dict[tuple[str, str], asyncio.Event] = {}
        self.closed = False

    def generation(self, feed: str, tenant: str) -> int:
        """A number that changes whenever ``notify`` is called for (feed, tenant): read it
        before reading the feed, then ``wait`` for it to change."""
        return self._generations.get((feed, tenant), 0)

    def notify(self, feed: str, tenant: str) -> None:
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
