"""The artifact store conformance suite (``controlplane.interfaces.ArtifactStore``).

A plugin author subclasses ``ArtifactStoreSuite`` (or some of the classes it combines) in a
``test_*.py`` file and overrides the fixtures::

    import pytest
    from conformance.plugins.artifact_store import ArtifactStoreSuite

    class TestMyStore(ArtifactStoreSuite):
        @pytest.fixture
        def artifact_store(self, tmp_path):
            return MyStore(str(tmp_path))          # a new, empty store for each test

        @pytest.fixture
        def reopen_artifact_store(self, tmp_path):
            return lambda: MyStore(str(tmp_path))  # another store on the same root

        @pytest.fixture
        def capabilities(self):
            return {"persistent", "large_blobs", "seekable_reads"}

Every promise of the interface (atomic commit, immutability, streaming, thread safety, the key
and prefix format) is tested unconditionally; the capabilities (``conformance.capabilities``)
are what a correct store may lack.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar

import pytest

from conformance.capabilities import requires
from conformance.suite import ConformanceSuite, run_threads
from controlplane.artifact_keys import blob_key
from controlplane.interfaces.artifact_store import ArtifactStore, BlobNotFound

KiB = 1024
MiB = 1024 * KiB

# Keys outside the format (controlplane.interfaces.artifact_store): each must be refused with
# ValueError by every method that takes a key, before it can become a path or object name.
INVALID_KEYS = [
    pytest.param("", id="empty"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("../outside", id="parent-first"),
    pytest.param("a/../../outside", id="parent-inside"),
    pytest.param("a/..", id="parent-last"),
    pytest.param("a/./b", id="dot-segment"),
    pytest.param("a//b", id="empty-segment"),
    pytest.param("a/b/", id="trailing-slash"),
    pytest.param("a b", id="space"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("a:b", id="colon"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("caf\u00e9", id="non-ascii"),
    pytest.param("a/b?c", id="query"),
    pytest.param("x" * 256, id="segment-too-long"),
]

# Prefixes outside the format: list_keys must refuse each with ValueError (when called or at
# the latest when iterated), before it can become a path to walk. A prefix may end anywhere
# ("tenants/ac"), but no complete segment may be empty, "." or "..", and nothing may be "..".
INVALID_PREFIXES = [
    pytest.param("/", id="root"),
    pytest.param("/etc", id="absolute"),
    pytest.param("..", id="parent"),
    pytest.param("../", id="parent-directory"),
    pytest.param("../store", id="parent-then-name"),
    pytest.param("a/../..", id="parent-inside"),
    pytest.param("./a", id="dot-segment"),
    pytest.param("a//", id="empty-segment"),
    pytest.param("a b", id="space"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("a\x00", id="nul"),
    pytest.param("caf\u00e9", id="non-ascii"),
]

# Keys inside the format that a store must accept, list and read back exactly.
VALID_KEYS = [
    pytest.param("a", id="one-char"),
    pytest.param("UPPER-lower_09.bin", id="every-char-class"),
    pytest.param(".hidden/..dots/x.", id="leading-and-trailing-dots"),
    pytest.param("/".join(f"d{i}" for i in range(16)), id="deep"),
    pytest.param("s/" + "x" * 255, id="longest-segment"),
    pytest.param(blob_key("acme", "ab" * 32), id="content-address"),
]


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes that differ at every offset (so a wrong offset shows)."""
    return random.Random(seed).randbytes(size)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def put_blob(store: ArtifactStore, key: str, data: bytes | Iterable[bytes]) -> None:
    """Writes and commits a blob (``data`` as one piece or an iterable of pieces)."""
    pieces = [data] if isinstance(data, bytes) else data
    writer = store.writer(key)
    try:
        for piece in pieces:
            writer.write(piece)
    except BaseException:
        writer.abort()
        raise
    writer.commit()


def read_blob(store: ArtifactStore, key: str, offset: int = 0, piece: int = 64 * KiB) -> bytes:
    """Reads a committed blob from ``offset`` to its end in pieces, as a streaming reader."""
    out = bytearray()
    with store.open(key, offset) as stream:
        while block := stream.read(piece):
            out += block
    return bytes(out)


