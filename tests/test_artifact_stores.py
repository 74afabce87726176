"""The built-in artifact stores: the conformance suite, run exactly as a third party runs it
(stores built through the entry points), plus what is particular to each store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Set
from pathlib import Path

import fsspec
import pytest

from conformance.plugins.artifact_store import ArtifactStoreSuite, put_blob, read_blob
from controlplane.artifact_keys import blob_key, validate_key, validate_prefix
from controlplane.hookspecs import hookimpl
from controlplane.interfaces.artifact_store import ArtifactStore
from controlplane.plugin_loader import PluginStatus, load_plugins
from controlplane.registry import Kind, Registry
from tests.author_suite import run_author_tests

ALL_CAPABILITIES = frozenset({"persistent", "large_blobs", "seekable_reads"})


@pytest.fixture(scope="module")
def store_factories() -> dict[str, Callable[[str], ArtifactStore]]:
    registry = load_plugins(disabled=frozenset()).registry
    return {name: registry.get(Kind.ARTIFACT_STORE, name).factory for name in ("local", "fsspec")}


# -- the conformance suite ---------------------------------------------------------------------


class TestLocal(ArtifactStoreSuite):
    @pytest.fixture
    def artifact_store(
        self, store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
    ) -> ArtifactStore:
        return store_factories["local"](str(tmp_path / "store"))

    @pytest.fixture
    def reopen_artifact_store(
        self, store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
    ) -> Callable[[], ArtifactStore]:
        return lambda: store_factories["local"](str(tmp_path / "store"))

    @pytest.fixture
    def capabilities(self) -> Set[str]:
        return ALL_CAPABILITIES


@pytest.fixture
def memory_root() -> Iterator[str]:
    root = f"memory://controlplane-test-{uuid.uuid4().hex}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


class TestFsspecMemory(ArtifactStoreSuite):
    @pytest.fixture
    def artifact_store(
        self, store_factories: dict[str, Callable[[str], ArtifactStore]], memory_root: str
    ) -> ArtifactStore:
        return store_factories["fsspec"](memory_root)

    @pytest.fixture
    def reopen_artifact_store(
        self, store_factories: dict[str, Callable[[str], ArtifactStore]], memory_root: str
    ) -> Callable[[], ArtifactStore]:
        return lambda: store_factories["fsspec"](memory_root)

    @pytest.fixture
    def capabilities(self) -> Set[str]:
        # The memory filesystem keeps every file in memory: no large_blobs.
        return {"persistent", "seekable_reads"}


class TestFsspecFile(ArtifactStoreSuite):
    @pytest.fixture
    def artifact_store(
        self, store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
    ) -> ArtifactStore:
        return store_factories["fsspec"](f"file://{tmp_path}/store")

    @pytest.fixture
    def reopen_artifact_store(
        self, store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
    ) -> Callable[[], ArtifactStore]:
        return lambda: store_factories["fsspec"](f"file://{tmp_path}/store")

    @pytest.fixture
    def capabilities(self) -> Set[str]:
        return ALL_CAPABILITIES


# -- loading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["local", "fsspec"])
def test_builtin_store_loads_through_its_entry_point(name: str) -> None:
    loaded = load_plugins(disabled=frozenset())
    info = loaded.info(name)
    assert (info.status, info.source, info.kinds) == (
        PluginStatus.LOADED,
        "built-in",
        {Kind.ARTIFACT_STORE},
    )
    assert loaded.registry.get(Kind.ARTIFACT_STORE, name).plugin == name


class _LocalReplacement:
    @hookimpl
    def controlplane_register_artifact_stores(self, registry: Registry) -> None:
        registry.add_artifact_store("local", lambda root: None)


def test_a_third_party_local_store_replaces_the_builtin() -> None:
    # The built-ins are trylast, so a plugin registering the same name wins.
    loaded = load_plugins([("replacement", _LocalReplacement())], disabled=frozenset())
    assert loaded.registry.get(Kind.ARTIFACT_STORE, "local").plugin == "replacement"
    assert [p.plugin for p in loaded.registry.shadowed if p.name == "local"] == ["local"]


def test_a_disabled_builtin_store_is_not_registered() -> None:
    loaded = load_plugins(disabled=frozenset({"local"}))
    assert loaded.info("local").status is PluginStatus.DISABLED
    assert "local" not in loaded.registry.names(Kind.ARTIFACT_STORE)


# -- keys ---------------------------------------------------------------------------------------


def test_blob_key_is_a_content_address() -> None:
    digest = "0f" + "1" * 62
    assert blob_key("acme", digest) == f"tenants/acme/sha256/0f/{digest}"
    assert validate_key(blob_key("acme", digest))


@pytest.mark.parametrize(
    ("tenant", "digest"),
    [
        ("Acme", "a" * 64),
        ("acme/x", "a" * 64),
        ("", "a" * 64),
        ("acme", "A" * 64),
        ("acme", "a" * 63),
        ("acme", "g" * 64),
        ("acme", "../" + "a" * 61),
    ],
)
def test_blob_key_refuses_what_is_not_a_tenant_and_digest(tenant: str, digest: str) -> None:
    with pytest.raises(ValueError):
        blob_key(tenant, digest)


@pytest.mark.parametrize("prefix", ["", "tenants", "tenants/", "tenants/ac", "a/b.", "a/."])
def test_prefix_may_end_anywhere(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/tenants", "../", "a/../", "a/..", "a//", "a b", "./a"])
def test_prefix_may_not_escape_the_root(prefix: str) -> None:
    with pytest.raises(ValueError):
        validate_prefix(prefix)


@pytest.mark.parametrize("key", [".staging", ".staging/x", ".staging/blob-1.part"])
def test_the_staging_directory_is_not_a_key(
    store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path, key: str
) -> None:
    for store in (
        store_factories["local"](str(tmp_path / "local")),
        store_factories["fsspec"](f"file://{tmp_path}/fsspec"),
    ):
        with pytest.raises(ValueError, match="reserved"):
            store.writer(key)
        with pytest.raises(ValueError, match="reserved"):
            store.exists(key)


# -- local --------------------------------------------------------------------------------------


def _staged(root: Path) -> list[str]:
    return sorted(os.listdir(root / ".staging"))


def test_local_creates_a_missing_root(
    store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
) -> None:
    root = tmp_path / "a" / "b"
    store = store_factories["local"](str(root))
    put_blob(store, "k", b"x")
    assert (root / "k").read_bytes() == b"x"


def test_local_stores_blobs_as_files_under_their_keys(
    store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
) -> None:
    store = store_factories["local"](str(tmp_path))
    key = blob_key("acme", "ab" * 32)
    put_blob(store, key, [b"ab", b"cd"])
    assert (tmp_path / key).read_bytes() == b"abcd"
    assert _staged(tmp_path) == []


def test_local_stages_uncommitted_bytes_where_they_are_not_listed(
    store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
) -> None:
    store = store_factories["local"](str(tmp_path))
    writer = store.writer("a/k")
    writer.write(b"partial")
    assert len(_staged(tmp_path)) == 1
    (tmp_path / ".staging" / "looks-like-a-key").write_bytes(b"x")
    assert list(store.list_keys()) == []
    assert list(store.list_keys(".st")) == []
    writer.abort()
    assert _staged(tmp_path) == ["looks-like-a-key"]


def test_local_commit_fsyncs_the_bytes_before_the_rename(
    store_factories: dict[str, Callable[[str], ArtifactStore]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(source: str, target: str) -> None:
        calls.append("replace")
        real_replace(source, target)

    store = store_factories["local"](str(tmp_path))
    writer = store.writer("a/k")
    writer.write(b"data")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    writer.commit()
    expected = ["fsync-file", "replace"]
    if os.name == "posix" and os.path.exists("/proc/self/fd"):
        expected.append("fsync-dir")
    assert calls[: len(expected)] == expected


def test_local_writer_dropped_without_commit_removes_its_staging_file(
    store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
) -> None:
    store = store_factories["local"](str(tmp_path))
    writer = store.writer("k")
    writer.write(b"x")
    assert len(_staged(tmp_path)) == 1
    del writer
    assert _staged(tmp_path) == []
    assert not store.exists("k")


_CRASH = """
import os, sys
from {module} import {cls}
store = {cls}(sys.argv[1])
writer = store.writer("a/k")
writer.write(b"x" * 100_000)
sys.stdout.write("written\\n")
sys.stdout.flush()
os._exit(3)  # no commit, no abort, no finalizers: a crash
"""


def _crash_while_writing(module: str, cls: str, root: str) -> None:
    script = textwrap.dedent(_CRASH.format(module=module, cls=cls))
    done = subprocess.run(
        [sys.executable, "-c", script, root], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (3, "written\n"), done.stderr


def test_local_crash_between_write_and_commit_leaves_nothing_visible(
    store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
) -> None:
    store = store_factories["local"](str(tmp_path))
    put_blob(store, "a/other", b"kept")
    _crash_while_writing("controlplane_artifacts_local", "LocalArtifactStore", str(tmp_path))
    assert len(_staged(tmp_path)) == 1  # the crashed writer's bytes
    after = store_factories["local"](str(tmp_path))
    assert not after.exists("a/k")
    assert list(after.list_keys()) == ["a/other"]
    assert len(_staged(tmp_path)) == 1  # too recent to be sure its writer is dead


def test_local_removes_stale_staging_files_when_opened(
    store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
) -> None:
    store_factories["local"](str(tmp_path))
    _crash_while_writing("controlplane_artifacts_local", "LocalArtifactStore", str(tmp_path))
    [leftover] = _staged(tmp_path)
    day_ago = time.time() - 25 * 3600
    os.utime(tmp_path / ".staging" / leftover, (day_ago, day_ago))
    live = store_factories["local"](str(tmp_path)).writer("b/k")
    store_factories["local"](str(tmp_path))
    assert len(_staged(tmp_path)) == 1  # the live writer's file stays
    live.abort()
    assert _staged(tmp_path) == []


# -- fsspec -------------------------------------------------------------------------------------


def test_fsspec_stages_under_the_root_and_moves_on_commit(
    store_factories: dict[str, Callable[[str], ArtifactStore]], memory_root: str
) -> None:
    store = store_factories["fsspec"](memory_root)
    fs, root = fsspec.core.url_to_fs(memory_root)
    writer = store.writer("a/k")
    writer.write(b"data")
    writer.commit()
    assert fs.cat_file(f"{root}/a/k") == b"data"
    assert fs.find(f"{root}/.staging") == []
    assert read_blob(store, "a/k") == b"data"


def test_fsspec_abort_removes_the_staging_file(
    store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
) -> None:
    store = store_factories["fsspec"](f"file://{tmp_path}")
    writer = store.writer("a/k")
    writer.write(b"partial")
    assert len(_staged(tmp_path)) == 1
    assert list(store.list_keys()) == []
    writer.abort()
    assert _staged(tmp_path) == []
    assert not (tmp_path / "a").exists()


def test_fsspec_crash_between_write_and_commit_leaves_nothing_visible(
    store_factories: dict[str, Callable[[str], ArtifactStore]], tmp_path: Path
) -> None:
    root = f"file://{tmp_path}"
    _crash_while_writing("controlplane_artifacts_fsspec", "FsspecArtifactStore", root)
    assert len(_staged(tmp_path)) == 1
    after = store_factories["fsspec"](root)
    assert not after.exists("a/k")
    assert list(after.list_keys()) == []


def test_fsspec_reads_a_root_with_a_trailing_slash(
    store_factories: dict[str, Callable[[str], ArtifactStore]], memory_root: str
) -> None:
    put_blob(store_factories["fsspec"](memory_root + "/"), "k", b"x")
    assert list(store_factories["fsspec"](memory_root).list_keys()) == ["k"]


# -- the suite's capability mechanism, as an author meets it -----------------------------------

_AUTHOR_TESTS = """
import pytest
from conformance.plugins.artifact_store import (
    ArtifactStoreDeleteTests, ArtifactStorePersistenceTests, ArtifactStoreStreamingTests,
)
from controlplane_artifacts_local import LocalArtifactStore

