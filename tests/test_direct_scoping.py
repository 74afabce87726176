"""Tenant scoping by construction on the embedded store's direct path (controlplane.store.direct):
SQLite has no row-level security behind these statements, so each one is checked when it is
prepared to filter every tenant-owned table it names to the tenant parameter on its own."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, func, literal, literal_column, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import aliased

import controlplane.store
from controlplane.store import migrate
from controlplane.store.db import Database
from controlplane.store.direct import PREPARED, TENANT_PARAM, Prepared, check_scoped
from controlplane.store.models import (
    Experiment,
    LatestMetric,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    Run,
    RunTag,
    Tenant,
)
from controlplane.store.tenancy import TenancyViolation, platform_scope, tenant_scope

_TENANT = bindparam(TENANT_PARAM)


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def test_a_three_table_join_scoped_on_one_table_is_refused() -> None:
    """The old guard passed this: the tenant parameter is bound, but only on the models."""
    unscoped = (
        select(RegisteredModel.pk, ModelVersion.pk, ModelAlias.alias)
        .join(ModelVersion, ModelVersion.model_pk == RegisteredModel.pk)
        .join(ModelAlias, ModelAlias.version_pk == ModelVersion.pk)
        .where(RegisteredModel.tenant_id == _TENANT)
    )
    with pytest.raises(TenancyViolation, match="'model_versions' is not filtered"):
        Prepared(unscoped)


def test_a_join_scoped_on_every_table_passes() -> None:
    target = aliased(ModelVersion)
    scoped = Prepared(
        select(RegisteredModel.pk, target.pk, ModelAlias.alias)
        .join(target, (target.model_pk == RegisteredModel.pk) & (target.tenant_id == _TENANT))
        .outerjoin(
            ModelAlias,
            (ModelAlias.version_pk == target.pk) & (ModelAlias.tenant_id == _TENANT),
        )
        .where(RegisteredModel.tenant_id == _TENANT)
    )
    assert scoped.scoped_tables == {"registered_models", "model_versions", "model_aliases"}


def test_a_join_on_each_others_tenant_is_not_a_filter() -> None:
    """``a.tenant_id = b.tenant_id`` does not scope b: each table is compared to the parameter."""
    with pytest.raises(TenancyViolation, match="'model_versions'"):
        Prepared(
            select(RegisteredModel.pk, ModelVersion.pk)
            .join(
                ModelVersion,
                (ModelVersion.model_pk == RegisteredModel.pk)
                & (ModelVersion.tenant_id == RegisteredModel.tenant_id),
            )
            .where(RegisteredModel.tenant_id == _TENANT)
        )


def test_an_outer_join_condition_does_not_scope_its_left_side() -> None:
    with pytest.raises(TenancyViolation, match="'registered_models'"):
        Prepared(
            select(RegisteredModel.pk, ModelVersion.pk).outerjoin(
                ModelVersion,
                (ModelVersion.model_pk == RegisteredModel.pk)
                & (ModelVersion.tenant_id == _TENANT)
                & (RegisteredModel.tenant_id == _TENANT),
            )
        )


def test_a_filter_under_an_or_does_not_scope() -> None:
    with pytest.raises(TenancyViolation, match="'runs'"):
        Prepared(select(Run.pk).where((Run.tenant_id == _TENANT) | (Run.run_id == "x")))


def test_a_literal_tenant_is_not_the_parameter() -> None:
    with pytest.raises(TenancyViolation, match="'runs'"):
        Prepared(select(Run.pk).where(Run.tenant_id == "acme"))


def test_an_update_without_a_tenant_filter_is_refused() -> None:
    with pytest.raises(TenancyViolation, match="'registered_models'"):
        Prepared(
            _table(RegisteredModel)
            .update()
            .where(RegisteredModel.pk == bindparam("model_pk"))
            .values(version=bindparam("new_version"))
        )


def test_an_update_from_another_table_must_scope_it_too() -> None:
    with pytest.raises(TenancyViolation, match="'model_versions'"):
        Prepared(
            _table(RegisteredModel)
            .update()
            .where(
                RegisteredModel.tenant_id == _TENANT,
                RegisteredModel.pk == ModelVersion.model_pk,
                ModelVersion.number == bindparam("number"),
            )
            .values(version=bindparam("new_version"))
        )


def test_a_delete_without_a_tenant_filter_is_refused() -> None:
    with pytest.raises(TenancyViolation, match="'run_tags'"):
        Prepared(_table(RunTag).delete().where(RunTag.run_pk == bindparam("run_pk")))


def test_a_scoped_update_and_delete_pass() -> None:
    Prepared(
        _table(RegisteredModel)
        .update()
        .where(RegisteredModel.tenant_id == _TENANT, RegisteredModel.pk == bindparam("pk"))
        .values(version=bindparam("new_version"))
    )
    Prepared(
        _table(RunTag).delete().where(RunTag.tenant_id == _TENANT, RunTag.run_pk == bindparam("p"))
    )


def test_an_insert_binding_tenant_id_to_a_literal_is_refused() -> None:
    """It would even compile to a parameter named ``tenant_id``; the check looks at the bind."""
    with pytest.raises(TenancyViolation, match="'experiments'"):
        Prepared(
            _table(Experiment)
            .insert()
            .values(tenant_id="acme", experiment_id=bindparam("experiment_id"))
        )


def test_an_insert_without_tenant_id_is_refused() -> None:
    with pytest.raises(TenancyViolation, match="'experiments'"):
        Prepared(_table(Experiment).insert().values(experiment_id=bindparam("experiment_id")))
    with pytest.raises(TenancyViolation, match="'experiments'"):
        Prepared(_table(Experiment).insert())


def test_an_insert_select_takes_its_tenant_from_a_scoped_table() -> None:
    tags = _table(RunTag)
    Prepared(
        tags.insert().from_select(
            ["tenant_id", "run_pk", "key", "value"],
            select(Run.tenant_id, Run.pk, bindparam("key"), bindparam("value")).where(
                Run.tenant_id == _TENANT
            ),
        )
    )
    inner = select(literal("b").label("tenant_id")).subquery()
    with pytest.raises(TenancyViolation, match="SELECT must select tenant_id"):
        Prepared(
            tags.insert().from_select(
                ["tenant_id", "run_pk", "key", "value"],
                select(inner.c.tenant_id, Run.pk, bindparam("key"), bindparam("value")).where(
                    Run.tenant_id == _TENANT
                ),
            )
        )
    with pytest.raises(TenancyViolation, match="'runs'"):
        Prepared(
            tags.insert().from_select(
                ["tenant_id", "run_pk", "key", "value"],
                select(Run.tenant_id, Run.pk, bindparam("key"), bindparam("value")).where(
                    Run.run_id == bindparam("run_id")
                ),
            )
        )


def test_an_upsert_must_update_only_the_tenants_row() -> None:
    table = _table(LatestMetric)
    insert = sqlite.insert(table).values(
        {c: bindparam(c) for c in ("tenant_id", "run_pk", "key", "value", "step", "timestamp_ms")}
    )
    with pytest.raises(TenancyViolation, match="ON CONFLICT"):
        Prepared(
            insert.on_conflict_do_update(
                index_elements=["run_pk", "key"], set_={"value": insert.excluded.value}
            )
        )
    Prepared(
        insert.on_conflict_do_update(
            index_elements=["run_pk", "key"],
            set_={"value": insert.excluded.value},
            where=table.c.tenant_id == insert.excluded.tenant_id,
        )
    )


def test_subqueries_are_checked() -> None:
    with pytest.raises(TenancyViolation, match="'run_tags'"):
        Prepared(
            select(Run.pk).where(
                Run.tenant_id == _TENANT,
                Run.pk.in_(select(RunTag.run_pk).where(RunTag.key == bindparam("key"))),
            )
        )
    Prepared(
        select(Run.pk).where(
            Run.tenant_id == _TENANT,
            Run.pk.in_(select(RunTag.run_pk).where(RunTag.tenant_id == _TENANT, RunTag.key == "k")),
        )
    )
    inner = select(RunTag.run_pk).where(RunTag.key == bindparam("key")).subquery()
    with pytest.raises(TenancyViolation, match="'run_tags'"):
        Prepared(
            select(Run.pk).join(inner, inner.c.run_pk == Run.pk).where(Run.tenant_id == _TENANT)
        )


def test_raw_sql_text_is_refused() -> None:
    with pytest.raises(TenancyViolation, match="raw SQL"):
        check_scoped(text("SELECT pk FROM runs WHERE tenant_id = :tenant_id"))
    with pytest.raises(TenancyViolation, match="literal SQL"):
        check_scoped(select(literal_column("(SELECT count(*) FROM runs)")))


def test_platform_statements_say_so() -> None:
    everyone = Prepared(select(Experiment.pk), platform=True)
    assert everyone.platform and not everyone.scoped_tables
    # The platform's own tables are not tenant-owned: no declaration needed.
    assert not Prepared(select(Tenant.id).where(Tenant.id == bindparam("id"))).scoped_tables


def test_every_prepared_statement_of_the_store_was_checked() -> None:
    """Statements are module constants, so importing the store checks them all (an unscoped
    one fails the import); none of the store's is platform-level, and each still passes."""
    for module in pkgutil.iter_modules(controlplane.store.__path__):
        importlib.import_module(f"controlplane.store.{module.name}")
    store = [p for p in PREPARED if p.origin.startswith("controlplane.")]
    assert {p.origin for p in store} >= {
        "controlplane.store.direct",
        "controlplane.store.experiments",
        "controlplane.store.governance",
        "controlplane.store.idempotency",
        "controlplane.store.registry",
        "controlplane.store.sequences",
    }
    assert len(store) >= 20
    for prepared in store:
        assert not prepared.platform, prepared.sql
        assert prepared.scoped_tables, prepared.sql  # each one reads or writes tenant rows
        assert check_scoped(prepared.statement) == prepared.scoped_tables