def listed(store: ArtifactStore, prefix: str = "") -> list[str]:
    return sorted(store.list_keys(prefix))


def assert_invisible(store: ArtifactStore, key: str) -> None:
    """Every read path agrees there is no committed blob under ``key``."""
    assert not store.exists(key)
    with pytest.raises(BlobNotFound):
        store.open(key).close()
    with pytest.raises(BlobNotFound):
        store.size(key)
    assert key not in set(store.list_keys())


class ArtifactStoreFixtures(ConformanceSuite):
    """The fixtures a plugin author overrides."""

    @pytest.fixture
    def artifact_store(self) -> ArtifactStore:
        """A new, empty store for each test."""
        raise NotImplementedError(
            "override the `artifact_store` fixture in your subclass of the artifact store "
            "suite: it returns a new, empty ArtifactStore for each test (for example one built "
            "on pytest's tmp_path)"
        )

    @pytest.fixture
    def reopen_artifact_store(self) -> Callable[[], ArtifactStore]:
        """Builds another store on the same root as ``artifact_store``, as a restarted server
        would. Only tests of the ``persistent`` capability use it."""
        raise NotImplementedError(
            "declare the `persistent` capability only with a `reopen_artifact_store` fixture: "
            "a callable that builds another store on the same root as `artifact_store`"
        )


class ArtifactStoreWriteTests(ArtifactStoreFixtures):
    """Writing and committing."""

    def test_committed_blob_reads_back(self, artifact_store: ArtifactStore) -> None:
        data = payload(100 * KiB + 3)
        put_blob(artifact_store, "a/blob", chunks(data, 7 * KiB))
        assert read_blob(artifact_store, "a/blob") == data

    def test_size_is_the_committed_length(self, artifact_store: ArtifactStore) -> None:
        put_blob(artifact_store, "a/blob", [b"abc", b"defg"])
        assert artifact_store.size("a/blob") == 7

    def test_empty_blob_is_a_blob(self, artifact_store: ArtifactStore) -> None:
        put_blob(artifact_store, "empty", [])
        assert artifact_store.exists("empty")
        assert artifact_store.size("empty") == 0
        assert read_blob(artifact_store, "empty") == b""
        assert listed(artifact_store) == ["empty"]

    def test_empty_writes_are_accepted(self, artifact_store: ArtifactStore) -> None:
        put_blob(artifact_store, "k", [b"", b"ab", b"", b"c", b""])
        assert read_blob(artifact_store, "k") == b"abc"

    def test_interleaved_writers_stay_separate(self, artifact_store: ArtifactStore) -> None:
        first, second = artifact_store.writer("one"), artifact_store.writer("two")
        for index in range(5):
            first.write(b"1" * index)
            second.write(b"2" * index)
        second.commit()
        first.commit()
        assert read_blob(artifact_store, "one") == b"1" * 10
        assert read_blob(artifact_store, "two") == b"2" * 10

    def test_committing_an_existing_key_keeps_its_content(
        self, artifact_store: ArtifactStore
    ) -> None:
        # Keys are content addresses: a second upload of a blob carries the same bytes.
        data = payload(10 * KiB)
        put_blob(artifact_store, "k", data)
        put_blob(artifact_store, "k", chunks(data, 1000))
        assert read_blob(artifact_store, "k") == data
        assert listed(artifact_store) == ["k"]

    def test_blobs_are_independent_of_their_writers_buffers(
        self, artifact_store: ArtifactStore
    ) -> None:
        # A store must copy what it is given: the caller reuses its buffer for the next piece.
        writer = artifact_store.writer("k")
        buffer = bytearray(b"first")
        writer.write(bytes(buffer))
        buffer[:] = b"other"
        writer.write(bytes(buffer))
        writer.commit()
        assert read_blob(artifact_store, "k") == b"firstother"


