"""The built-in feature store: the conformance suite, run exactly as a third party runs it
(the store built through the entry point), plus what is particular to the ``local`` store."""

from __future__ import annotations

import datetime
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Set
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from controlplane_features_local import ONLINE_FILE, SCHEMA_FILE, LocalFeatureStore

from conformance.plugins.feature_store import (
    SCHEMA,
    FeatureStoreSuite,
    nulls_row,
    rows,
    sample,
)
from controlplane.interfaces.feature_store import FeatureStore
from controlplane.plugin_loader import load_plugins
from controlplane.registry import Kind

Factory = Callable[[str], FeatureStore]


@pytest.fixture(scope="module")
def factory() -> Factory:
    registry = load_plugins(disabled=frozenset()).registry
    built: Factory = registry.get(Kind.FEATURE_STORE, "local").factory
    return built


# -- the conformance suite ---------------------------------------------------------------------


class TestLocal(FeatureStoreSuite):
    @pytest.fixture
    def feature_store(self, factory: Factory, tmp_path: Path) -> FeatureStore:
        return factory(str(tmp_path / "store"))

    @pytest.fixture
    def reopen_feature_store(self, factory: Factory, tmp_path: Path) -> Callable[[], FeatureStore]:
        return lambda: factory(str(tmp_path / "store"))

    @pytest.fixture
    def capabilities(self) -> Set[str]:
        return frozenset({"persistent_features"})


# -- the local store ---------------------------------------------------------------------------


def test_the_entry_point_registers_the_local_class(factory: Factory) -> None:
    assert factory is LocalFeatureStore


def _parts(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".parquet"))


