"""Direct writes on the embedded store (controlplane.store.direct): the metric hot path keeps
the guarantees of ``Database.write`` (tenancy, audit, one writer, all-or-nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, select

from controlplane.errors import Conflict
from controlplane.store import migrate
from controlplane.store.audit import CallInfo, call_info
from controlplane.store.db import Database
from controlplane.store.direct import TENANT_PARAM, Prepared
from controlplane.store.models import AuditEvent, Experiment, Tenant
from controlplane.store.tenancy import TenancyViolation, platform_scope, tenant_scope
from tests.conftest import _create_pg_database, _drop_pg_database

_EXPERIMENTS = Experiment.__table__
_INSERT_EXPERIMENT = Prepared(
    _EXPERIMENTS.insert().values(  # type: ignore[attr-defined]
        {
            column: bindparam(column)
            for column in (
                "tenant_id",
                "experiment_id",
                "display_name",
                "description",
                "version",
                "create_time",
                "update_time",
            )
        }
    )
)
_EXPERIMENT_PK = Prepared(
    select(Experiment.pk).where(
        Experiment.tenant_id == bindparam(TENANT_PARAM),
        Experiment.experiment_id == bindparam("experiment_id"),
    )
)


def _experiment(experiment_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "experiment_id": experiment_id,
        "display_name": "",
        "description": "",
        "version": 1,
        "create_time": 0,
        "update_time": 0,
        **overrides,
    }


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'direct.db'}")
    await migrate.upgrade(database)
    with tenant_scope("a"):
        async with database.write() as unit:
            unit.session.add_all([Tenant(id=t, create_time=0, update_time=0) for t in ("a", "b")])
            unit.audit("tenants")
    yield database
    await database.dispose()


async def _experiments(db: Database) -> list[tuple[str, str]]:
    with platform_scope():
        async with db.read() as session:
            rows = (
                await session.execute(select(Experiment.tenant_id, Experiment.experiment_id))
            ).all()
    return sorted((row[0], row[1]) for row in rows)


def test_a_statement_on_tenant_rows_without_the_tenant_parameter_is_refused() -> None:
    with pytest.raises(TenancyViolation, match="tenant_id"):
        Prepared(select(Experiment.pk).where(Experiment.experiment_id == bindparam("e")))


async def test_rows_always_carry_the_current_tenant(db: Database) -> None:
    with tenant_scope("a"):
        async with db.direct_write() as unit:
            # A caller naming another tenant does not get it: tenant_id is bound by the unit.
            unit.execute_many(_INSERT_EXPERIMENT, [_experiment("x", tenant_id="b")])
            unit.audit("tenants/a/experiments/x")
    assert await _experiments(db) == [("a", "x")]


async def test_reads_see_only_the_current_tenant(db: Database) -> None:
    for tenant in ("a", "b"):
        with tenant_scope(tenant):
            async with db.direct_write() as unit:
                unit.execute_many(_INSERT_EXPERIMENT, [_experiment(f"only-{tenant}")])
                unit.audit(f"tenants/{tenant}/experiments/only-{tenant}")
    with tenant_scope("a"):
        async with db.direct_write() as unit:
            assert unit.first(_EXPERIMENT_PK, experiment_id="only-a") is not None
            assert unit.first(_EXPERIMENT_PK, experiment_id="only-b") is None


async def test_a_direct_write_outside_a_tenant_scope_fails(db: Database) -> None:
    with pytest.raises(TenancyViolation):
        async with db.direct_write() as unit:
            unit.execute_many(_INSERT_EXPERIMENT, [_experiment("x")])
            unit.audit("x")
    assert await _experiments(db) == []


async def test_a_mutation_without_an_audit_record_rolls_back(db: Database) -> None:
    with tenant_scope("a"), pytest.raises(RuntimeError, match="audit"):
        async with db.direct_write() as unit:
            unit.execute_many(_INSERT_EXPERIMENT, [_experiment("x")])
    assert await _experiments(db) == []


async def test_a_failure_midway_leaves_nothing_written(db: Database) -> None:
    with tenant_scope("a"), pytest.raises(ValueError, match="midway"):
        async with db.direct_write() as unit:
            unit.execute_many(_INSERT_EXPERIMENT, [_experiment("x")])
            unit.audit("tenants/a/experiments/x")
            raise ValueError("midway")
    assert await _experiments(db) == []
    with platform_scope():
        async with db.read() as session:
            resources = (await session.scalars(select(AuditEvent.resource))).all()
    assert resources == ["tenants"]


async def test_a_unique_violation_is_a_retryable_conflict(db: Database) -> None:
    with tenant_scope("a"):
        async with db.direct_write() as unit:
            unit.execute_many(_INSERT_EXPERIMENT, [_experiment("x")])
            unit.audit("tenants/a/experiments/x")
        with pytest.raises(Conflict):
            async with db.direct_write() as unit:
                unit.execute_many(_INSERT_EXPERIMENT, [_experiment("y"), _experiment("x")])
                unit.audit("tenants/a/experiments/y")
    assert await _experiments(db) == [("a", "x")]


async def test_the_audit_row_names_the_caller(db: Database) -> None:
    token = call_info.set(CallInfo("principals/p", "LogMetricBatch", "req-1"))
    try:
        with tenant_scope("a"):
            async with db.direct_write() as unit:
                unit.execute_many(_INSERT_EXPERIMENT, [_experiment("x")])
                unit.audit("tenants/a/experiments/x", action="create", n=1)
    finally:
        call_info.reset(token)
    with tenant_scope("a"):
        async with db.read() as session:
            event = (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.resource == "tenants/a/experiments/x")
                )
            ).one()
    assert (event.principal, event.method, event.request_id, event.resource, event.detail) == (
        "principals/p",
        "LogMetricBatch",
        "req-1",
        "tenants/a/experiments/x",
        {"action": "create", "n": 1},
    )


async def test_direct_and_session_writers_queue_behind_each_other(db: Database) -> None:
    """The direct unit takes the writer's only connection: while a session write holds it, a
    direct write waits for it (rather than failing on SQLite's lock), and both land."""
    holding = asyncio.Event()
    release = asyncio.Event()

    async def session_write() -> None:
        with tenant_scope("a"):
            async with db.write() as unit:
                unit.session.add(
                    Experiment(tenant_id="a", experiment_id="s", create_time=0, update_time=0)
                )
                await unit.session.flush()
                holding.set()
                await release.wait()
                unit.audit("tenants/a/experiments/s")

    async def direct_write() -> None:
        await holding.wait()
        with tenant_scope("a"):
            async with db.direct_write() as unit:
                unit.execute_many(_INSERT_EXPERIMENT, [_experiment("d")])
                unit.audit("tenants/a/experiments/d")

    session_task = asyncio.create_task(session_write())
    direct_task = asyncio.create_task(direct_write())
    await holding.wait()
    await asyncio.sleep(0.05)
    assert not direct_task.done()  # queued behind the open session transaction
    release.set()
    await asyncio.gather(session_task, direct_task)
    assert await _experiments(db) == [("a", "d"), ("a", "s")]


async def test_direct_writes_exist_only_on_the_embedded_store() -> None:
    name, url = await _create_pg_database()
    database = Database(url)
    try:
        assert not database.has_direct_writes
        with pytest.raises(RuntimeError, match="SQLite"):
            async with database.direct_write():
                pass
    finally:
        await database.dispose()
        await _drop_pg_database(name)


async def test_a_write_through_first_with_returning_also_needs_an_audit_record(
    db: Database,
) -> None:
    insert_returning = Prepared(
        _EXPERIMENTS.insert()  # type: ignore[attr-defined]
        .values(
            {
                column: bindparam(column)
                for column in (
                    "tenant_id",
                    "experiment_id",
                    "display_name",
                    "description",
                    "version",
                    "create_time",
                    "update_time",
                )
            }
        )
        .returning(_EXPERIMENTS.c.pk)  # type: ignore[attr-defined]
    )
    with tenant_scope("a"), pytest.raises(RuntimeError, match="audit"):
        async with db.direct_write() as unit:
            assert unit.first(insert_returning, **_experiment("r")) is not None
    assert await _experiments(db) == []


async def _insert_direct(db: Database, experiment_id: str) -> None:
    with tenant_scope("a"):
        async with db.direct_write() as unit:
            unit.execute_many(_INSERT_EXPERIMENT, [_experiment(experiment_id)])
            unit.audit(f"tenants/a/experiments/{experiment_id}")


async def test_a_session_write_queues_behind_a_direct_write_holding_the_writer(
    db: Database,
) -> None:
    """The other direction: both paths take the writer's lock, so a session write started
    while a direct unit is open waits for it instead of meeting SQLite's lock."""
    release = asyncio.Event()

    async def direct_write() -> None:
        with tenant_scope("a"):
            async with db.direct_write() as unit:
                unit.execute_many(_INSERT_EXPERIMENT, [_experiment("d")])
                unit.audit("tenants/a/experiments/d")
                await release.wait()

    async def session_write() -> None:
        with tenant_scope("a"):
            async with db.write() as unit:
                unit.session.add(
                    Experiment(tenant_id="a", experiment_id="s", create_time=0, update_time=0)
                )
                unit.audit("tenants/a/experiments/s")

    direct_task = asyncio.create_task(direct_write())
    await asyncio.sleep(0.01)
    session_task = asyncio.create_task(session_write())
    await asyncio.sleep(0.05)
    assert not session_task.done()
    release.set()
    await asyncio.gather(direct_task, session_task)
    assert await _experiments(db) == [("a", "d"), ("a", "s")]


async def test_direct_writes_go_on_after_the_writer_engine_is_disposed(db: Database) -> None:
    """Disposing the engine closes the shared connection; the next write opens it again, with
    the writer's settings (foreign keys on)."""
    await _insert_direct(db, "before")
    await db.writer.dispose()
    await _insert_direct(db, "after")
    async with db.writer_turn(), db.writer.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    assert await _experiments(db) == [("a", "after"), ("a", "before")]


async def test_commits_leave_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    """The writer's automatic checkpoint is pushed far out, so commits do not stall on one;
    ``Database.checkpoint`` copies the WAL into the database file instead."""
    path = tmp_path / "wal.db"
    database = Database(f"sqlite:///{path}")
    try:
        await migrate.upgrade(database)
        with tenant_scope("a"):
            async with database.write() as unit:
                unit.session.add(Tenant(id="a", create_time=0, update_time=0))
                unit.audit("tenants")
        first = await database.checkpoint()
        assert first[0] > 0 and first[1] == first[0]  # no reader: everything copied
        # SQLite's default would checkpoint inline every 1000 pages; 1,500 commits of a
        # few pages each pass that several times over, and none of them checkpoints.
        for number in range(1500):
            await _insert_direct(database, f"e{number}")
        wal_pages, checkpointed = await database.checkpoint()
        assert wal_pages > 3000
        assert checkpointed == wal_pages
        # Nothing written since: the next one does nothing; a write brings the work back.
        assert await database.checkpoint() == (0, 0)
        await _insert_direct(database, "one-more")
        wal_pages, checkpointed = await database.checkpoint()
        assert checkpointed == wal_pages > 0
        with tenant_scope("a"):
            async with database.read() as session:
                count = len((await session.scalars(select(Experiment.pk))).all())
        assert count == 1501
    finally:
        await database.dispose()
    # The last connection to close checkpoints the rest and removes the WAL.
    assert not path.with_name("wal.db-wal").exists()


async def test_a_checkpoint_on_postgresql_does_nothing() -> None:
    name, url = await _create_pg_database()
    database = Database(url)
    try:
        assert await database.checkpoint() == (0, 0)
    finally:
        await database.dispose()
        await _drop_pg_database(name)