class ArtifactStoreReadTests(ArtifactStoreFixtures):
    """Reading committed blobs, from any offset."""

    @pytest.mark.parametrize("offset", [0, 1, 4095, 4096, 50_000, 99_999, 100_000])
    def test_open_at_an_offset_reads_the_rest(
        self, artifact_store: ArtifactStore, offset: int
    ) -> None:
        data = payload(100_000, seed=offset)
        put_blob(artifact_store, "k", chunks(data, 8 * KiB))
        assert read_blob(artifact_store, "k", offset) == data[offset:]

    def test_reads_of_any_size_concatenate_to_the_blob(self, artifact_store: ArtifactStore) -> None:
        data = payload(50_000)
        put_blob(artifact_store, "k", data)
        out = bytearray()
        sizes = [1, 2, 3, 1000, 4096, 1, 7919]
        with artifact_store.open("k") as stream:
            for index in range(10_000):
                block = stream.read(sizes[index % len(sizes)])
                if not block:
                    break
                out += block
            assert stream.read() == b""
        assert bytes(out) == data

    def test_read_without_a_size_reads_to_the_end(self, artifact_store: ArtifactStore) -> None:
        data = payload(20_000)
        put_blob(artifact_store, "k", data)
        with artifact_store.open("k", 5) as stream:
            assert stream.read() == data[5:]

    def test_readers_of_one_blob_are_independent(self, artifact_store: ArtifactStore) -> None:
        data = payload(30_000)
        put_blob(artifact_store, "k", data)
        with artifact_store.open("k") as first, artifact_store.open("k", 10_000) as second:
            assert first.read(100) == data[:100]
            assert second.read(100) == data[10_000:10_100]
            assert first.read(100) == data[100:200]
            assert second.read() == data[10_100:]
            assert first.read() == data[200:]

    def test_exists_only_for_committed_keys(self, artifact_store: ArtifactStore) -> None:
        put_blob(artifact_store, "a/b", b"x")
        assert artifact_store.exists("a/b")
        assert not artifact_store.exists("a/c")
        assert not artifact_store.exists("b")

    def test_open_of_a_missing_key_raises_blob_not_found(
        self, artifact_store: ArtifactStore
    ) -> None:
        with pytest.raises(BlobNotFound):
            artifact_store.open("missing/key").close()

    def test_size_of_a_missing_key_raises_blob_not_found(
        self, artifact_store: ArtifactStore
    ) -> None:
        with pytest.raises(BlobNotFound):
            artifact_store.size("missing/key")

    def test_blob_not_found_is_a_key_error(self, artifact_store: ArtifactStore) -> None:
        with pytest.raises(KeyError):
            artifact_store.size("missing")

    @requires("seekable_reads")
    def test_streams_seek_and_tell(self, artifact_store: ArtifactStore) -> None:
        data = payload(40_000)
        put_blob(artifact_store, "k", data)
        with artifact_store.open("k", 100) as stream:
            assert stream.seekable()
            assert stream.tell() == 100
            stream.seek(30_000)
            assert stream.read(10) == data[30_000:30_010]
            assert stream.tell() == 30_010
            stream.seek(5)
            assert stream.read(5) == data[5:10]
            stream.seek(-10, 2)
            assert stream.read() == data[-10:]


class ArtifactStoreListTests(ArtifactStoreFixtures):
    """Listing committed keys."""

    def test_a_new_store_lists_nothing(self, artifact_store: ArtifactStore) -> None:
        assert listed(artifact_store) == []

    def test_lists_every_committed_key_once(self, artifact_store: ArtifactStore) -> None:
        keys = ["a", "b/c", "b/d/e", "tenants/acme/sha256/ab/ab01", "z.z"]
        for key in keys:
            put_blob(artifact_store, key, key.encode())
        found = list(artifact_store.list_keys())
        assert sorted(found) == keys
        assert len(found) == len(set(found))

    @pytest.mark.parametrize(
        "prefix",
        [
            "",
            "tenants/",
            "tenants/acme/",
            "tenants/acme",
            "tenants/ac",
            "tenants/acme/b",
            "tenants/acme/b/c",
            "tenants/acme/b/c/",
            "tenants/gamma/",
            "tenants/acme/a/",
            "other",
        ],
    )
    def test_prefix_selects_keys_by_string(
        self, artifact_store: ArtifactStore, prefix: str
    ) -> None:
        # A prefix is a string prefix, not a directory: "tenants/ac" selects acme and acmeco.
        keys = ["tenants/acme/a", "tenants/acme/b/c", "tenants/acmeco/a", "tenants/beta/a"]
        for key in keys:
            put_blob(artifact_store, key, b"x")
        assert listed(artifact_store, prefix) == [key for key in keys if key.startswith(prefix)]

    def test_listing_omits_deleted_keys(self, artifact_store: ArtifactStore) -> None:
        put_blob(artifact_store, "a/1", b"x")
        put_blob(artifact_store, "a/2", b"x")
        artifact_store.delete("a/1")
        assert listed(artifact_store) == ["a/2"]


