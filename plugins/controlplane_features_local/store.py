"""``LocalFeatureStore``: Parquet files offline and SQLite online, under one directory.

``root/offline/<view>/`` holds the offline side (``controlplane_features_local.offline``),
``root/online.sqlite3`` the online side (``controlplane_features_local.online``); the two are
independent. pyarrow is imported inside the methods, so loading the plugin stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from controlplane.interfaces.feature_store import FeatureStore
from controlplane_features_local.names import validate_view
from controlplane_features_local.offline import OfflineTables
from controlplane_features_local.online import OnlineRows

if TYPE_CHECKING:
    import pyarrow as pa


class LocalFeatureStore(FeatureStore):
    """A feature store on a local directory ``root``, created if missing."""

    name = "local"

    def __init__(self, root: str) -> None:
        if not isinstance(root, str | os.PathLike) or not os.fspath(root):
            raise ValueError("the local feature store's root is a directory path")
        self.root = os.path.abspath(os.fspath(root))
        os.makedirs(self.root, exist_ok=True)
        self._offline = OfflineTables(self.root)
        self._online = OnlineRows(self.root)

    def write_offline(self, view: str, table: pa.Table) -> None:
        self._offline.write(validate_view(view), table)

    def read_offline(self, view: str, columns: Sequence[str] | None = None) -> pa.Table:
        return self._offline.read(validate_view(view), columns)

    def write_online(self, view: str, key_column: str, table: pa.Table) -> None:
        self._online.write(validate_view(view), key_column, table)

    def read_online(self, view: str, key_column: str, keys: Sequence[object]) -> pa.Table:
        return self._online.read(validate_view(view), key_column, keys)

    def offline_directory(self, view: str) -> str:
        """Where the view's Parquet files are (``root/offline/<view>``)."""
        return self._offline.directory(validate_view(view))

    def close(self) -> None:
        """Closes the SQLite connection (also closed when the store is garbage collected);
        the store reopens it if used again."""
        self._online.close()
