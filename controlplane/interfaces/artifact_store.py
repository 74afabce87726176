"""Artifact stores: where the bytes of artifacts (model files, dataset snapshots, reports) live.

The server owns everything above the bytes: it hashes every upload (sha256), checks it against
what the client declared, enforces quotas, records size and media type, and decides keys. A
store only keeps opaque blobs under keys and must honour four promises:

1. **Atomic commit.** Bytes written through a ``BlobWriter`` are invisible (``exists`` is
   False, ``open`` raises ``BlobNotFound``, ``list_keys`` omits them) until ``commit``; after
   ``commit`` the whole blob is visible at once. ``abort`` leaves nothing behind.
2. **Immutability.** Keys are content addresses, so a committed blob never changes. Committing
   a key that already exists may keep either copy (they are identical).
3. **Streaming.** Neither writing nor reading holds a whole blob in memory; blobs can be many
   GiB.
4. **Thread safety.** The server calls stores from worker threads, several at once, never from
   its event loop; methods may block.

Keys are ``/``-separated relative paths of letters, digits, ``.``, ``_``, ``-`` (for example
``tenants/acme/sha256/ab/ab12...``); a store may map them to files, object names or rows. Every
method that takes a key (or a prefix) raises ``ValueError`` for one that is malformed or could
escape the store's root; ``controlplane.artifact_keys.validate_key`` and ``validate_prefix``
do the checking, and the conformance suite tests it.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import BinaryIO


class BlobNotFound(KeyError):
    """No committed blob under this key."""


class BlobWriter(abc.ABC):
    """Receives one blob's bytes in order; nothing is visible until ``commit``."""

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Appends ``data`` (any size, including empty)."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Makes the blob visible under its key, atomically. Called at most once."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Discards everything written; safe to call after a failed ``write`` or twice."""


class ArtifactStore(abc.ABC):
    """A blob store; see the module docstring for the promises every implementation keeps."""

    #: Short name shown by ``mlctl plugins list`` and chosen with ``--artifact-store``.
    name: str = ""

    @abc.abstractmethod
    def writer(self, key: str) -> BlobWriter:
        """Starts writing the blob ``key``."""

    @abc.abstractmethod
    def open(self, key: str, offset: int = 0) -> BinaryIO:
        """A readable binary stream of the committed blob, positioned at ``offset`` (0 <=
        offset <= size). Raises ``BlobNotFound``. The caller closes it."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """The committed blob's size in bytes. Raises ``BlobNotFound``."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a committed blob is stored under ``key``."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Removes the committed blob; deleting a missing key is not an error."""

    @abc.abstractmethod
    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Every committed key that starts with ``prefix``, in any order (for garbage
        collection, which compares them with the keys the database references)."""