class ArtifactStoreDeleteTests(ArtifactStoreFixtures):
    """Deleting committed blobs."""

    def test_delete_removes_the_blob(self, artifact_store: ArtifactStore) -> None:
        put_blob(artifact_store, "a/b", b"data")
        artifact_store.delete("a/b")
        assert_invisible(artifact_store, "a/b")

    def test_deleting_a_missing_key_is_not_an_error(self, artifact_store: ArtifactStore) -> None:
        artifact_store.delete("never/written")
        put_blob(artifact_store, "k", b"x")
        artifact_store.delete("k")
        artifact_store.delete("k")
        assert_invisible(artifact_store, "k")

    def test_delete_leaves_other_blobs(self, artifact_store: ArtifactStore) -> None:
        for key in ["p/a", "p/b", "p/a2", "q/a"]:
            put_blob(artifact_store, key, key.encode())
        artifact_store.delete("p/a")
        assert listed(artifact_store) == ["p/a2", "p/b", "q/a"]
        assert read_blob(artifact_store, "p/a2") == b"p/a2"

    def test_a_deleted_key_can_be_written_again(self, artifact_store: ArtifactStore) -> None:
        put_blob(artifact_store, "k", b"one")
        artifact_store.delete("k")
        put_blob(artifact_store, "k", b"one")
        assert read_blob(artifact_store, "k") == b"one"

    def test_a_prefix_of_keys_is_not_a_blob(self, artifact_store: ArtifactStore) -> None:
        # Stores backed by directories must not mistake a directory for a blob.
        put_blob(artifact_store, "a/b/c", b"x")
        assert_invisible(artifact_store, "a/b")
        assert_invisible(artifact_store, "a")
        artifact_store.delete("a/b")
        artifact_store.delete("a")
        assert read_blob(artifact_store, "a/b/c") == b"x"

    def test_a_path_through_a_blob_is_not_a_blob(self, artifact_store: ArtifactStore) -> None:
        put_blob(artifact_store, "a/b", b"x")
        assert_invisible(artifact_store, "a/b/c")
        artifact_store.delete("a/b/c")
        assert read_blob(artifact_store, "a/b") == b"x"

    def test_a_reader_opened_before_a_delete_is_not_corrupted(
        self, artifact_store: ArtifactStore
    ) -> None:
        # Garbage collection may delete a blob while it is being downloaded: the download must
        # either finish with the right bytes or fail, never return other bytes.
        data = payload(200 * KiB)
        put_blob(artifact_store, "k", chunks(data, 16 * KiB))
        with artifact_store.open("k") as stream:
            head = stream.read(1000)
            artifact_store.delete("k")
            try:
                rest = stream.read()
            except Exception:
                return
        assert head + rest == data


