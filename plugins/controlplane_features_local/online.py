"""The online side: the latest row of each entity in SQLite (``root/online.sqlite3``, WAL).

The table ``views`` maps each view name to an id, its key column and its Arrow schema (an IPC
schema message). Each view's rows are in its own table ``rows_<id>`` (``key PRIMARY KEY, row
BLOB``, ``WITHOUT ROWID``): ``key`` holds the entity key as SQLite stores it (an INTEGER for
Arrow integer keys, TEXT for string keys; the column has no type affinity, so ``1`` and
``'1'`` never meet) and ``row`` the entity's row as one Arrow IPC record batch message of one
row, read back with the view's schema (a whole IPC stream, schema and dictionaries included,
when the schema has dictionary types). Storing Arrow bytes rather than typed SQLite columns
makes every Arrow type round-trip exactly (timestamps with their unit and time zone, nested
types, nulls) at the cost of SQL queries over feature values, which the store never makes.

One connection serves the store, guarded by a lock (SQLite serialises writers anyway); an
upsert of a table is one transaction, applied in row order, so the last row of a key wins.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controlplane_features_local.schemas import same_schema, schema_mismatch

if TYPE_CHECKING:
    import pyarrow as pa

ONLINE_FILE = "online.sqlite3"
#: Keys looked up per SELECT (well under SQLite's bound-parameter limit).
_LOOKUP_CHUNK = 500
_BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class _View:
    table: str  # the SQLite table of its rows, "rows_<id>"
    key_column: str
    schema: pa.Schema


def _check_key_type(view: str, key_column: str, schema: pa.Schema) -> Any:
    import pyarrow as pa

    if key_column not in schema.names:
        raise ValueError(f"feature view {view!r}: no key column {key_column!r} in {schema.names}")
    if schema.get_all_field_indices(key_column) != [schema.get_field_index(key_column)]:
        raise ValueError(f"feature view {view!r}: key column {key_column!r} is not unique")
    key_type = schema.field(key_column).type
    if not (
        pa.types.is_integer(key_type)
        or pa.types.is_string(key_type)
        or pa.types.is_large_string(key_type)
    ):
        raise ValueError(
            f"feature view {view!r}: key column {key_column!r} is {key_type}; online keys "
            "are integers or strings"
        )
    return key_type


def _has_dictionary(data_type: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(data_type):
        return True
    return any(_has_dictionary(data_type.field(i).type) for i in range(data_type.num_fields))


def _encode_rows(table: pa.Table) -> list[bytes]:
    """One IPC message per row: a bare record batch, or (when the schema has dictionary
    types, whose dictionaries travel in messages of their own) a whole IPC stream."""
    import pyarrow as pa

    with_dictionaries = any(_has_dictionary(field.type) for field in table.schema)
    encoded: list[bytes] = []
    for batch in table.combine_chunks().to_batches():
        for index in range(batch.num_rows):
            row = batch.slice(index, 1)
            if not with_dictionaries:
                encoded.append(row.serialize().to_pybytes())
                continue
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_batch(row)
            encoded.append(sink.getvalue().to_pybytes())
    return encoded


def _decode_row(data: bytes, schema: pa.Schema) -> Any:
    import pyarrow as pa

    if any(_has_dictionary(field.type) for field in schema):
        return pa.ipc.open_stream(pa.py_buffer(data)).read_next_batch()
    return pa.ipc.read_record_batch(pa.py_buffer(data), schema)


class OnlineRows:
    def __init__(self, root: str) -> None:
        self._path = os.path.join(root, ONLINE_FILE)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._views: dict[str, _View] = {}  # a view's schema never changes once created
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def _connect(self) -> sqlite3.Connection:
        """The connection, opened on first use (call with the lock held)."""
        if self._connection is None:
            connection = sqlite3.connect(
                self._path,
                timeout=_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # transactions are explicit
                check_same_thread=False,  # shared by threads, under self._lock
            )
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS views (id INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL UNIQUE, key_column TEXT NOT NULL, schema BLOB NOT NULL)"
                )
            except BaseException:
                connection.close()
                raise
            self._connection = connection
            self._finalizer = weakref.finalize(self, connection.close)
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._connection = None
            self._finalizer = None

    def _lookup(self, connection: sqlite3.Connection, view: str) -> _View | None:
        import pyarrow as pa

        known = self._views.get(view)
        if known is not None:
            return known
        found = connection.execute(
            "SELECT id, key_column, schema FROM views WHERE name = ?", (view,)
        ).fetchone()
        if found is None:
            return None
        view_id, key_column, schema_bytes = found
        known = _View(
            f"rows_{int(view_id)}", key_column, pa.ipc.read_schema(pa.py_buffer(schema_bytes))
        )
        self._views[view] = known
        return known

    def write(self, view: str, key_column: str, table: pa.Table) -> None:
        import pyarrow as pa

        if not isinstance(table, pa.Table):
            raise TypeError(f"write_online takes a pyarrow.Table, not {type(table).__name__}")
        _check_key_type(view, key_column, table.schema)
        key_array = table.column(key_column)
        if key_array.null_count:
            raise ValueError(f"feature view {view!r}: null keys in column {key_column!r}")
        keys = key_array.to_pylist()
        rows = _encode_rows(table)
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                known = self._lookup(connection, view)
                target: _View
                if known is None:
                    cursor = connection.execute(
                        "INSERT INTO views (name, key_column, schema) VALUES (?, ?, ?)",
                        (view, key_column, table.schema.serialize().to_pybytes()),
                    )
                    assert cursor.lastrowid is not None
                    target = _View(f"rows_{int(cursor.lastrowid)}", key_column, table.schema)
                    connection.execute(
                        f"CREATE TABLE {target.table} (key PRIMARY KEY, row BLOB NOT NULL) "
                        "WITHOUT ROWID"
                    )
                else:
                    if known.key_column != key_column:
                        raise ValueError(
                            f"feature view {view!r} is keyed by {known.key_column!r}, "
                            f"not {key_column!r}"
                        )
                    if not same_schema(known.schema, table.schema):
                        raise schema_mismatch(view, "online", known.schema, table.schema)
                    target = known
                try:
                    connection.executemany(
                        f"INSERT INTO {target.table} (key, row) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET row = excluded.row",
                        zip(keys, rows, strict=True),
                    )
                except OverflowError as error:  # a uint64 key beyond SQLite's int64
                    raise ValueError(f"feature view {view!r}: key out of range: {error}") from None
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            self._views[view] = target

    def read(self, view: str, key_column: str, keys: Sequence[object]) -> pa.Table:
        import pyarrow as pa

        wanted = list(keys)
        with self._lock:
            connection = self._connect()
            known = self._lookup(connection, view)
            if known is None:
                raise KeyError(f"no online data for feature view {view!r}")
            if known.key_column != key_column:
                raise ValueError(
                    f"feature view {view!r} is keyed by {known.key_column!r}, not {key_column!r}"
                )
            key_field = known.schema.field(key_column)
            try:
                key_array = pa.array(wanted, type=key_field.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as error:
                raise ValueError(
                    f"feature view {view!r}: keys are not {key_field.type}: {error}"
                ) from None
            lookup = list({key for key in key_array.to_pylist() if key is not None})
            found: dict[object, bytes] = {}
            for start in range(0, len(lookup), _LOOKUP_CHUNK):
                chunk = lookup[start : start + _LOOKUP_CHUNK]
                marks = ", ".join("?" * len(chunk))
                found.update(
                    connection.execute(
                        f"SELECT key, row FROM {known.table} WHERE key IN ({marks})", chunk
                    ).fetchall()
                )
        schema = known.schema
        batches: list[Any] = []
        position: dict[object, int] = {}
        for key, row in found.items():
            position[key] = len(batches)
            batches.append(_decode_row(row, schema))
        # One row of nulls, taken for every key never written.
        batches.append(
            pa.RecordBatch.from_arrays([pa.nulls(1, field.type) for field in schema], schema=schema)
        )
        indices = [position.get(key, len(batches) - 1) for key in key_array.to_pylist()]
        result = pa.Table.from_batches(batches, schema=schema).take(pa.array(indices, pa.int64()))
        index = schema.get_field_index(key_column)
        return result.set_column(index, key_field, key_array)
