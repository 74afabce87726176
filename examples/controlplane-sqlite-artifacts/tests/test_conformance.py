"""Runs controlplane's artifact store conformance suite against this plugin: a subclass of the
suite and three fixtures are all a plugin author writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Set
from pathlib import Path

import controlplane_sqlite_artifacts
import pytest

from conformance.plugins.artifact_store import ArtifactStoreSuite
from controlplane.interfaces import ArtifactStore
from controlplane.plugin_loader import load_plugins
from controlplane.registry import Kind

StoreFactory = Callable[[str], ArtifactStore]


@pytest.fixture(scope="module")
def sqlite_factory() -> StoreFactory:
    # Loaded through the plugin machinery, as the server loads it, so a hook that is misnamed,
    # unmarked or registers the wrong kind fails here too. entry_points=() leaves out whatever
    # else is installed (this plugin too, once `pip install -e .` has run).
    loaded = load_plugins([("sqlite", controlplane_sqlite_artifacts)], entry_points=())
    return loaded.registry.get(Kind.ARTIFACT_STORE, "sqlite").factory


class TestSqliteArtifactStore(ArtifactStoreSuite):
    @pytest.fixture
    def artifact_store(self, sqlite_factory: StoreFactory, tmp_path: Path) -> ArtifactStore:
        return sqlite_factory(str(tmp_path / "blobs.sqlite3"))

    @pytest.fixture
    def reopen_artifact_store(
        self, sqlite_factory: StoreFactory, tmp_path: Path
    ) -> Iterator[Callable[[], ArtifactStore]]:
        yield lambda: sqlite_factory(str(tmp_path / "blobs.sqlite3"))

    @pytest.fixture
    def capabilities(self) -> Set[str]:
        return {"persistent", "large_blobs", "seekable_reads"}