# -- the session path (controlplane.store.tenancy) ---------------------------------------------
# Criteria are added to the models of an ORM statement; a Core reference to a tenant-owned table
# beside them would run unscoped on SQLite, so it is refused.


@pytest.fixture
async def two_tenants(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'scoping.db'}")
    await migrate.upgrade(database)
    with tenant_scope("a"):
        async with database.write() as unit:
            unit.session.add_all([Tenant(id=t, create_time=0, update_time=0) for t in ("a", "b")])
            unit.audit("tenants")
    for tenant in ("a", "b"):
        with tenant_scope(tenant):
            async with database.write() as unit:
                unit.session.add(
                    Experiment(
                        experiment_id=f"e-{tenant}",
                        display_name="",
                        description="",
                        version=1,
                        create_time=0,
                        update_time=0,
                    )
                )
                unit.audit(f"tenants/{tenant}/experiments/e-{tenant}")
    yield database
    await database.dispose()


_EXPERIMENTS = _table(Experiment)
_OTHER = _EXPERIMENTS.alias("other")


@pytest.mark.parametrize(
    "statement",
    [
        select(Experiment.experiment_id, _OTHER.c.experiment_id)
        .select_from(Experiment)
        .join(_OTHER, _OTHER.c.pk > 0),
        select(Experiment.experiment_id, _EXPERIMENTS.c.experiment_id),
        select(
            Experiment.experiment_id,
            select(func.count()).select_from(_EXPERIMENTS).scalar_subquery(),
        ),
    ],
    ids=["core-alias-join", "core-column", "core-subquery"],
)
async def test_a_core_table_beside_the_models_is_refused(
    two_tenants: Database, statement: Any
) -> None:
    with tenant_scope("a"), pytest.raises(TenancyViolation, match="Core"):
        async with two_tenants.read() as session:
            await session.execute(statement)


