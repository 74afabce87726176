"""What every ``Watch...`` stream does, whatever it follows: send the headers that say where
it starts, then the feed's new rows as they commit, woken by ``Database.feeds``
(``controlplane.store.feeds``), until the server closes it or its longest time is up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.errors import InvalidArgument
from controlplane.names import Pattern
from controlplane.services._typing import ServicerContext
from controlplane.services.base import WatchLimits
from controlplane.store import sequences
from controlplane.store.db import Database

# A watch reads at most this many rows per query.
WATCH_BATCH = 500
# The response header of a watch: the item it starts after ("": from the beginning).
WATCH_AFTER_HEADER = "x-watch-after"

# Reads (number, message) of the rows numbered above ``after`` (their tenant's sequence:
# ``controlplane.store.sequences``), at most ``limit``, in number order.
ReadAfter = Callable[[AsyncSession, int, int], Awaitable[Sequence[tuple[int, Any]]]]


def start_after(after: str, from_beginning: bool, pattern: Pattern, tenant: str, what: str) -> int:
    """The number a watch starts after, from the request's ``after`` (the name of an item, of
    ``pattern``, whose last id is its number) and ``from_beginning``; 0 for the beginning."""
    if not after:
        return 0
    if from_beginning:
        raise InvalidArgument.for_field("from_beginning", "must not be set together with after")
    item_tenant, *_, pk = pattern.parse(after, "after")
    if item_tenant != tenant:
        raise InvalidArgument.for_field("after", f"must name {what} of tenants/{tenant}")
    if not pk.isdigit() or int(pk) < 1:
        raise InvalidArgument.for_field("after", f"{pk!r} is not the id of {what}")
    return int(pk)


async def check_sent(session: AsyncSession, feed: str, after: int, what: str) -> None:
    """Refuses an ``after`` that names no item the feed ever sent (beyond its tenant's last
    number): a made-up cursor would silently skip the items that get its numbers later."""
    if after > await sequences.current_value(session, feed):
        raise InvalidArgument.for_field("after", f"names {what} that was never sent")


async def watch_feed(
    db: Database,
    limits: WatchLimits,
    context: ServicerContext,
    feed: str,
    tenant: str,
    start: tuple[int, str],
    read_after: ReadAfter,
) -> AsyncIterator[Any]:
    """Streams the rows of ``feed`` that ``read_after`` selects, after ``start``: (the number
    to start after, the name the client resumes with; "" for the beginning)."""
    after, name = start
    # The headers say the watch is in place, and where it starts: a client that loses the
    # stream before any item resumes there.
    await context.send_initial_metadata([(WATCH_AFTER_HEADER, name)])
    feeds = db.feeds
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.max_seconds
    with feeds.watching(feed, tenant):
        while True:
            seen = feeds.generation(feed, tenant)
            async with db.read() as session:
                rows = await read_after(session, after, WATCH_BATCH)
            for pk, message in rows:
                yield message
                after = pk
            if len(rows) == WATCH_BATCH:
                continue  # more are waiting: no pause
            remaining = deadline - loop.time()
            if feeds.closed or remaining <= 0:
                return
            # Woken by a commit here, a notice from another server, or the server's poll.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await feeds.wait(feed, tenant, seen)
