"""The store beneath the API: migrations, tenant scoping by construction, and audit."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from controlplane.errors import Conflict
from controlplane.store import migrate, sequences
from controlplane.store.audit import CallInfo, call_info
from controlplane.store.db import Database
from controlplane.store.feeds import GOVERNANCE_EVENTS
from controlplane.store.models import AuditEvent, Experiment, Tenant
from controlplane.store.tenancy import TenancyViolation, platform_scope, tenant_scope
from controlplane.v1 import experiment_service_pb2 as ex
from tests.conftest import TenantWorld, _create_pg_database, _drop_pg_database


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield db
        await db.dispose()
        return
    name, url = await _create_pg_database()
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()
        await _drop_pg_database(name)


def test_migrations_have_one_head() -> None:
    script = ScriptDirectory.from_config(migrate._config())
    assert len(script.get_heads()) == 1


async def test_upgrade_from_empty_reaches_head_and_matches_the_models(empty_db: Database) -> None:
    assert await migrate.current_revision(empty_db) == (None, False)
    await migrate.upgrade(empty_db)
    revision, has_tables = await migrate.current_revision(empty_db)
    assert (revision, has_tables) == (migrate.head_revision(), True)
    assert await migrate.model_migration_diff(empty_db) == []


async def test_empty_embedded_database_is_upgraded_automatically(empty_db: Database) -> None:
    await migrate.ensure_schema(empty_db, auto_upgrade_empty=True)
    assert (await migrate.current_revision(empty_db))[0] == migrate.head_revision()


async def test_empty_server_database_needs_an_explicit_upgrade(empty_db: Database) -> None:
    with pytest.raises(migrate.SchemaError, match="mlctl db upgrade"):
        await migrate.ensure_schema(empty_db, auto_upgrade_empty=False)


async def test_old_schema_gets_a_clear_message(empty_db: Database) -> None:
    await migrate.upgrade(empty_db)
    async with empty_db.writer.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'base0000'"))
    with pytest.raises(migrate.SchemaError, match="newer than this server knows"):
        await migrate.ensure_schema(empty_db, auto_upgrade_empty=True)


async def test_foreign_tables_without_a_version_are_refused(empty_db: Database) -> None:
    async with empty_db.writer.begin() as connection:
        await connection.execute(text("CREATE TABLE somebody_elses (id INTEGER)"))
    with pytest.raises(migrate.SchemaError, match="no controlplane schema version"):
        await migrate.ensure_schema(empty_db, auto_upgrade_empty=True)


async def _run(db: Database, *statements: str) -> list[Any]:
    """Runs raw SQL as the server's role, seeing every tenant (row-level security on PostgreSQL
    reads the setting); returns the rows of the last statement."""
    async with db.writer_turn(), db.writer.begin() as connection:
        if not db.is_sqlite:
            await connection.execute(text("SELECT set_config('controlplane.tenant', '*', true)"))
        rows: list[Any] = []
        for statement in statements:
            result = await connection.execute(text(statement))
            rows = list(result.all()) if result.returns_rows else []
        return rows


async def test_upgrading_keeps_every_id_handed_out_and_numbers_on_after_them(
    empty_db: Database,
) -> None:
    """Revision 0010: rows keep their ids (their old pks), and each tenant's sequences go on
    after the highest id the table ever handed out, a deleted row's included."""
    await migrate.upgrade(empty_db, "0009")
    await _run(
        empty_db,
        *(
            "INSERT INTO tenants (id, display_name, description, version, create_time,"
            f" update_time) VALUES ('{t}', '', '', 1, 0, 0)"
            for t in ("a", "b")
        ),
        "INSERT INTO registered_models (pk, model_id, display_name, description, latest_version,"
        " tenant_id, version, create_time, update_time) VALUES (1, 'm', '', '', 1, 'a', 1, 0, 0)",
        "INSERT INTO model_versions (pk, model_pk, model_id, number, description, state, author,"
        " source_run, training_dataset, code_version, framework, features, signature, runtime,"
        " tenant_id, version, create_time, update_time) VALUES (1, 1, 'm', 1, '', 2, 'p', '', '',"
        " '', '', '[]', '{}', '{}', 'a', 1, 0, 0)",
        *(
            "INSERT INTO governance_events (model_pk, version_pk, action, from_state, to_state,"
            " principal, reason, request_id, time, detail, tenant_id)"
            " VALUES (1, 1, 'submit', 1, 2, 'p', '', '', 0, '{}', 'a')"
            for _ in range(3)
        ),
        "DELETE FROM governance_events WHERE pk = 3",  # the newest: its id was handed out
        "INSERT INTO model_alias_changes (model_pk, alias, previous_version, version, principal,"
        " reason, request_id, time, tenant_id) VALUES (1, 'c', NULL, 1, 'p', '', '', 0, 'a')",
        "INSERT INTO online_evaluations (pk, version_pk, window_start, window_end, record_time,"
        " recorded_by, tenant_id) VALUES (7, 1, NULL, 0, 0, 'p', 'a')",
    )
    await migrate.upgrade(empty_db)
    assert await migrate.model_migration_diff(empty_db) == []
    assert await _run(empty_db, "SELECT pk, seq FROM governance_events ORDER BY pk") == [
        (1, 1),
        (2, 2),
    ]
    assert await _run(empty_db, "SELECT pk, seq FROM model_alias_changes") == [(1, 1)]
    assert await _run(empty_db, "SELECT pk, number FROM online_evaluations") == [(7, 7)]
    assert await _run(
        empty_db, "SELECT tenant_id, name, value FROM tenant_sequences ORDER BY tenant_id, name"
    ) == [
        ("a", "governance_events", 3),
        ("a", "model_alias_changes", 1),
        ("b", "governance_events", 3),
        ("b", "model_alias_changes", 1),
    ]
    with tenant_scope("a"):
        async with empty_db.write() as unit:
            assert await sequences.next_value(unit.session, GOVERNANCE_EVENTS) == 4
            unit.audit("tenants/a")


