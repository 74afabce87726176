"""The feature store conformance suite (``controlplane.interfaces.FeatureStore``).

A plugin author subclasses ``FeatureStoreSuite`` (or some of the classes it combines) in a
``test_*.py`` file and overrides the fixtures::

    import pytest
    from conformance.plugins.feature_store import FeatureStoreSuite

    class TestMyStore(FeatureStoreSuite):
        @pytest.fixture
        def feature_store(self, tmp_path):
            return MyStore(str(tmp_path))          # a new, empty store for each test

        @pytest.fixture
        def reopen_feature_store(self, tmp_path):
            return lambda: MyStore(str(tmp_path))  # another store on the same root

        @pytest.fixture
        def capabilities(self):
            return {"persistent_features"}

Every promise of the interface (exact type round trips, appends, column selection, schema
checks, upserts, key order, null rows for unknown keys, view names, thread safety) is tested
unconditionally; the capabilities (``conformance.capabilities``) are what a correct store may
lack. Feature views are named like ``tenant/view``: one or more ``/``-separated segments of
ASCII letters, digits, ``_`` and ``-``; a store refuses any other name with ``ValueError``.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from typing import ClassVar, TypeVar

import pyarrow as pa
import pytest

from conformance.capabilities import requires
from conformance.suite import ConformanceSuite, run_threads
from controlplane.interfaces.feature_store import FeatureStore

UTC = datetime.UTC
T = TypeVar("T")

#: Every type a store must round-trip exactly, offline and online.
SCHEMA = pa.schema(
    [
        pa.field("entity", pa.int64()),
        pa.field("amount", pa.float64()),
        pa.field("label", pa.string()),
        pa.field("active", pa.bool_()),
        pa.field("seen_at", pa.timestamp("us", tz="UTC")),
    ]
)

# Names outside the format: each must be refused with ValueError by every method.
INVALID_VIEWS = [
    pytest.param("", id="empty"),
    pytest.param("/acme/x", id="absolute"),
    pytest.param("acme/x/", id="trailing-slash"),
    pytest.param("acme//x", id="empty-segment"),
    pytest.param("../x", id="parent-first"),
    pytest.param("acme/../../x", id="parent-inside"),
    pytest.param("acme/.", id="dot-segment"),
    pytest.param("acme/x.parquet", id="dot"),
    pytest.param("acme x", id="space"),
    pytest.param("acme\\x", id="backslash"),
    pytest.param("acme:x", id="colon"),
    pytest.param("acme\x00x", id="nul"),
    pytest.param("caf\u00e9/x", id="non-ascii"),
]

VALID_VIEWS = [
    pytest.param("x", id="one-segment"),
    pytest.param("acme/user_features", id="tenant-view"),
    pytest.param("Acme-1/v_2/Daily-3", id="three-segments-every-char-class"),
]


def at(day: int, microsecond: int = 0) -> datetime.datetime:
    return datetime.datetime(2024, 1, day, 12, 30, 15, microsecond, tzinfo=UTC)


def sample(entities: list[int], offset: int = 0) -> pa.Table:
    """A table of ``SCHEMA`` with one row per entity; every column has a null somewhere when
    there are three rows or more, and values depend on ``offset`` so writes can be told apart."""
    rows = []
    for index, entity in enumerate(entities):
        nulls = index % 3 == 2
        rows.append(
            {
                "entity": entity,
                "amount": None if nulls else entity * 1.5 + offset + 0.1,
                "label": None if index % 3 == 1 else f"label-{entity}-{offset}-\u00e9",
                "active": None if nulls else (entity + offset) % 2 == 0,
                "seen_at": None if index % 3 == 1 else at(1 + offset % 28, entity % 1_000_000),
            }
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def nulls_row(entity: int) -> dict[str, object]:
    return {name: (entity if name == "entity" else None) for name in SCHEMA.names}


def rows(table: pa.Table) -> list[dict[str, object]]:
    return list(table.to_pylist())


def sorted_rows(table: pa.Table) -> list[dict[str, object]]:
    return sorted(rows(table), key=repr)


class FeatureStoreFixtures(ConformanceSuite):
    """The fixtures a plugin author overrides."""

    @pytest.fixture
    def feature_store(self) -> FeatureStore:
        """A new, empty store for each test."""
        raise NotImplementedError(
            "override the `feature_store` fixture in your subclass of the feature store suite: "
            "it returns a new, empty FeatureStore for each test (for example one built on "
            "pytest's tmp_path)"
        )

    @pytest.fixture
    def reopen_feature_store(self) -> Callable[[], FeatureStore]:
        """Builds another store on the same root as ``feature_store``, as a restarted server
        would. Only tests of the ``persistent_features`` capability use it."""
        raise NotImplementedError(
            "declare the `persistent_features` capability only with a `reopen_feature_store` "
            "fixture: a callable that builds another store on the same root as `feature_store`"
        )


class FeatureStoreOfflineTests(FeatureStoreFixtures):
    """Appending and reading the offline side: rows come back in the order they were
    written, a whole table at a time."""

    #: Separate writes to one view whose rows must come back in order.
    appends: ClassVar[int] = 24

    def test_every_type_and_null_round_trips(self, feature_store: FeatureStore) -> None:
        table = sample([1, 2, 3, 4, 5, 6])
        feature_store.write_offline("acme/users", table)
        read = feature_store.read_offline("acme/users")
        assert read.schema.equals(SCHEMA, check_metadata=False), read.schema
        assert rows(read) == rows(table)
        assert read.column("seen_at").type.tz == "UTC"
        assert read.column("label").null_count == 2

    def test_extreme_values_survive_both_sides(self, feature_store: FeatureStore) -> None:
        table = pa.Table.from_pylist(
            [
                {
                    "entity": -(2**63),
                    "amount": -0.0,
                    "label": "",
                    "active": False,
                    "seen_at": datetime.datetime(1970, 1, 1, tzinfo=UTC),
                },
                {
                    "entity": 2**63 - 1,
                    "amount": 1e308,
                    "label": "x" * 10_000,
                    "active": True,
                    "seen_at": datetime.datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC),
                },
            ],
            schema=SCHEMA,
        )
        feature_store.write_offline("acme/edges", table)
        assert rows(feature_store.read_offline("acme/edges")) == rows(table)
        feature_store.write_online("acme/edges", "entity", table)
        read = feature_store.read_online("acme/edges", "entity", [2**63 - 1, -(2**63)])
        assert rows(read) == rows(table)[::-1]

    def test_a_second_write_appends(self, feature_store: FeatureStore) -> None:
        first, second = sample([1, 2, 3]), sample([4, 5], offset=1)
        feature_store.write_offline("acme/users", first)
        feature_store.write_offline("acme/users", second)
        assert rows(feature_store.read_offline("acme/users")) == rows(first) + rows(second)

    def test_many_appends_read_back_in_the_order_written(self, feature_store: FeatureStore) -> None:
        # Enough writes that parts numbered 1, 2, ..., 10, 11 and listed as text (or by
        # anything but the order of the writes) come back out of order.
        tables = [sample([index, 100 + index], offset=index) for index in range(self.appends)]
        for table in tables:
            feature_store.write_offline("acme/events", table)
        expected = [row for table in tables for row in rows(table)]
        assert rows(feature_store.read_offline("acme/events")) == expected
        read = feature_store.read_offline("acme/events", columns=["entity"])
        assert read.column("entity").to_pylist() == [row["entity"] for row in expected]

    def test_the_same_rows_written_twice_are_both_kept(self, feature_store: FeatureStore) -> None:
        table = sample([1, 2])
        feature_store.write_offline("acme/users", table)
        feature_store.write_offline("acme/users", table)
        assert rows(feature_store.read_offline("acme/users")) == rows(table) * 2

    def test_columns_selects_in_the_order_asked(self, feature_store: FeatureStore) -> None:
        table = sample([1, 2, 3])
        feature_store.write_offline("acme/users", table)
        feature_store.write_offline("acme/users", sample([4], offset=2))
        read = feature_store.read_offline("acme/users", columns=["seen_at", "entity"])
        assert read.schema.names == ["seen_at", "entity"]
        assert read.schema.field("seen_at").type == pa.timestamp("us", tz="UTC")
        expected = table.select(["seen_at", "entity"]).to_pylist()
        assert rows(read)[:3] == expected
        assert read.column("entity").to_pylist() == [1, 2, 3, 4]

    def test_a_schema_mismatch_is_refused_and_appends_nothing(
        self, feature_store: FeatureStore
    ) -> None:
        table = sample([1, 2])
        feature_store.write_offline("acme/users", table)
        others = {
            "retyped": table.set_column(1, pa.field("amount", pa.int64()), pa.array([1, 2])),
            "dropped": table.drop_columns(["label"]),
            "added": table.append_column("extra", pa.array([1, 2])),
            "renamed": table.rename_columns([*SCHEMA.names[:-1], "seen"]),
            "utc-less": table.set_column(
                4, "seen_at", table.column("seen_at").cast(pa.timestamp("us"))
            ),
            "reordered": table.select([*reversed(SCHEMA.names)]),
        }
        for what, other in others.items():
            with pytest.raises(ValueError) as raised:
                feature_store.write_offline("acme/users", other)
            assert str(raised.value), what
        assert rows(feature_store.read_offline("acme/users")) == rows(table)

    def test_the_mismatch_error_names_the_column(self, feature_store: FeatureStore) -> None:
        table = sample([1])
        feature_store.write_offline("acme/users", table)
        other = table.set_column(2, pa.field("label", pa.int32()), pa.array([7], pa.int32()))
        with pytest.raises(ValueError, match="label"):
            feature_store.write_offline("acme/users", other)

    def test_a_view_never_written_raises_key_error(self, feature_store: FeatureStore) -> None:
        with pytest.raises(KeyError):
            feature_store.read_offline("acme/never")
        feature_store.write_offline("acme/users", sample([1]))
        with pytest.raises(KeyError):
            feature_store.read_offline("acme/user")
        with pytest.raises(KeyError):
            feature_store.read_offline("acme")

    def test_views_are_isolated(self, feature_store: FeatureStore) -> None:
        a, b, nested = sample([1, 2]), sample([3], offset=1), sample([4], offset=2)
        feature_store.write_offline("tenant-a/x", a)
        feature_store.write_offline("tenant-b/x", b)
        feature_store.write_offline("tenant-a/x/y", nested)
        assert rows(feature_store.read_offline("tenant-a/x")) == rows(a)
        assert rows(feature_store.read_offline("tenant-b/x")) == rows(b)
        assert rows(feature_store.read_offline("tenant-a/x/y")) == rows(nested)

    def test_views_may_have_different_schemas(self, feature_store: FeatureStore) -> None:
        other = pa.table({"k": pa.array(["a"]), "v": pa.array([1.0])})
        feature_store.write_offline("acme/one", sample([1]))
        feature_store.write_offline("acme/two", other)
        assert feature_store.read_offline("acme/two").equals(other)


class FeatureStoreOnlineTests(FeatureStoreFixtures):
    """Upserting and looking up the latest row of each entity."""

    def test_rows_come_back_in_the_order_of_the_keys(self, feature_store: FeatureStore) -> None:
        table = sample([10, 20, 30, 40, 50, 60])
        feature_store.write_online("acme/users", "entity", table)
        read = feature_store.read_online("acme/users", "entity", [40, 10, 60, 20, 30, 50])
        by_entity = {row["entity"]: row for row in rows(table)}
        assert rows(read) == [by_entity[key] for key in [40, 10, 60, 20, 30, 50]]

    def test_the_schema_is_the_views_and_types_round_trip(
        self, feature_store: FeatureStore
    ) -> None:
        table = sample([1, 2, 3])
        feature_store.write_online("acme/users", "entity", table)
        read = feature_store.read_online("acme/users", "entity", [1, 2, 3])
        assert read.schema.equals(SCHEMA, check_metadata=False), read.schema
        assert rows(read) == rows(table)
        assert read.column("seen_at").type.tz == "UTC"

    def test_keys_never_written_give_rows_of_nulls(self, feature_store: FeatureStore) -> None:
        table = sample([1, 2])
        feature_store.write_online("acme/users", "entity", table)
        read = feature_store.read_online("acme/users", "entity", [99, 1, 98])
        assert read.schema.equals(SCHEMA, check_metadata=False)
        assert rows(read) == [nulls_row(99), rows(table)[0], nulls_row(98)]

    def test_no_keys_give_an_empty_table(self, feature_store: FeatureStore) -> None:
        feature_store.write_online("acme/users", "entity", sample([1]))
        read = feature_store.read_online("acme/users", "entity", [])
        assert read.num_rows == 0
        assert read.schema.equals(SCHEMA, check_metadata=False)

    def test_a_key_asked_twice_comes_back_twice(self, feature_store: FeatureStore) -> None:
        table = sample([1, 2])
        feature_store.write_online("acme/users", "entity", table)
        read = feature_store.read_online("acme/users", "entity", [2, 2, 1])
        assert rows(read) == [rows(table)[1], rows(table)[1], rows(table)[0]]

    def test_the_last_row_of_a_key_in_one_table_wins(self, feature_store: FeatureStore) -> None:
        table = pa.concat_tables([sample([1, 2, 3]), sample([2], offset=5), sample([3], 7)])
        feature_store.write_online("acme/users", "entity", table)
        read = feature_store.read_online("acme/users", "entity", [1, 2, 3])
        assert rows(read) == [rows(table)[0], rows(table)[3], rows(table)[4]]

    def test_a_later_write_replaces_a_keys_row(self, feature_store: FeatureStore) -> None:
        first = sample([1, 2, 3])
        later = sample([2, 3], offset=4)
        feature_store.write_online("acme/users", "entity", first)
        feature_store.write_online("acme/users", "entity", later)
        read = feature_store.read_online("acme/users", "entity", [1, 2, 3])
        assert rows(read) == [rows(first)[0], *rows(later)]
        # A later row with nulls replaces values with nulls: the whole row is the latest.
        cleared = pa.Table.from_pylist([nulls_row(1)], schema=SCHEMA)
        feature_store.write_online("acme/users", "entity", cleared)
        assert rows(feature_store.read_online("acme/users", "entity", [1])) == [nulls_row(1)]

    def test_string_keys(self, feature_store: FeatureStore) -> None:
        users = pa.array(["b", "a", "\u00e9t\u00e9", "1"])
        table = pa.table({"user": users, "score": pa.array([1.0, 2.0, None, 4.0])})
        feature_store.write_online("acme/scores", "user", table)
        read = feature_store.read_online("acme/scores", "user", ["\u00e9t\u00e9", "z", "a", "1"])
        assert read.column("user").to_pylist() == ["\u00e9t\u00e9", "z", "a", "1"]
        assert read.column("score").to_pylist() == [None, None, 2.0, 4.0]

    def test_views_are_isolated(self, feature_store: FeatureStore) -> None:
        a, b = sample([1, 2]), sample([1, 2], offset=3)
        feature_store.write_online("tenant-a/x", "entity", a)
        feature_store.write_online("tenant-b/x", "entity", b)
        assert rows(feature_store.read_online("tenant-a/x", "entity", [1, 2])) == rows(a)
        assert rows(feature_store.read_online("tenant-b/x", "entity", [1, 2])) == rows(b)

    def test_online_and_offline_are_independent(self, feature_store: FeatureStore) -> None:
        offline, online = sample([1, 2, 3]), sample([2], offset=9)
        feature_store.write_offline("acme/users", offline)
        feature_store.write_online("acme/users", "entity", online)
        assert rows(feature_store.read_offline("acme/users")) == rows(offline)
        read = feature_store.read_online("acme/users", "entity", [1, 2])
        assert rows(read) == [nulls_row(1), rows(online)[0]]
        with pytest.raises(KeyError):
            feature_store.read_offline("acme/online-only")
        feature_store.write_online("acme/online-only", "entity", online)
        with pytest.raises(KeyError):
            feature_store.read_offline("acme/online-only")


class FeatureStoreViewNameTests(FeatureStoreFixtures):
    """The view name format, refused before it can become a path or a table name."""

    @pytest.mark.parametrize("view", INVALID_VIEWS)
    def test_invalid_view_names_are_refused(self, feature_store: FeatureStore, view: str) -> None:
        table = sample([1])
        with pytest.raises(ValueError):
            feature_store.write_offline(view, table)
        with pytest.raises(ValueError):
            feature_store.read_offline(view)
        with pytest.raises(ValueError):
            feature_store.write_online(view, "entity", table)
        with pytest.raises(ValueError):
            feature_store.read_online(view, "entity", [1])

    @pytest.mark.parametrize("view", VALID_VIEWS)
    def test_valid_view_names_are_accepted(self, feature_store: FeatureStore, view: str) -> None:
        table = sample([1, 2])
        feature_store.write_offline(view, table)
        feature_store.write_online(view, "entity", table)
        assert rows(feature_store.read_offline(view)) == rows(table)
        assert rows(feature_store.read_online(view, "entity", [2, 1])) == rows(table)[::-1]


class FeatureStoreConcurrencyTests(FeatureStoreFixtures):
    """Threads sharing one store."""

    def test_concurrent_offline_appends_all_land(self, feature_store: FeatureStore) -> None:
        threads, writes = 8, 5

        def work(thread: int) -> None:
            for write in range(writes):
                base = (thread * writes + write) * 10
                feature_store.write_offline("acme/events", sample([base, base + 1, base + 2]))
                feature_store.read_offline("acme/events", columns=["entity"])

        run_threads(threads, work)
        entities = feature_store.read_offline("acme/events").column("entity").to_pylist()
        expected = [(i * 10) + j for i in range(threads * writes) for j in range(3)]
        assert sorted(entities) == expected

    def test_concurrent_first_writes_agree_on_one_schema(self, feature_store: FeatureStore) -> None:
        # Threads race to write a new view's first table, half with another schema: one
        # schema wins, every write of it lands, every write of the other is refused.
        views, threads = 10, 6
        other = pa.table({"entity": pa.array([0], pa.int32())})
        start = threading.Barrier(threads)

        def work(thread: int) -> list[bool]:
            start.wait(timeout=60)
            landed = []
            for view in range(views):
                table = sample([thread]) if thread % 2 else other
                try:
                    feature_store.write_offline(f"acme/race-{view}", table)
                    landed.append(True)
                except ValueError:
                    landed.append(False)
            return landed

        outcomes = run_threads(threads, work)
        for view in range(views):
            landed = [outcome[view] for outcome in outcomes]
            read = feature_store.read_offline(f"acme/race-{view}")
            winner = SCHEMA if landed[1] else other.schema
            assert read.schema.equals(winner, check_metadata=False), read.schema
            assert landed == [(thread % 2 == 1) == landed[1] for thread in range(threads)]
            assert read.num_rows == sum(landed)

    def test_concurrent_online_upserts_are_all_visible(self, feature_store: FeatureStore) -> None:
        threads, writes = 8, 5
        feature_store.write_online("acme/users", "entity", sample([0]))

        def work(thread: int) -> None:
            for write in range(writes):
                entity = thread * writes + write
                feature_store.write_online("acme/users", "entity", sample([entity], offset=thread))
                # Every thread also writes key 0: one of their rows ends up there, whole.
                feature_store.write_online("acme/users", "entity", sample([0], offset=thread))
                feature_store.read_online("acme/users", "entity", [entity, 0])

        run_threads(threads, work)
        keys = list(range(threads * writes))
        read = feature_store.read_online("acme/users", "entity", keys)
        expected = [rows(sample([key], offset=key // writes))[0] for key in keys[1:]]
        assert rows(read)[1:] == expected
        candidates = [rows(sample([0], offset=thread))[0] for thread in range(threads)]
        assert rows(read)[0] in candidates


class FeatureStorePersistenceTests(FeatureStoreFixtures):
    """What a restarted server sees (``reopen_feature_store``). The marker is on each test,
    not the class: pytest would carry a class's marks into every class that combines it."""

    @requires("persistent_features")
    def test_a_reopened_store_sees_both_sides(
        self,
        feature_store: FeatureStore,
        reopen_feature_store: Callable[[], FeatureStore],
    ) -> None:
        offline, online = sample([1, 2, 3]), sample([1, 2, 3], offset=2)
        feature_store.write_offline("acme/users", offline)
        feature_store.write_online("acme/users", "entity", online)
        reopened = reopen_feature_store()
        assert rows(reopened.read_offline("acme/users")) == rows(offline)
        assert rows(reopened.read_online("acme/users", "entity", [3, 4])) == [
            rows(online)[2],
            nulls_row(4),
        ]

    @requires("persistent_features")
    def test_a_reopened_store_keeps_the_first_schema_and_appends(
        self,
        feature_store: FeatureStore,
        reopen_feature_store: Callable[[], FeatureStore],
    ) -> None:
        first, second = sample([1]), sample([2], offset=1)
        feature_store.write_offline("acme/users", first)
        reopened = reopen_feature_store()
        with pytest.raises(ValueError):
            reopened.write_offline("acme/users", first.drop_columns(["label"]))
        reopened.write_offline("acme/users", second)
        reopened.write_online("acme/users", "entity", second)
        again = reopen_feature_store()
        assert rows(again.read_offline("acme/users")) == rows(first) + rows(second)
        assert rows(again.read_online("acme/users", "entity", [2])) == rows(second)


class FeatureStoreSuite(
    FeatureStoreOfflineTests,
    FeatureStoreOnlineTests,
    FeatureStoreViewNameTests,
    FeatureStoreConcurrencyTests,
    FeatureStorePersistenceTests,
):
    """Every feature store test; subclass it (named ``Test...``) and override the fixtures."""
