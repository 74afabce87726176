"""Blobs as files under ``root/<key>``, committed by ``os.replace`` from ``root/.staging``.

The staging directory is inside the root so the rename never crosses a filesystem (a rename
within one filesystem is atomic; across two it would be a copy). The bytes are fsynced before
the rename and the directory after it, so a committed blob survives a power loss and a crash
never leaves a partial file under a key.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
import weakref
from collections.abc import Iterator
from typing import BinaryIO

from controlplane.artifact_keys import validate_key, validate_prefix
from controlplane.interfaces.artifact_store import ArtifactStore, BlobNotFound, BlobWriter

#: Where writers keep their bytes until commit; never a key, never listed.
STAGING_DIR = ".staging"
#: A staging file this old belongs to a writer that crashed; the next store on the root
#: removes it. A day is far longer than any upload.
STALE_STAGING_SECONDS = 24 * 3600

# Opening a directory, or a path through a file, is "no blob here", not an error.
_NOT_A_BLOB = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


def _discard(file: BinaryIO, path: str) -> None:
    with contextlib.suppress(OSError):
        file.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _fsync_directory(path: str) -> None:
    """Makes a rename in ``path`` durable (POSIX; Windows has no directory handles)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobWriter(BlobWriter):
    """Writes to a temporary file in the staging directory; ``commit`` renames it into place."""

    def __init__(self, final_path: str, staging_dir: str) -> None:
        fd, self._temp_path = tempfile.mkstemp(dir=staging_dir, prefix="blob-", suffix=".part")
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._final_path = final_path
        self._state = "open"  # then "committed" or "aborted"
        # A writer dropped without commit or abort (its caller raised) cleans up after itself.
        self._finalizer = weakref.finalize(self, _discard, self._file, self._temp_path)

    @property
    def temp_path(self) -> str:
        return self._temp_path

    def write(self, data: bytes) -> None:
        if self._state != "open":
            raise ValueError(f"write to a {self._state} blob writer")
        self._file.write(data)

    def commit(self) -> None:
        if self._state != "open":
            raise ValueError(f"commit of a {self._state} blob writer")
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            parent = os.path.dirname(self._final_path)
            os.makedirs(parent, exist_ok=True)
            os.replace(self._temp_path, self._final_path)
            _fsync_directory(parent)
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        self._finalizer.detach()

    def abort(self) -> None:
        if self._state == "committed":
            return
        self._state = "aborted"
        self._finalizer()  # closes and deletes the temporary file, once


class LocalArtifactStore(ArtifactStore):
    """``root`` is a directory path (created if missing). Several processes may share it."""

    name = "local"

    def __init__(
        self, root: str | os.PathLike[str], *, stale_staging_after: float = STALE_STAGING_SECONDS
    ) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.staging_dir = os.path.join(self.root, STAGING_DIR)
        os.makedirs(self.staging_dir, exist_ok=True)
        self.purge_staging(older_than=stale_staging_after)

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.root!r})"

    def _path(self, key: str) -> str:
        segments = validate_key(key).split("/")
        if segments[0] == STAGING_DIR:
            raise ValueError(f"artifact key {key!r}: {STAGING_DIR!r} is reserved by the store")
        return os.path.join(self.root, *segments)

    def writer(self, key: str) -> BlobWriter:
        return LocalBlobWriter(self._path(key), self.staging_dir)

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        path = self._path(key)
        if offset < 0:
            raise ValueError(f"offset must be >= 0, not {offset}")
        try:
            stream = open(path, "rb")  # noqa: SIM115 (the caller closes it)
        except _NOT_A_BLOB:
            raise BlobNotFound(key) from None
        if offset:
            stream.seek(offset)
        return stream

    def size(self, key: str) -> int:
        try:
            info = os.stat(self._path(key))
        except _NOT_A_BLOB:
            raise BlobNotFound(key) from None
        if not stat.S_ISREG(info.st_mode):
            raise BlobNotFound(key)
        return info.st_size

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._path(key))

    def delete(self, key: str) -> None:
        path = self._path(key)
        # Directories are not blobs: deleting the "blob" a/b must never touch a/b/c.
        if os.path.isfile(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        return self._walk(self.root, "", prefix)

    def _walk(self, directory: str, relative: str, prefix: str) -> Iterator[str]:
        try:
            entries = list(os.scandir(directory))
        except _NOT_A_BLOB:
            return
        for entry in entries:
            key = f"{relative}{entry.name}"
            if not relative and entry.name == STAGING_DIR:
                continue
            if entry.is_dir(follow_symlinks=False):
                # Descend only where keys starting with the prefix can be.
                if (key + "/").startswith(prefix) or prefix.startswith(key + "/"):
                    yield from self._walk(entry.path, key + "/", prefix)
            elif entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                try:
                    validate_key(key)
                except ValueError:
                    continue  # a stray file nobody stored through the interface
                yield key

    def purge_staging(self, older_than: float = STALE_STAGING_SECONDS) -> int:
        """Removes staging files of writers that crashed (untouched for ``older_than``
        seconds); returns how many. Called when the store is created."""
        cutoff = time.time() - older_than
        removed = 0
        for entry in os.scandir(self.staging_dir):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
        return removed