@pytest.fixture
async def migrated(empty_db: Database) -> Database:
    await migrate.upgrade(empty_db)
    with tenant_scope("a"):
        async with empty_db.write() as unit:
            unit.session.add_all([Tenant(id=t, create_time=0, update_time=0) for t in ("a", "b")])
            unit.audit("tenants/a")
    return empty_db


async def _add_experiment(db: Database, tenant: str, experiment_id: str) -> None:
    with tenant_scope(tenant):
        async with db.write() as unit:
            unit.session.add(
                Experiment(
                    tenant_id=tenant, experiment_id=experiment_id, create_time=0, update_time=0
                )
            )
            unit.audit(f"tenants/{tenant}/experiments/{experiment_id}")


async def test_queries_only_see_the_current_tenant(migrated: Database) -> None:
    await _add_experiment(migrated, "a", "x")
    await _add_experiment(migrated, "b", "x")
    for tenant in ("a", "b"):
        with tenant_scope(tenant):
            async with migrated.read() as session:
                rows = (await session.scalars(select(Experiment))).all()
        assert [row.tenant_id for row in rows] == [tenant]


async def test_query_without_a_tenant_fails_loudly(migrated: Database) -> None:
    async with migrated.read() as session:
        with pytest.raises(TenancyViolation):
            await session.scalars(select(Experiment))


async def test_writing_a_row_of_another_tenant_is_refused(migrated: Database) -> None:
    with tenant_scope("a"), pytest.raises(TenancyViolation):
        async with migrated.write() as unit:
            unit.session.add(
                Experiment(tenant_id="b", experiment_id="y", create_time=0, update_time=0)
            )
            unit.audit("x")
    with platform_scope():
        async with migrated.read() as session:
            assert (await session.scalars(select(Experiment))).all() == []


async def test_a_mutation_without_an_audit_record_cannot_commit(migrated: Database) -> None:
    with tenant_scope("a"), pytest.raises(RuntimeError, match="audit"):
        async with migrated.write() as unit:
            unit.session.add(
                Experiment(tenant_id="a", experiment_id="z", create_time=0, update_time=0)
            )
    with tenant_scope("a"):
        async with migrated.read() as session:
            assert (await session.scalars(select(Experiment))).all() == []


async def test_every_mutation_is_audited_with_its_request_id(
    world: TenantWorld, server: object
) -> None:
    editor = world["editor"]
    request_id = str(uuid.uuid4())
    created = await editor.call(
        editor.experiments.CreateExperiment,
        ex.CreateExperimentRequest(parent=world.name, request_id=request_id),
    )
    header_id = uuid.uuid4().hex
    await editor.experiments.UpdateExperiment(
        ex.UpdateExperimentRequest(experiment=ex.Experiment(name=created.name, display_name="x")),
        metadata=[*editor.auth, ("x-request-id", header_id)],
    )
    db: Database = server.services.db  # type: ignore[attr-defined]
    with tenant_scope(world.tenant_id):
        async with db.read() as session:
            events = (
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.resource == created.name)
                    .order_by(AuditEvent.pk)
                )
            ).all()
    assert [(e.method, e.request_id, e.principal) for e in events] == [
        ("CreateExperiment", request_id, editor.principal),
        ("UpdateExperiment", header_id, editor.principal),
    ]


async def test_concurrent_sqlite_writers_queue_instead_of_failing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    await migrate.upgrade(db)
    with tenant_scope("a"):
        async with db.write() as unit:
            unit.session.add(Tenant(id="a", create_time=0, update_time=0))
            unit.audit("tenants/a")
    call_info.set(CallInfo("test", "test", "r"))
    await asyncio.gather(*(_add_experiment(db, "a", f"e{i}") for i in range(40)))
    with tenant_scope("a"):
        async with db.read() as session:
            assert len((await session.scalars(select(Experiment))).all()) == 40
    await db.dispose()


