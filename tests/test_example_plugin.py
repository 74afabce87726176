"""The worked example plugin (examples/controlplane-sqlite-artifacts): loaded as any plugin is,
run through the conformance suite, and run by its own tests as its author runs them."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sqlite3
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable, Set
from pathlib import Path
from types import ModuleType

import pytest

from conformance.plugins.artifact_store import ArtifactStoreSuite, put_blob, read_blob
from controlplane.interfaces.artifact_store import ArtifactStore
from controlplane.plugin_loader import PluginStatus, load_plugins
from controlplane.registry import Kind

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "controlplane-sqlite-artifacts"
StoreFactory = Callable[[str], ArtifactStore]


@pytest.fixture(scope="module")
def example() -> ModuleType:
    source = str(EXAMPLE / "src")
    if source not in sys.path:
        sys.path.insert(0, source)
    return importlib.import_module("controlplane_sqlite_artifacts")


@pytest.fixture(scope="module")
def sqlite_factory(example: ModuleType) -> StoreFactory:
    loaded = load_plugins(extra=[("sqlite-example", example)], disabled=frozenset())
    return loaded.registry.get(Kind.ARTIFACT_STORE, "sqlite").factory


class TestSqliteExample(ArtifactStoreSuite):
    @pytest.fixture
    def artifact_store(self, sqlite_factory: StoreFactory, tmp_path: Path) -> ArtifactStore:
        return sqlite_factory(str(tmp_path / "blobs.sqlite3"))

    @pytest.fixture
    def reopen_artifact_store(
        self, sqlite_factory: StoreFactory, tmp_path: Path
    ) -> Callable[[], ArtifactStore]:
        return lambda: sqlite_factory(str(tmp_path / "blobs.sqlite3"))

    @pytest.fixture
    def capabilities(self) -> Set[str]:
        return {"persistent", "large_blobs", "seekable_reads"}


# -- loading ------------------------------------------------------------------------------------


def test_example_loads_beside_the_builtins(example: ModuleType) -> None:
    loaded = load_plugins(extra=[("sqlite-example", example)], disabled=frozenset())
    info = loaded.info("sqlite-example")
    assert (info.status, info.kinds) == (PluginStatus.LOADED, {Kind.ARTIFACT_STORE})
    assert loaded.registry.get(Kind.ARTIFACT_STORE, "sqlite").plugin == "sqlite-example"
    assert {"local", "fsspec", "sqlite"} <= set(loaded.registry.names(Kind.ARTIFACT_STORE))


def test_example_entry_point_names_its_plugin_module(example: ModuleType) -> None:
    # The entry point exactly as pyproject.toml declares it, loaded by the loader.
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"]["controlplane"]
    assert declared == {"sqlite": "controlplane_sqlite_artifacts"}
    entry_points = [
        importlib.metadata.EntryPoint(name, value, "controlplane")
        for name, value in declared.items()
    ]
    loaded = load_plugins(entry_points=entry_points, disabled=frozenset())
    assert loaded.info("sqlite").status is PluginStatus.LOADED
    assert loaded.registry.names(Kind.ARTIFACT_STORE) == ["sqlite"]


# -- how it keeps its promises ------------------------------------------------------------------


def _rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("uploads", "chunks", "blobs")
        }


def test_blobs_are_stored_in_chunk_rows(example: ModuleType, tmp_path: Path) -> None:
    store = example.SqliteArtifactStore(tmp_path / "b.db", chunk_size=1000)
    writer = store.writer("k")
    writer.write(b"x" * 1500)
    # A full chunk is inserted as soon as it fills; the rest waits for more bytes or commit.
    assert _rows(tmp_path / "b.db") == {"uploads": 1, "chunks": 1, "blobs": 0}
    writer.write(b"y" * 1000)
    writer.commit()
    assert _rows(tmp_path / "b.db") == {"uploads": 0, "chunks": 3, "blobs": 1}
    assert read_blob(store, "k", 999, piece=7) == b"x" * 501 + b"y" * 1000


def test_abort_deletes_the_uploaded_chunks(example: ModuleType, tmp_path: Path) -> None:
    store = example.SqliteArtifactStore(tmp_path / "b.db", chunk_size=1000)
    writer = store.writer("k")
    writer.write(b"x" * 5000)
    writer.abort()
    assert _rows(tmp_path / "b.db") == {"uploads": 0, "chunks": 0, "blobs": 0}


def test_a_second_commit_of_a_key_keeps_one_copy(example: ModuleType, tmp_path: Path) -> None:
    store = example.SqliteArtifactStore(tmp_path / "b.db", chunk_size=1000)
    put_blob(store, "k", b"z" * 2500)
    put_blob(store, "k", b"z" * 2500)
    assert _rows(tmp_path / "b.db") == {"uploads": 0, "chunks": 3, "blobs": 1}
    store.delete("k")
    assert _rows(tmp_path / "b.db") == {"uploads": 0, "chunks": 0, "blobs": 0}


def test_a_directory_root_holds_the_database(example: ModuleType, tmp_path: Path) -> None:
    store = example.SqliteArtifactStore(tmp_path)
    put_blob(store, "k", b"x")
    assert (tmp_path / "artifacts.sqlite3").is_file()


def test_crashed_uploads_are_invisible_and_purged_when_stale(
    example: ModuleType, tmp_path: Path
) -> None:
    database = tmp_path / "b.db"
    script = textwrap.dedent(
        """
        import os, sys
        sys.path.insert(0, sys.argv[2])
        from controlplane_sqlite_artifacts import SqliteArtifactStore
        writer = SqliteArtifactStore(sys.argv[1], chunk_size=1000).writer("a/k")
        writer.write(b"x" * 4500)
        os._exit(3)  # no commit, no abort, no finalizers: a crash
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(database), str(EXAMPLE / "src")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert _rows(database) == {"uploads": 1, "chunks": 4, "blobs": 0}
    store = example.SqliteArtifactStore(database)  # the upload is too recent to purge
    assert not store.exists("a/k")
    assert list(store.list_keys()) == []
    assert store.purge_uploads(older_than=0) == 1
    assert _rows(database) == {"uploads": 0, "chunks": 0, "blobs": 0}


def test_the_examples_own_tests_pass_as_its_author_runs_them() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore"],
        cwd=EXAMPLE,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, summary
