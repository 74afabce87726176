"""The local feature store, but its offline side names each write's Parquet file
``part-<n>.parquet`` (n = 1, 2, ...) and reads them in the order of their names: from the
eleventh write on, ``part-10`` sorts before ``part-2`` and rows come back out of the order they
were written. Its online side is the built-in store's."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from controlplane_features_local import LocalFeatureStore
from controlplane_features_local.files import path_lock, write_file_atomically
from controlplane_features_local.offline import SCHEMA_FILE, OfflineTables
from controlplane_features_local.schemas import same_schema, schema_mismatch

if TYPE_CHECKING:
    import pyarrow as pa

_PART = re.compile(r"part-\d+\.parquet")


class NumberedPartsTables(OfflineTables):
    def _parts(self, directory: str) -> list[str]:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        return sorted(name for name in names if _PART.fullmatch(name))  # the mistake: as text

    def write(self, view: str, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        directory = self.directory(view)
        os.makedirs(directory, exist_ok=True)
        with path_lock(directory):
            schema = self._read_schema(directory)
            if schema is None:
                write_file_atomically(
                    os.path.join(directory, SCHEMA_FILE),
                    table.schema.serialize().to_pybytes(),
                    os.path.join(directory, ".schema.tmp"),
                )
            elif not same_schema(schema, table.schema):
                raise schema_mismatch(view, "offline", schema, table.schema)
            if table.num_rows:
                temp = os.path.join(directory, ".part.tmp")
                pq.write_table(table, temp)
                number = len(self._parts(directory)) + 1
                os.replace(temp, os.path.join(directory, f"part-{number}.parquet"))

    def read(self, view: str, columns: Sequence[str] | None) -> pa.Table:
        import pyarrow.dataset as ds

        directory = self.directory(view)
        schema = self._read_schema(directory)
        if schema is None:
            raise KeyError(f"no offline data for feature view {view!r}")
        selected = None if columns is None else list(columns)
        paths = [os.path.join(directory, name) for name in self._parts(directory)]
        if not paths:
            empty = schema.empty_table()
            return empty if selected is None else empty.select(selected)
        return ds.dataset(paths, schema=schema, format="parquet").to_table(columns=selected)


class PartsOutOfOrderStore(LocalFeatureStore):
    name = "local-numbered-parts"

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self._offline = NumberedPartsTables(self.root)
