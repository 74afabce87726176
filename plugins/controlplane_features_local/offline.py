"""The offline side: each feature view's rows as Parquet files under ``root/offline/<view>/``.

A view's directory holds ``_schema.arrow`` (the Arrow schema of its first write, as an IPC
message) and one ``part-<sequence>-<random>.parquet`` per ``write_offline`` call, numbered in
the order the writes were committed. A write goes to a hidden ``.tmp-*.part`` file in the same
directory, is fsynced, and is renamed to its ``part-`` name under the view's lock, after the
schema check; readers list only ``part-*.parquet`` files, so a crashed or refused write is
never read. Files are never rewritten or deleted, so a reader needs no lock.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from controlplane_features_local.files import (
    fsync_directory,
    path_lock,
    remove_quietly,
    write_file_atomically,
)
from controlplane_features_local.schemas import same_schema, schema_mismatch

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_FILE = "_schema.arrow"
_PART = re.compile(r"part-(\d{10})-[0-9a-f]{8}\.parquet")


def part_files(directory: str) -> list[str]:
    """The committed Parquet files of a view directory, in commit order."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(name for name in names if _PART.fullmatch(name))


class OfflineTables:
    def __init__(self, root: str) -> None:
        self._root = os.path.join(root, "offline")

    def directory(self, view: str) -> str:
        return os.path.join(self._root, *view.split("/"))

    def _read_schema(self, directory: str) -> pa.Schema | None:
        import pyarrow as pa

        try:
            with open(os.path.join(directory, SCHEMA_FILE), "rb") as file:
                data = file.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return pa.ipc.read_schema(pa.py_buffer(data))

    def write(self, view: str, table: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not isinstance(table, pa.Table):
            raise TypeError(f"write_offline takes a pyarrow.Table, not {type(table).__name__}")
        directory = self.directory(view)
        os.makedirs(directory, exist_ok=True)
        temp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}.part")
        try:
            if table.num_rows:
                # The slow part, outside the lock: concurrent writers of a view overlap here.
                with open(temp, "wb") as file:
                    pq.write_table(table, file)
                    file.flush()
                    os.fsync(file.fileno())
            with path_lock(directory):
                schema = self._read_schema(directory)
                if schema is None:
                    write_file_atomically(
                        os.path.join(directory, SCHEMA_FILE),
                        table.schema.serialize().to_pybytes(),
                        temp + ".schema",
                    )
                elif not same_schema(schema, table.schema):
                    raise schema_mismatch(view, "offline", schema, table.schema)
                if not table.num_rows:
                    return
                parts = part_files(directory)
                last = _PART.fullmatch(parts[-1]) if parts else None
                sequence = int(last.group(1)) + 1 if last else 0
                name = f"part-{sequence:010d}-{uuid.uuid4().hex[:8]}.parquet"
                os.replace(temp, os.path.join(directory, name))
            fsync_directory(directory)
        finally:
            remove_quietly(temp)

    def read(self, view: str, columns: Sequence[str] | None) -> pa.Table:
        import pyarrow.dataset as ds

        directory = self.directory(view)
        schema = self._read_schema(directory)
        if schema is None:
            raise KeyError(f"no offline data for feature view {view!r}")
        selected = None
        if columns is not None:
            if isinstance(columns, str):
                raise ValueError("columns is a sequence of column names, not one string")
            selected = list(columns)
            unknown = [name for name in selected if name not in schema.names]
            if unknown:
                raise ValueError(f"feature view {view!r} has no columns {unknown}")
        paths = [os.path.join(directory, name) for name in part_files(directory)]
        if not paths:
            empty = schema.empty_table()
            return empty if selected is None else empty.select(selected)
        dataset = ds.dataset(paths, schema=schema, format="parquet")
        return dataset.to_table(columns=selected)