class TestNoCapabilities(ArtifactStoreStreamingTests, ArtifactStorePersistenceTests):
    @pytest.fixture
    def artifact_store(self, tmp_path):
        return LocalArtifactStore(str(tmp_path))

class TestTypo(ArtifactStoreStreamingTests):
    @pytest.fixture
    def artifact_store(self, tmp_path):
        return LocalArtifactStore(str(tmp_path))

    @pytest.fixture
    def capabilities(self):
        return {"large_blob"}

class TestForgotTheStore(ArtifactStoreDeleteTests):
    pass
"""


@pytest.mark.parametrize(
    ("autoload", "options"),
    [("", []), ("1", ["-p", "controlplane_conformance"])],
    ids=["entry-point-autoloaded", "autoload-disabled"],
)
def test_suite_skips_by_declared_capability_and_explains_missing_fixtures(
    tmp_path: Path, autoload: str, options: list[str]
) -> None:
    # Run from a directory outside the repository, as a plugin author's checkout would be.
    done = run_author_tests(
        tmp_path,
        _AUTHOR_TESTS,
        ["-rA", *options],
        environ={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": autoload} if autoload else None,
    )
    out = done.stdout
    skipped = "plugin does not declare capability"
    assert f"{skipped} large_blobs" in out, out
    assert out.count(f"{skipped} persistent") == 3, out
    assert "PASSED test_author.py::TestNoCapabilities::test_multi_mib_blob_round_trips" in out
    assert "unknown capabilities ['large_blob']" in out, out
    assert "override the `artifact_store` fixture" in out, out
    assert done.returncode == 1
