"""Blobs as files (or objects) under an fsspec URL, committed by ``fs.mv`` from ``.staging``.

A writer streams into ``<root>/.staging/<uuid>`` and ``commit`` moves it to ``<root>/<key>``.
On a local filesystem the move is a rename; on an object store it is a server-side copy that
creates the final object whole (object stores have no partial objects), then a delete of the
staging object. Either way a key is never visible with part of its bytes.
"""

from __future__ import annotations

import contextlib
import io
import uuid
import weakref
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from fsspec.core import url_to_fs
from fsspec.implementations.memory import MemoryFileSystem

from controlplane.artifact_keys import validate_key, validate_prefix
from controlplane.interfaces.artifact_store import ArtifactStore, BlobNotFound, BlobWriter

#: Where writers keep their bytes until commit; never a key, never listed.
STAGING_DIR = ".staging"

# Filesystems report "nothing readable here" in several ways (the memory filesystem raises
# FileExistsError for a path through a file).
_NOT_A_BLOB = (FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError)


def _discard(fs: Any, file: Any, path: str) -> None:
    # Buffered object-store files upload on close; discard() first abandons a multipart upload.
    with contextlib.suppress(Exception):
        discard = getattr(file, "discard", None)
        if callable(discard):
            discard()
    with contextlib.suppress(Exception):
        file.close()
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(path)


class FsspecBlobWriter(BlobWriter):
    """Streams into a staging file; ``commit`` moves it to the key's path."""

    def __init__(self, fs: Any, staging_path: str, final_path: str) -> None:
        self._fs = fs
        self.staging_path = staging_path
        self._final_path = final_path
        self._file = fs.open(staging_path, "wb")
        self._state = "open"  # then "committed" or "aborted"
        # A writer dropped without commit or abort (its caller raised) cleans up after itself.
        self._finalizer = weakref.finalize(self, _discard, fs, self._file, staging_path)

    def write(self, data: bytes) -> None:
        if self._state != "open":
            raise ValueError(f"write to a {self._state} blob writer")
        self._file.write(data)

    def commit(self) -> None:
        if self._state != "open":
            raise ValueError(f"commit of a {self._state} blob writer")
        try:
            self._file.close()
            parent = self._final_path.rsplit("/", 1)[0]
            self._fs.makedirs(parent, exist_ok=True)
            self._fs.mv(self.staging_path, self._final_path)
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        self._finalizer.detach()

    def abort(self) -> None:
        if self._state == "committed":
            return
        self._state = "aborted"
        self._finalizer()  # discards the staging file, once


class FsspecArtifactStore(ArtifactStore):
    """``root`` is any fsspec URL; its protocol's implementation must be installed."""

    name = "fsspec"

    def __init__(self, root: str) -> None:
        self.url = root
        fs, path = url_to_fs(root)
        self.fs: Any = fs
        self.root = cast(str, path).rstrip("/")
        self.staging_dir = f"{self.root}/{STAGING_DIR}"
        self.fs.makedirs(self.staging_dir, exist_ok=True)

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({self.url!r})"

    def _path(self, key: str) -> str:
        validate_key(key)
        if key.split("/", 1)[0] == STAGING_DIR:
            raise ValueError(f"artifact key {key!r}: {STAGING_DIR!r} is reserved by the store")
        return f"{self.root}/{key}"

    def writer(self, key: str) -> BlobWriter:
        final_path = self._path(key)
        return FsspecBlobWriter(self.fs, f"{self.staging_dir}/{uuid.uuid4().hex}", final_path)

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        path = self._path(key)
        if offset < 0:
            raise ValueError(f"offset must be >= 0, not {offset}")
        try:
            if isinstance(self.fs, MemoryFileSystem):
                # Its open() hands every reader the same file object (one shared position);
                # its bytes are in memory anyway, so each reader gets its own copy.
                stream = io.BytesIO(self.fs.cat_file(path))
            else:
                stream = self.fs.open(path, "rb")
        except _NOT_A_BLOB:
            raise BlobNotFound(key) from None
        if offset:
            stream.seek(offset)
        return cast(BinaryIO, stream)

    def size(self, key: str) -> int:
        try:
            info = self.fs.info(self._path(key))
        except _NOT_A_BLOB:
            raise BlobNotFound(key) from None
        if info.get("type") != "file":
            raise BlobNotFound(key)
        return int(info["size"])

    def exists(self, key: str) -> bool:
        return bool(self.fs.isfile(self._path(key)))

    def delete(self, key: str) -> None:
        path = self._path(key)
        # Directories are not blobs: deleting the "blob" a/b must never touch a/b/c.
        if self.fs.isfile(path):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(path)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[str]:
        # List below the deepest directory the prefix names; filter the rest by string.
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = f"{self.root}/{directory}" if directory else self.root
        start = len(self.root) + 1
        for path in self.fs.find(base):
            key = cast(str, path)[start:]
            if not key.startswith(prefix) or key.split("/", 1)[0] == STAGING_DIR:
                continue
            try:
                validate_key(key)
            except ValueError:
                continue  # an object nobody stored through the interface
            yield key
