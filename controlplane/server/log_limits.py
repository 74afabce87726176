"""Log lines that a caller can provoke at will, limited so a flood cannot fill the disk."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedWarning:
    """At most one warning line every ``every_seconds``; the next line says how many were
    left out in between."""

    def __init__(
        self,
        logger: logging.Logger,
        every_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._every = every_seconds
        self._clock = clock
        self._next = 0.0
        self._suppressed = 0

    def warn(self, message: str, *args: object) -> bool:
        """Logs ``message % args`` unless a line was logged in the last ``every_seconds``;
        returns whether it was logged."""
        now = self._clock()
        if now < self._next:
            self._suppressed += 1
            return False
        self._next = now + self._every
        if self._suppressed:
            message += " (%d more like it since the last such line)"
            args = (*args, self._suppressed)
            self._suppressed = 0
        self._logger.warning(message, *args)
        return True
