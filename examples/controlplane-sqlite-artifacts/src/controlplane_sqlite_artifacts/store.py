"""Blobs in one SQLite file, in fixed-size chunk rows.

How the four promises of ``controlplane.interfaces.ArtifactStore`` are kept:

1. Atomic commit: a writer's chunks are rows of an *upload* that no key points at; ``commit``
   inserts the ``blobs`` row that names the upload, in one transaction with the last chunk.
   Readers only find chunks through ``blobs``, so they see all of a blob or none of it.
2. Immutability: committing a key that exists keeps the first copy and drops the new chunks.
3. Streaming: a writer buffers at most one chunk before inserting it; a reader fetches one
   chunk at a time, inside a read transaction so a concurrent delete cannot cut it short.
4. Thread safety: each call takes a connection from a pool (SQLite connections must not be
   used by two threads at once); WAL mode lets readers run while one writer commits.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import sqlite3
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from controlplane.artifact_keys import validate_key, validate_prefix
from controlplane.interfaces.artifact_store import ArtifactStore, BlobNotFound, BlobWriter

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK_SIZE = 1024 * 1024
#: An upload untouched this long belongs to a writer that crashed; opening the store removes it.
STALE_UPLOAD_SECONDS = 24 * 3600
LIST_PAGE = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    -- AUTOINCREMENT: an id is never reused, because a committed blob's chunks keep its
    -- upload id after the uploads row is gone.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    touched REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    upload INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (upload, seq)
);
CREATE TABLE IF NOT EXISTS blobs (
    key TEXT PRIMARY KEY,
    upload INTEGER NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL
);
"""


class _Pool:
    """Connections for any thread, one thread at a time each."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()

    def take(self) -> sqlite3.Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            # isolation_level=None: no implicit transactions; we BEGIN where we mean it.
            # timeout: wait for the one writer instead of failing with "database is locked".
            return sqlite3.connect(
                self._path, timeout=60, isolation_level=None, check_same_thread=False
            )

    def give(self, connection: sqlite3.Connection) -> None:
        if connection.in_transaction:
            connection.rollback()
        self._idle.put(connection)

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        connection = self.take()
        try:
            yield connection
        finally:
            self.give(connection)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def _discard_upload(pool: _Pool, upload: int) -> None:
    with pool.connection() as db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM chunks WHERE upload = ?", (upload,))
        db.execute("DELETE FROM uploads WHERE id = ?", (upload,))
        db.execute("COMMIT")


class SqliteBlobWriter(BlobWriter):
    """Inserts each full chunk as it fills; ``commit`` names the upload under the key."""

    def __init__(self, pool: _Pool, key: str, chunk_size: int) -> None:
        self._pool = pool
        self._key = key
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._seq = 0
        self._size = 0
        self._state = "open"  # then "committed" or "aborted"
        with pool.connection() as db:
            cursor = db.execute("INSERT INTO uploads (touched) VALUES (?)", (time.time(),))
            assert cursor.lastrowid is not None
            self.upload = cursor.lastrowid
        # A writer dropped without commit or abort (its caller raised) cleans up after itself.
        self._finalizer = weakref.finalize(self, _discard_upload, pool, self.upload)

    def write(self, data: bytes) -> None:
        if self._state != "open":
            raise ValueError(f"write to a {self._state} blob writer")
        self._buffer += data
        self._size += len(data)
        if len(self._buffer) >= self._chunk_size:
            with self._pool.connection() as db:
                db.execute("BEGIN IMMEDIATE")
                self._insert_full_chunks(db)
                db.execute(
                    "UPDATE uploads SET touched = ? WHERE id = ?", (time.time(), self.upload)
                )
                db.execute("COMMIT")

    def _insert_full_chunks(self, db: sqlite3.Connection) -> None:
        view = memoryview(self._buffer)
        start = 0
        while len(view) - start >= self._chunk_size:
            piece = bytes(view[start : start + self._chunk_size])
            db.execute("INSERT INTO chunks VALUES (?, ?, ?)", (self.upload, self._seq, piece))
            self._seq += 1
            start += self._chunk_size
        view.release()
        del self._buffer[:start]

    def commit(self) -> None:
        if self._state != "open":
            raise ValueError(f"commit of a {self._state} blob writer")
        try:
            with self._pool.connection() as db:
                db.execute("BEGIN IMMEDIATE")
                self._insert_full_chunks(db)
                if self._buffer:
                    db.execute(
                        "INSERT INTO chunks VALUES (?, ?, ?)",
                        (self.upload, self._seq, bytes(self._buffer)),
                    )
                inserted = db.execute(
                    "INSERT INTO blobs (key, upload, size, chunk_size) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    (self._key, self.upload, self._size, self._chunk_size),
                ).rowcount
                if not inserted:  # the key exists with the same content: keep that copy
                    db.execute("DELETE FROM chunks WHERE upload = ?", (self.upload,))
                db.execute("DELETE FROM uploads WHERE id = ?", (self.upload,))
                db.execute("COMMIT")
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        self._buffer = bytearray()
        self._finalizer.detach()

    def abort(self) -> None:
        if self._state == "committed":
            return
        self._state = "aborted"
        self._buffer = bytearray()
        self._finalizer()  # deletes the upload's chunks, once


class _ChunkReader(io.RawIOBase):
    """A seekable stream over one blob's chunks, inside a read transaction (a snapshot)."""

    def __init__(
        self, pool: _Pool, db: sqlite3.Connection, upload: int, size: int, chunk_size: int
    ) -> None:
        self._pool, self._db = pool, db
        self._upload, self._size, self._chunk_size = upload, size, chunk_size
        self._position = 0

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed blob stream")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def _read_piece(self, limit: int) -> bytes:
        """Up to ``limit`` bytes from the position, never past the current chunk."""
        if self._position >= self._size or limit <= 0:
            return b""
        seq, within = divmod(self._position, self._chunk_size)
        row = self._db.execute(
            "SELECT substr(data, ?, ?) FROM chunks WHERE upload = ? AND seq = ?",
            (within + 1, min(limit, self._chunk_size - within), self._upload, seq),
        ).fetchone()
        if row is None or not row[0]:
            raise OSError(f"chunk {seq} of upload {self._upload} is missing")
        piece: bytes = row[0]
        self._position += len(piece)
        return piece

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._check_open()
        with memoryview(buffer) as view, view.cast("B") as target:
            piece = self._read_piece(len(target))
            target[: len(piece)] = piece
        return len(piece)

    def readall(self) -> bytes:
        self._check_open()
        out = bytearray()
        while piece := self._read_piece(self._chunk_size):
            out += piece
        return bytes(out)

    def close(self) -> None:
        if not self.closed:
            self._pool.give(self._db)  # ends the read transaction
        super().close()


