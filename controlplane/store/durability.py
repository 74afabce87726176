"""How durable an acknowledged write is: one server setting, read by both stores.

- ``full``: a write the server acknowledged survives a crash of the server process and a power
  loss or operating-system crash of the machine the database lives on. SQLite syncs its WAL to
  disk on every commit (``synchronous=FULL``); PostgreSQL waits for its WAL flush
  (``synchronous_commit=on``).
- ``normal``: an acknowledged write survives a crash of the server process (``kill -9``), but
  the last commits before a power loss or operating-system crash (or, on PostgreSQL, a crash
  of PostgreSQL itself) may be lost; the database stays consistent either way. SQLite syncs
  the WAL only at checkpoints (``synchronous=NORMAL``, in WAL mode); PostgreSQL acknowledges
  before its WAL flush (``synchronous_commit=off``, at most about three ``wal_writer_delay``s
  of commits at risk).
- ``auto`` (the default): ``normal`` on the embedded SQLite store, a laptop's working copy
  where an fsync per commit would cost most of the write path; ``full`` on PostgreSQL, a team's
  system of record.
"""

from __future__ import annotations

import enum


class Durability(enum.StrEnum):
    FULL = "full"
    NORMAL = "normal"


CHOICES = ("auto", Durability.FULL.value, Durability.NORMAL.value)


def resolve_durability(setting: str, *, sqlite: bool) -> Durability:
    """The level ``setting`` (one of ``CHOICES``) means on this store."""
    if setting == "auto":
        return Durability.NORMAL if sqlite else Durability.FULL
    try:
        return Durability(setting)
    except ValueError:
        raise ValueError(
            f"unknown durability {setting!r}; choose one of {', '.join(CHOICES)}"
        ) from None


def sqlite_synchronous(level: Durability) -> str:
    """The PRAGMA that gives ``level`` on a SQLite connection in WAL mode."""
    return f"PRAGMA synchronous={'FULL' if level is Durability.FULL else 'NORMAL'}"


def postgres_synchronous_commit(level: Durability) -> str:
    """PostgreSQL's ``synchronous_commit`` for ``level``."""
    return "on" if level is Durability.FULL else "off"