def test_creates_a_missing_root(factory: Factory, tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"
    factory(str(root))
    assert root.is_dir()


def test_each_offline_write_is_one_parquet_file_under_the_view(
    factory: Factory, tmp_path: Path
) -> None:
    store = factory(str(tmp_path))
    first, second = sample([1, 2]), sample([3], offset=1)
    store.write_offline("acme/users", first)
    store.write_offline("acme/users", second)
    directory = tmp_path / "offline" / "acme" / "users"
    parts = _parts(directory)
    assert [name[:15] for name in parts] == ["part-0000000000", "part-0000000001"]
    assert rows(pq.read_table(directory / parts[0])) == rows(first)
    assert rows(pq.read_table(directory / parts[1])) == rows(second)
    assert (directory / SCHEMA_FILE).is_file()
    assert sorted(os.listdir(directory)) == sorted([*parts, SCHEMA_FILE])  # no temp files left


def test_a_refused_write_leaves_no_file(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    store.write_offline("acme/users", sample([1]))
    with pytest.raises(ValueError, match="missing columns \\['label'\\]"):
        store.write_offline("acme/users", sample([2]).drop_columns(["label"]))
    directory = tmp_path / "offline" / "acme" / "users"
    assert len(_parts(directory)) == 1
    assert not [name for name in os.listdir(directory) if name.startswith(".")]


def test_the_mismatch_error_says_how(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    store.write_offline("v", sample([1]))
    utc_less = sample([1]).set_column(
        4, "seen_at", sample([1]).column("seen_at").cast(pa.timestamp("us"))
    )
    with pytest.raises(ValueError, match="'seen_at' is timestamp\\[us\\], expected timestamp"):
        store.write_offline("v", utc_less)
    with pytest.raises(ValueError, match="unexpected columns \\['extra'\\]"):
        store.write_offline("v", sample([1]).append_column("extra", pa.array([1])))
    with pytest.raises(ValueError, match="order"):
        store.write_offline("v", sample([1]).select(list(reversed(SCHEMA.names))))


def test_an_empty_first_write_fixes_the_schema(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    store.write_offline("v", SCHEMA.empty_table())
    assert store.read_offline("v").schema.equals(SCHEMA)
    assert store.read_offline("v", ["label"]).schema.names == ["label"]
    with pytest.raises(ValueError):
        store.write_offline("v", sample([1]).drop_columns(["label"]))
    assert _parts(tmp_path / "offline" / "v") == []


def test_unknown_columns_are_refused(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    store.write_offline("v", sample([1]))
    with pytest.raises(ValueError, match="nope"):
        store.read_offline("v", ["entity", "nope"])


def test_a_crashed_write_is_invisible(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    table = sample([1, 2, 3])
    store.write_offline("acme/users", table)
    directory = tmp_path / "offline" / "acme" / "users"
    # What a writer killed between writing and renaming leaves: a full (or half) temp file.
    pq.write_table(sample([7, 8]), directory / ".tmp-0123456789abcdef.part")
    (directory / ".tmp-fedcba9876543210.part").write_bytes(b"PAR1 half a file")
    assert rows(store.read_offline("acme/users")) == rows(table)
    assert rows(factory(str(tmp_path)).read_offline("acme/users")) == rows(table)
    store.write_offline("acme/users", sample([4]))
    assert store.read_offline("acme/users").column("entity").to_pylist() == [1, 2, 3, 4]


_CRASH = """
import os, sys
import pyarrow.parquet as pq
from conformance.plugins.feature_store import sample
from controlplane_features_local import LocalFeatureStore

store = LocalFeatureStore(sys.argv[1])
store.write_offline("acme/users", sample([1]))
def crash(*args, **kwargs):
    os._exit(3)  # between writing the temp file and renaming it: no cleanup runs
os.replace = crash
store.write_offline("acme/users", sample([2]))
"""


def test_a_process_killed_mid_write_leaves_only_a_temp_file(
    factory: Factory, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CRASH), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    directory = tmp_path / "offline" / "acme" / "users"
    assert len([name for name in os.listdir(directory) if name.startswith(".tmp-")]) == 1
    assert factory(str(tmp_path)).read_offline("acme/users").column("entity").to_pylist() == [1]


def test_timestamps_keep_their_time_zone(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    moment = datetime.datetime(2024, 3, 1, 9, 0, 0, 123000, tzinfo=tokyo)  # whole ms: ms is a unit
    for unit, zone in [("us", "UTC"), ("us", "Asia/Tokyo"), ("ns", "+09:00"), ("ms", "UTC")]:
        kind = pa.timestamp(unit, tz=zone)
        table = pa.table({"k": pa.array([1, 2]), "t": pa.array([moment, None], kind)})
        view = f"tz/{unit}-{zone.replace('/', '_').replace(':', '').replace('+', 'p')}"
        store.write_offline(view, table)
        store.write_online(view, "k", table)
        for read in (store.read_offline(view), store.read_online(view, "k", [1, 2])):
            assert read.schema.field("t").type == kind
            assert read.column("t").to_pylist() == table.column("t").to_pylist()
            assert read.column("t")[0].as_py() == moment
            assert read.column("t").type.tz == zone


def test_online_rows_are_in_sqlite_with_wal(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    store.write_online("acme/users", "entity", sample([1, 2, 3]))
    store.write_online("acme/users", "entity", sample([2], offset=1))
    with sqlite3.connect(tmp_path / ONLINE_FILE) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        [(table,)] = connection.execute("SELECT 'rows_' || id FROM views WHERE name = 'acme/users'")
        keys = connection.execute(f"SELECT key, typeof(key) FROM {table} ORDER BY key").fetchall()
    connection.close()
    assert keys == [(1, "integer"), (2, "integer"), (3, "integer")]


def test_online_reads_of_an_unknown_view_raise_key_error(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    store.write_offline("acme/users", sample([1]))  # offline data does not make an online view
    with pytest.raises(KeyError):
        store.read_online("acme/users", "entity", [1])


def test_online_refusals(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    store.write_online("v", "entity", sample([1]))
    with pytest.raises(ValueError, match="keyed by 'entity'"):
        store.write_online("v", "label", sample([1]))
    with pytest.raises(ValueError, match="keyed by 'entity'"):
        store.read_online("v", "label", ["x"])
    with pytest.raises(ValueError, match="missing columns"):
        store.write_online("v", "entity", sample([1]).drop_columns(["amount"]))
    with pytest.raises(ValueError, match="no key column"):
        store.write_online("w", "user", sample([1]))
    with pytest.raises(ValueError, match="integers or strings"):
        store.write_online("w", "amount", sample([1]))
    with pytest.raises(ValueError, match="null keys"):
        store.write_online("w", "k", pa.table({"k": pa.array([1, None])}))
    with pytest.raises(ValueError, match="keys are not int64"):
        store.read_online("v", "entity", ["one"])
    assert rows(store.read_online("v", "entity", [1])) == rows(sample([1]))


def test_string_and_integer_keys_do_not_meet(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    store.write_online("ints", "k", pa.table({"k": pa.array([1]), "v": pa.array(["int"])}))
    store.write_online("strs", "k", pa.table({"k": pa.array(["1"]), "v": pa.array(["str"])}))
    assert store.read_online("ints", "k", [1]).column("v").to_pylist() == ["int"]
    assert store.read_online("strs", "k", ["1"]).column("v").to_pylist() == ["str"]


def test_many_keys_are_read_in_order(factory: Factory, tmp_path: Path) -> None:
    # More keys than one SELECT looks up, half of them never written.
    store = factory(str(tmp_path))
    table = sample(list(range(0, 3000, 2)))
    store.write_online("v", "entity", table)
    keys = list(range(2999, -1, -1))
    by_entity = {row["entity"]: row for row in rows(table)}
    expected = [by_entity.get(key, nulls_row(key)) for key in keys]
    assert rows(store.read_online("v", "entity", keys)) == expected


def test_close_then_use_reopens(factory: Factory, tmp_path: Path) -> None:
    store = LocalFeatureStore(str(tmp_path))
    store.write_online("v", "entity", sample([1]))
    store.close()
    store.close()
    assert rows(store.read_online("v", "entity", [1])) == rows(sample([1]))
    store.close()


def test_importing_the_plugin_does_not_import_pyarrow() -> None:
    code = (
        "import sys, controlplane_features_local; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyarrow'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_nested_and_dictionary_types_round_trip(factory: Factory, tmp_path: Path) -> None:
    store = factory(str(tmp_path))
    schema = pa.schema(
        [
            pa.field("k", pa.string()),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("point", pa.struct([("x", pa.float64()), ("y", pa.int32())])),
            pa.field("country", pa.dictionary(pa.int32(), pa.string())),
        ]
    )
    table = pa.table(
        {
            "k": ["a", "b", "c"],
            "tags": [["x", "y"], None, []],
            "point": [{"x": 1.5, "y": 2}, None, {"x": None, "y": 3}],
            "country": pa.array(["fr", "jp", "fr"]).dictionary_encode(),
        },
        schema=schema,
    )
    store.write_offline("v", table)
    store.write_online("v", "k", table)
    store.write_online("v", "k", table.slice(1, 1))  # another batch, its own dictionary
    assert store.read_offline("v").equals(table)
    read = store.read_online("v", "k", ["c", "z", "a", "b"])
    assert read.schema.equals(schema)
    expected = rows(table)
    assert rows(read) == [expected[2], {**dict.fromkeys(schema.names), "k": "z"}, *expected[:2]]