class ArtifactStoreAtomicityTests(ArtifactStoreFixtures):
    """Atomic commit: nothing is visible before ``commit``, everything after."""

    def test_an_unwritten_writer_is_invisible(self, artifact_store: ArtifactStore) -> None:
        writer = artifact_store.writer("k")
        try:
            assert_invisible(artifact_store, "k")
        finally:
            writer.abort()

    def test_written_bytes_are_invisible_until_commit(self, artifact_store: ArtifactStore) -> None:
        writer = artifact_store.writer("a/k")
        writer.write(payload(64 * KiB))
        assert_invisible(artifact_store, "a/k")
        assert listed(artifact_store) == []
        assert listed(artifact_store, "a/") == []
        writer.write(payload(64 * KiB, seed=1))
        assert_invisible(artifact_store, "a/k")
        writer.commit()
        assert artifact_store.size("a/k") == 128 * KiB
        assert listed(artifact_store) == ["a/k"]

    def test_abort_leaves_nothing(self, artifact_store: ArtifactStore) -> None:
        writer = artifact_store.writer("a/k")
        writer.write(payload(32 * KiB))
        writer.abort()
        assert_invisible(artifact_store, "a/k")
        assert listed(artifact_store) == []

    def test_abort_twice_is_safe(self, artifact_store: ArtifactStore) -> None:
        writer = artifact_store.writer("k")
        writer.write(b"x")
        writer.abort()
        writer.abort()
        assert_invisible(artifact_store, "k")

    def test_a_key_can_be_written_after_an_abort(self, artifact_store: ArtifactStore) -> None:
        writer = artifact_store.writer("k")
        writer.write(b"partial")
        writer.abort()
        put_blob(artifact_store, "k", b"whole")
        assert read_blob(artifact_store, "k") == b"whole"

    def test_an_aborted_rewrite_keeps_the_committed_blob(
        self, artifact_store: ArtifactStore
    ) -> None:
        data = payload(20 * KiB)
        put_blob(artifact_store, "k", data)
        writer = artifact_store.writer("k")
        writer.write(data[:1000])
        assert read_blob(artifact_store, "k") == data
        writer.abort()
        assert read_blob(artifact_store, "k") == data
        assert listed(artifact_store) == ["k"]

    def test_commit_makes_the_whole_blob_visible_at_once(
        self, artifact_store: ArtifactStore
    ) -> None:
        data = payload(300 * KiB)
        writer = artifact_store.writer("k")
        for piece in chunks(data, 10 * KiB):
            writer.write(piece)
            assert not artifact_store.exists("k")
        writer.commit()
        assert artifact_store.size("k") == len(data)
        assert read_blob(artifact_store, "k") == data


class ArtifactStoreStreamingTests(ArtifactStoreFixtures):
    """Streaming: blobs written in many pieces, read back in pieces, checked by hash."""

    #: The ``large_blobs`` test writes this much and may hold at most ``large_blob_memory``
    #: of it in Python memory at once (override either in a subclass if you must).
    large_blob_size: ClassVar[int] = 32 * MiB
    large_blob_memory: ClassVar[int] = 10 * MiB

    def test_multi_mib_blob_round_trips_in_many_pieces(self, artifact_store: ArtifactStore) -> None:
        # Odd piece sizes, so no write lines up with a store's internal chunking.
        data = payload(8 * MiB + 12_345)
        writer = artifact_store.writer("big")
        for piece in chunks(data, 64 * KiB + 7):
            writer.write(piece)
        writer.commit()
        assert artifact_store.size("big") == len(data)
        digest = hashlib.sha256()
        with artifact_store.open("big") as stream:
            while block := stream.read(MiB - 1):
                assert len(block) <= MiB - 1
                digest.update(block)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        middle = 3 * MiB + 17
        tail = hashlib.sha256(read_blob(artifact_store, "big", middle, MiB)).hexdigest()
        assert tail == hashlib.sha256(data[middle:]).hexdigest()

    @requires("large_blobs")
    def test_large_blob_memory_is_bounded(self, artifact_store: ArtifactStore) -> None:
        piece_size = 256 * KiB
        pieces = self.large_blob_size // piece_size
        generator = random.Random(7)
        written = hashlib.sha256()
        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            baseline = tracemalloc.get_traced_memory()[0]
            writer = artifact_store.writer("large")
            for _ in range(pieces):
                piece = generator.randbytes(piece_size)
                written.update(piece)
                writer.write(piece)
                del piece
            writer.commit()
            write_peak = tracemalloc.get_traced_memory()[1] - baseline
            tracemalloc.reset_peak()
            baseline = tracemalloc.get_traced_memory()[0]
            read = hashlib.sha256()
            with artifact_store.open("large") as stream:
                while block := stream.read(MiB):
                    read.update(block)
                    del block
            read_peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            if started:
                tracemalloc.stop()
        assert read.hexdigest() == written.hexdigest()
        assert artifact_store.size("large") == pieces * piece_size
        limit = self.large_blob_memory
        assert write_peak < limit, f"writing held {write_peak / MiB:.1f} MiB at once"
        assert read_peak < limit, f"reading held {read_peak / MiB:.1f} MiB at once"