async def test_analyze_records_planner_statistics_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    await migrate.upgrade(db)
    await db.analyze()
    async with db.reader.connect() as connection:
        tables = (
            await connection.execute(
                text("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
            )
        ).all()
    assert tables == [("sqlite_stat1",)]
    await db.dispose()


@pytest.fixture
async def postgres_two_tenants() -> AsyncIterator[Database]:
    name, url = await _create_pg_database()
    db = Database(url)
    try:
        await migrate.upgrade(db)
        with tenant_scope("a"):
            async with db.write() as unit:
                unit.session.add_all(
                    [Tenant(id=t, create_time=0, update_time=0) for t in ("a", "b")]
                )
                unit.audit("tenants/a")
        await _add_experiment(db, "a", "x")
        await _add_experiment(db, "b", "y")
        yield db
    finally:
        await db.dispose()
        await _drop_pg_database(name)


async def _raw_experiment_ids(db: Database) -> list[str]:
    async with db.read() as session:
        rows = await session.execute(text("SELECT experiment_id FROM experiments ORDER BY 1"))
        return [row[0] for row in rows]


async def test_postgres_row_level_security_isolates_even_raw_sql(
    postgres_two_tenants: Database,
) -> None:
    db = postgres_two_tenants
    with tenant_scope("a"):
        assert await _raw_experiment_ids(db) == ["x"]
    with tenant_scope("b"):
        assert await _raw_experiment_ids(db) == ["y"]
    with platform_scope():
        assert await _raw_experiment_ids(db) == ["x", "y"]
    assert await _raw_experiment_ids(db) == []  # no scope: nothing at all


async def test_postgres_row_level_security_refuses_raw_writes_into_another_tenant(
    postgres_two_tenants: Database,
) -> None:
    db = postgres_two_tenants
    with tenant_scope("a"), pytest.raises(Exception, match="row-level security"):
        async with db.read() as session:
            await session.execute(
                text(
                    "INSERT INTO experiments (tenant_id, experiment_id, display_name, description,"
                    " version, create_time, update_time) VALUES ('b', 'z', '', '', 1, 0, 0)"
                )
            )
    with platform_scope():
        assert await _raw_experiment_ids(db) == ["x", "y"]


async def test_a_union_over_tenant_tables_is_refused_rather_than_run_unscoped(
    migrated: Database,
) -> None:
    from sqlalchemy import literal, union_all

    from controlplane.store.models import RunParam, RunTag

    statement = union_all(
        select(literal("p"), RunParam.key).where(RunParam.run_pk == 1),
        select(literal("t"), RunTag.key).where(RunTag.run_pk == 1),
    )
    for scope in (tenant_scope("a"), contextlib.nullcontext()):
        with scope, pytest.raises(TenancyViolation, match="compound"):
            async with migrated.read() as session:
                await session.execute(statement)


async def test_a_core_table_query_on_tenant_data_is_refused(migrated: Database) -> None:
    table = Experiment.__table__
    with tenant_scope("a"), pytest.raises(TenancyViolation, match="Core"):
        async with migrated.read() as session:
            await session.execute(select(table.c.experiment_id))  # type: ignore[attr-defined]


async def test_a_core_insert_of_another_tenants_row_is_refused(migrated: Database) -> None:
    table = Experiment.__table__
    row = {
        "tenant_id": "b",
        "experiment_id": "q",
        "display_name": "",
        "description": "",
        "version": 1,
        "create_time": 0,
        "update_time": 0,
    }
    with tenant_scope("a"), pytest.raises(TenancyViolation, match="tenant 'b'"):
        async with migrated.write() as unit:
            await unit.session.execute(table.insert(), [row])  # type: ignore[attr-defined]
            unit.audit("x")


async def test_postgres_row_level_security_covers_every_tenant_table(
    postgres_two_tenants: Database,
) -> None:
    from controlplane.store.models import Base, TenantOwned

    tenant_tables = {
        mapper.class_.__tablename__
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, TenantOwned)
    }
    async with postgres_two_tenants.read() as session:
        rows = await session.execute(
            text(
                "SELECT relname FROM pg_class WHERE relkind = 'r' AND relrowsecurity"
                " AND relforcerowsecurity"
            )
        )
        protected = {name for (name,) in rows}
    assert tenant_tables - protected == set()


async def _lock_in_order(db: Database, first: str, second: str, both_hold: asyncio.Barrier) -> None:
    """A write that locks experiment ``first``, waits until the other write holds its first
    lock too, then locks ``second``."""
    with tenant_scope("a"):
        async with db.write() as unit:
            lock = "SELECT 1 FROM experiments WHERE experiment_id = :id FOR UPDATE"
            await unit.session.execute(text(lock), {"id": first})
            await both_hold.wait()
            await unit.session.execute(text(lock), {"id": second})
            unit.audit(f"tenants/a/experiments/{first}")


async def test_a_deadlock_between_two_writers_is_aborted_for_a_retry(
    postgres_two_tenants: Database,
) -> None:
    db = postgres_two_tenants
    await _add_experiment(db, "a", "z")
    both_hold = asyncio.Barrier(2)
    outcomes = await asyncio.gather(
        _lock_in_order(db, "x", "z", both_hold),
        _lock_in_order(db, "z", "x", both_hold),
        return_exceptions=True,
    )
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    # PostgreSQL breaks the cycle by failing one of them: ABORTED, which says "retry".
    assert len(failures) == 1 and isinstance(failures[0], Conflict), outcomes