class SqliteArtifactStore(ArtifactStore):
    """``root`` is the database file (created, with its directory, if missing); an existing
    directory means ``<directory>/artifacts.sqlite3``."""

    name = "sqlite"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        chunk_size: int = CHUNK_SIZE,
        stale_uploads_after: float = STALE_UPLOAD_SECONDS,
    ) -> None:
        path = os.path.abspath(os.fspath(root))
        if os.path.isdir(path):
            path = os.path.join(path, "artifacts.sqlite3")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self.chunk_size = chunk_size
        self._pool = _Pool(path)
        with self._pool.connection() as db:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(SCHEMA)
        self.purge_uploads(older_than=stale_uploads_after)

    def __repr__(self) -> str:
        return f"SqliteArtifactStore({self.path!r})"

    def close(self) -> None:
        """Closes the idle connections (open readers and writers keep theirs)."""
        self._pool.close()

    def writer(self, key: str) -> BlobWriter:
        return SqliteBlobWriter(self._pool, validate_key(key), self.chunk_size)

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        validate_key(key)
        if offset < 0:
            raise ValueError(f"offset must be >= 0, not {offset}")
        db = self._pool.take()
        try:
            db.execute("BEGIN")  # the snapshot starts at the first read below
            row = db.execute(
                "SELECT upload, size, chunk_size FROM blobs WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                raise BlobNotFound(key)
        except BaseException:
            self._pool.give(db)
            raise
        raw = _ChunkReader(self._pool, db, *row)
        raw.seek(offset)
        return io.BufferedReader(raw, buffer_size=self.chunk_size)

    def size(self, key: str) -> int:
        validate_key(key)
        with self._pool.connection() as db:
            row = db.execute("SELECT size FROM blobs WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise BlobNotFound(key)
        return int(row[0])

    def exists(self, key: str) -> bool:
        validate_key(key)
        with self._pool.connection() as db:
            return db.execute("SELECT 1 FROM blobs WHERE key = ?", (key,)).fetchone() is not None

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._pool.connection() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT upload FROM blobs WHERE key = ?", (key,)).fetchone()
            if row is not None:
                db.execute("DELETE FROM blobs WHERE key = ?", (key,))
                db.execute("DELETE FROM chunks WHERE upload = ?", (row[0],))
            db.execute("COMMIT")

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[str]:
        # Keys are ASCII, so the keys starting with a prefix are a range of the primary key;
        # pages of it, so a long listing never holds a statement open between yields.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else None
        after = ""
        while True:
            with self._pool.connection() as db:
                rows = db.execute(
                    "SELECT key FROM blobs WHERE key >= ? AND key > ? "
                    "AND (? IS NULL OR key < ?) ORDER BY key LIMIT ?",
                    (prefix, after, upper, upper, LIST_PAGE),
                ).fetchall()
            for (key,) in rows:
                yield key
            if len(rows) < LIST_PAGE:
                return
            after = rows[-1][0]

    def purge_uploads(self, older_than: float = STALE_UPLOAD_SECONDS) -> int:
        """Removes the chunks of uploads untouched for ``older_than`` seconds (their writers
        crashed); returns how many uploads. Called when the store is created."""
        cutoff = time.time() - older_than
        with self._pool.connection() as db:
            stale = [
                upload
                for (upload,) in db.execute("SELECT id FROM uploads WHERE touched < ?", (cutoff,))
            ]
        for upload in stale:
            _discard_upload(self._pool, upload)
        return len(stale)
