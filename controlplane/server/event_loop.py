"""Which asyncio event loop ``mlctl server`` runs on.

uvloop (libuv) runs the loop's own machinery in C. grpc.aio wakes the loop several times per
RPC, so on a busy server that machinery is a visible share of each call: measured on the
registry benchmark, about a fifth more versions per second from concurrent clients. It is
used when installed (it is a dependency where it builds: not on Windows); ``asyncio`` forces
the standard loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

CHOICES = ("auto", "uvloop", "asyncio")


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for ``asyncio.Runner``; None for the standard loop."""
    if choice not in CHOICES:
        raise ValueError(f"event loop must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ValueError(
                "event loop uvloop: uvloop is not installed (pip install uvloop)"
            ) from None
        return None
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """ "uvloop" or "asyncio", for the server's start-up log."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
