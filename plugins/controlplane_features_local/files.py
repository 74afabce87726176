"""Small filesystem helpers: durable renames and per-path locks shared by a process."""

from __future__ import annotations

import contextlib
import os
import threading

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def path_lock(path: str) -> threading.Lock:
    """The one lock of ``path`` in this process, so every store on a root shares it."""
    key = os.path.abspath(path)
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.Lock()
        return lock


def fsync_directory(path: str) -> None:
    """Makes a rename in ``path`` durable (POSIX; Windows has no directory handles)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def write_file_atomically(path: str, data: bytes, temp_path: str) -> None:
    """Writes ``data`` to ``temp_path``, fsyncs it and renames it to ``path``."""
    try:
        with open(temp_path, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_path, path)
    except BaseException:
        remove_quietly(temp_path)
        raise
    fsync_directory(os.path.dirname(path))