async def test_the_same_statements_on_models_are_scoped(two_tenants: Database) -> None:
    other = aliased(Experiment)
    with tenant_scope("a"):
        async with two_tenants.read() as session:
            pairs = (
                await session.execute(
                    select(Experiment.experiment_id, other.experiment_id)
                    .select_from(Experiment)
                    .join(other, other.pk > 0)
                )
            ).all()
            counts = (
                await session.execute(
                    select(
                        Experiment.experiment_id,
                        select(func.count()).select_from(Experiment).scalar_subquery(),
                    )
                )
            ).all()
    assert [tuple(p) for p in pairs] == [("e-a", "e-a")]
    assert [tuple(c) for c in counts] == [("e-a", 1)]


async def test_raw_sql_on_tenant_tables_is_refused_on_sqlite(two_tenants: Database) -> None:
    """PostgreSQL's row-level security scopes raw SQL (tests/test_store.py); SQLite has none."""
    with tenant_scope("a"), pytest.raises(TenancyViolation, match="'experiments'"):
        async with two_tenants.read() as session:
            await session.execute(text("SELECT experiment_id FROM experiments"))
    with tenant_scope("a"):
        async with two_tenants.read() as session:
            assert (
                await session.execute(text("SELECT 1 FROM tenants WHERE id = 'a'"))
            ).scalar_one() == 1
    with platform_scope():
        async with two_tenants.read() as session:
            rows = await session.execute(text("SELECT experiment_id FROM experiments ORDER BY 1"))
            assert [row[0] for row in rows] == ["e-a", "e-b"]