class ArtifactStoreConcurrencyTests(ArtifactStoreFixtures):
    """Thread safety: the server calls a store from several worker threads at once."""

    threads: ClassVar[int] = 8

    def test_parallel_writers_on_distinct_keys(self, artifact_store: ArtifactStore) -> None:
        def work(index: int) -> None:
            for blob in range(6):
                data = payload(1000 + 9973 * blob, seed=index * 100 + blob)
                key = f"t{index}/b{blob}"
                put_blob(artifact_store, key, chunks(data, 4096 + index))
                assert read_blob(artifact_store, key, blob) == data[blob:]
                assert artifact_store.size(key) == len(data)

        run_threads(self.threads, work)
        expected = sorted(f"t{i}/b{b}" for i in range(self.threads) for b in range(6))
        assert listed(artifact_store) == expected

    def test_parallel_commits_of_one_key(self, artifact_store: ArtifactStore) -> None:
        # Two uploads of the same content can race; either copy may win, both are whole.
        data = payload(256 * KiB)
        barrier = threading.Barrier(self.threads)

        def work(index: int) -> None:
            writer = artifact_store.writer("same/key")
            for piece in chunks(data, 32 * KiB + index):
                writer.write(piece)
            barrier.wait(timeout=60)
            writer.commit()

        run_threads(self.threads, work)
        assert read_blob(artifact_store, "same/key") == data
        assert listed(artifact_store) == ["same/key"]

    def test_readers_never_see_a_partial_blob(self, artifact_store: ArtifactStore) -> None:
        data = payload(2 * MiB)
        committed = threading.Event()
        done = threading.Event()

        def reader(_: int) -> int:
            whole_reads = 0
            deadline = time.monotonic() + 60
            while not done.is_set() and time.monotonic() < deadline:
                # Read before looking: a commit landing between the two is not a disappearance.
                committed_before = committed.is_set()
                try:
                    size = artifact_store.size("k")
                    assert size == len(data), f"size {size} of a blob of {len(data)} bytes"
                    got = read_blob(artifact_store, "k", piece=256 * KiB)
                except BlobNotFound:
                    assert not committed_before, "a committed blob disappeared"
                    time.sleep(0.0005)
                    continue
                assert got == data, f"read {len(got)} bytes that are not the committed blob"
                whole_reads += 1
                if committed.is_set() and whole_reads >= 3:
                    break
            return whole_reads

        def writer_then_readers(index: int) -> int:
            if index:
                return reader(index)
            try:
                writer = artifact_store.writer("k")
                for piece in chunks(data, 64 * KiB):
                    writer.write(piece)
                    time.sleep(0.001)  # give the readers time to look while it is half written
                writer.commit()
            except BaseException:
                done.set()
                raise
            committed.set()
            return 0

        try:
            results = run_threads(4, writer_then_readers)
        finally:
            done.set()
        assert all(isinstance(count, int) and count >= 1 for count in results[1:])

    def test_listing_while_others_write_and_delete(self, artifact_store: ArtifactStore) -> None:
        for index in range(40):
            put_blob(artifact_store, f"old/{index:02d}", b"x")
        stop = threading.Event()

        def work(index: int) -> None:
            if index == 0:
                for blob in range(40):
                    put_blob(artifact_store, f"new/{blob:02d}", payload(2000, seed=blob))
                stop.set()
            elif index == 1:
                for blob in range(40):
                    artifact_store.delete(f"old/{blob:02d}")
            else:
                allowed = {f"old/{i:02d}" for i in range(40)} | {f"new/{i:02d}" for i in range(40)}
                while not stop.is_set():
                    keys = list(artifact_store.list_keys())
                    assert set(keys) <= allowed
                    assert len(keys) == len(set(keys))

        run_threads(4, work)
        assert listed(artifact_store) == [f"new/{i:02d}" for i in range(40)]


