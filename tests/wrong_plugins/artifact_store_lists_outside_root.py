"""The local artifact store with a faster ``list_keys`` that walks only the directory the prefix
names, straight from the file system, and never checks the prefix: ``list_keys("../")`` walks
the directory above the store's root and lists what lies there as keys (``../other/file``).
Everything else is the built-in store's."""

from __future__ import annotations

import os
from collections.abc import Iterator

from controlplane_artifacts_local import LocalArtifactStore
from controlplane_artifacts_local.store import STAGING_DIR


class ListsOutsideRootStore(LocalArtifactStore):
    name = "local-fast-listing"

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        # The mistake: no validate_prefix(prefix) before the prefix becomes a path.
        directory = prefix.rpartition("/")[0]
        for folder, _, files in os.walk(os.path.join(self.root, directory)):
            for name in files:
                key = os.path.relpath(os.path.join(folder, name), self.root).replace(os.sep, "/")
                if key.startswith(prefix) and not key.startswith(f"{STAGING_DIR}/"):
                    yield key