class ArtifactStoreKeyTests(ArtifactStoreFixtures):
    """The key format: every valid key works; anything else is a ValueError."""

    @pytest.mark.parametrize("key", VALID_KEYS)
    def test_accepts_a_valid_key(self, artifact_store: ArtifactStore, key: str) -> None:
        put_blob(artifact_store, key, key.encode())
        assert artifact_store.exists(key)
        assert read_blob(artifact_store, key) == key.encode()
        assert listed(artifact_store) == [key]
        artifact_store.delete(key)
        assert listed(artifact_store) == []

    @pytest.mark.parametrize("key", INVALID_KEYS)
    def test_rejects_an_invalid_key(self, artifact_store: ArtifactStore, key: str) -> None:
        with pytest.raises(ValueError):
            artifact_store.writer(key)
        with pytest.raises(ValueError):
            artifact_store.open(key)
        with pytest.raises(ValueError):
            artifact_store.size(key)
        with pytest.raises(ValueError):
            artifact_store.exists(key)
        with pytest.raises(ValueError):
            artifact_store.delete(key)
        assert listed(artifact_store) == []

    @pytest.mark.parametrize("prefix", INVALID_PREFIXES)
    def test_list_keys_rejects_an_invalid_prefix(
        self, artifact_store: ArtifactStore, prefix: str
    ) -> None:
        # list_keys may be a generator: a refusal only counts if it comes before any key.
        put_blob(artifact_store, "a/b", b"x")
        listed_keys: list[str] = []
        with pytest.raises(ValueError):
            listed_keys.extend(artifact_store.list_keys(prefix))
        assert listed_keys == [], f"list_keys({prefix!r}) listed {listed_keys}"

    def test_keys_that_differ_only_in_dots_are_distinct(
        self, artifact_store: ArtifactStore
    ) -> None:
        keys = ["a.b", "a..b", "a.b.", "ab"]
        for key in keys:
            put_blob(artifact_store, key, key.encode())
        for key in keys:
            assert read_blob(artifact_store, key) == key.encode()
        assert listed(artifact_store) == sorted(keys)


class ArtifactStorePersistenceTests(ArtifactStoreFixtures):
    """What a restarted server sees (``reopen_artifact_store``). The marker is on each test,
    not the class: pytest would carry a class's marks into every class that combines it."""

    @requires("persistent")
    def test_a_reopened_store_sees_committed_blobs(
        self,
        artifact_store: ArtifactStore,
        reopen_artifact_store: Callable[[], ArtifactStore],
    ) -> None:
        data = payload(100 * KiB)
        put_blob(artifact_store, "a/k", chunks(data, 8 * KiB))
        reopened = reopen_artifact_store()
        assert read_blob(reopened, "a/k") == data
        assert reopened.size("a/k") == len(data)
        assert listed(reopened) == ["a/k"]

    @requires("persistent")
    def test_a_reopened_store_does_not_see_uncommitted_writes(
        self,
        artifact_store: ArtifactStore,
        reopen_artifact_store: Callable[[], ArtifactStore],
    ) -> None:
        # A server that crashes mid-upload never commits nor aborts its writer.
        writer = artifact_store.writer("a/k")
        writer.write(payload(50 * KiB))
        try:
            reopened = reopen_artifact_store()
            assert_invisible(reopened, "a/k")
            assert listed(reopened) == []
        finally:
            writer.abort()

    @requires("persistent")
    def test_a_delete_is_seen_by_a_reopened_store(
        self,
        artifact_store: ArtifactStore,
        reopen_artifact_store: Callable[[], ArtifactStore],
    ) -> None:
        put_blob(artifact_store, "k", b"x")
        artifact_store.delete("k")
        assert_invisible(reopen_artifact_store(), "k")


class ArtifactStoreSuite(
    ArtifactStoreWriteTests,
    ArtifactStoreReadTests,
    ArtifactStoreListTests,
    ArtifactStoreDeleteTests,
    ArtifactStoreAtomicityTests,
    ArtifactStoreStreamingTests,
    ArtifactStoreConcurrencyTests,
    ArtifactStoreKeyTests,
    ArtifactStorePersistenceTests,
):
    """Every artifact store test; subclass it (named ``Test...``) and override the fixtures."""
