"""Registered models, their versions (files, evaluation, tags) and aliases with their history.
Queries here are tenant-scoped by ``controlplane.store.tenancy``; these functions never take a
tenant argument."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from google.protobuf.message import Message
from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter

from controlplane import clock
from controlplane.domain import filtering as fl
from controlplane.domain import registry as rules
from controlplane.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from controlplane.names import ARTIFACT, MODEL, MODEL_ALIAS, MODEL_VERSION
from controlplane.store import sequences
from controlplane.store.db import UnitOfWork
from controlplane.store.direct import TENANT_PARAM, DirectUnit, Prepared
from controlplane.store.feeds import MODEL_ALIAS_CHANGES
from controlplane.store.models import (
    ArtifactBlob,
    ArtifactContent,
    MetadataArtifact,
    ModelAlias,
    ModelAliasChange,
    ModelVersion,
    ModelVersionFile,
    ModelVersionMetric,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Run,
)
from controlplane.store.query import Column, ListSchema, MapField
from controlplane.store.tenancy import current_tenant
from controlplane.v1 import registry_service_pb2 as pb

M = TypeVar("M", bound=Message)

MODEL_SCHEMA = ListSchema(
    model=RegisteredModel,
    pk=RegisteredModel.pk,
    columns={
        "display_name": Column(RegisteredModel.display_name, fl.FieldKind.STRING),
        "latest_version": Column(RegisteredModel.latest_version, fl.FieldKind.NUMBER),
        "create_time": Column(RegisteredModel.create_time, fl.FieldKind.TIMESTAMP),
        "update_time": Column(RegisteredModel.update_time, fl.FieldKind.TIMESTAMP),
    },
    maps={"tags": MapField(RegisteredModelTag, "model_pk", fl.FieldKind.STRING)},
)

VERSION_SCHEMA = ListSchema(
    model=ModelVersion,
    pk=ModelVersion.pk,
    columns={
        "version": Column(ModelVersion.number, fl.FieldKind.NUMBER),
        "state": Column(ModelVersion.state, fl.FieldKind.ENUM, enum=pb.ModelVersion.State),
        "framework": Column(ModelVersion.framework, fl.FieldKind.STRING),
        "author": Column(ModelVersion.author, fl.FieldKind.STRING),
        "create_time": Column(ModelVersion.create_time, fl.FieldKind.TIMESTAMP),
        "update_time": Column(ModelVersion.update_time, fl.FieldKind.TIMESTAMP),
    },
    maps={"tags": MapField(ModelVersionTag, "version_pk", fl.FieldKind.STRING)},
)


def model_name(row: RegisteredModel) -> str:
    return MODEL.format(row.tenant_id, row.model_id)


def version_name(tenant: str, model_id: str, number: int) -> str:
    return MODEL_VERSION.format(tenant, model_id, str(number))


def alias_name(tenant: str, model_id: str, alias: str) -> str:
    return MODEL_ALIAS.format(tenant, model_id, alias)


# -- models -----------------------------------------------------------------------------------


async def get_model(session: AsyncSession, model_id: str, name: str) -> RegisteredModel:
    row = await session.scalar(select(RegisteredModel).where(RegisteredModel.model_id == model_id))
    if row is None:
        raise NotFound.resource(name)
    return row


async def create_model(
    session: AsyncSession, model_id: str, display_name: str, description: str
) -> RegisteredModel:
    existing = await session.scalar(
        select(RegisteredModel.pk).where(RegisteredModel.model_id == model_id)
    )
    if existing is not None:
        raise AlreadyExists.resource(MODEL.format(current_tenant(), model_id))
    now = clock.now_us()
    row = RegisteredModel(
        tenant_id=current_tenant(),
        model_id=model_id,
        display_name=display_name,
        description=description,
        latest_version=0,
        create_time=now,
        update_time=now,
    )
    session.add(row)
    await session.flush()
    return row


async def model_tags(session: AsyncSession, pks: Sequence[int]) -> dict[int, dict[str, str]]:
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    if pks:
        rows = await session.execute(
            select(
                RegisteredModelTag.model_pk, RegisteredModelTag.key, RegisteredModelTag.value
            ).where(RegisteredModelTag.model_pk.in_(pks))
        )
        for pk, key, value in rows:
            tags[pk][key] = value
    return tags


async def replace_model_tags(session: AsyncSession, pk: int, tags: Mapping[str, str]) -> None:
    await session.execute(delete(RegisteredModelTag).where(RegisteredModelTag.model_pk == pk))
    session.add_all(
        RegisteredModelTag(tenant_id=current_tenant(), model_pk=pk, key=k, value=v)
        for k, v in tags.items()
    )


async def model_aliases(session: AsyncSession, pks: Sequence[int]) -> dict[int, dict[str, int]]:
    """Each model's aliases and the version number each points at."""
    aliases: dict[int, dict[str, int]] = defaultdict(dict)
    if pks:
        rows = await session.execute(
            select(ModelAlias.model_pk, ModelAlias.alias, ModelVersion.number)
            .join(ModelVersion, ModelVersion.pk == ModelAlias.version_pk)
            .where(ModelAlias.model_pk.in_(pks))
        )
        for pk, alias, number in rows:
            aliases[pk][alias] = number
    return aliases


# -- versions ---------------------------------------------------------------------------------


@dataclass
class VersionData:
    """What a ModelVersion message shows beyond the model_versions row."""

    tags: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str, str]] = field(default_factory=list)  # (role, artifact, sha256)
    evaluation: list[tuple[str, float, str, str]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class VersionRow:
    """A model_versions row a direct write inserted: the columns of ``ModelVersion`` without an
    ORM instance (whose construction costs more than the insert on the hot path)."""

    pk: int
    tenant_id: str
    model_pk: int
    model_id: str
    number: int
    description: str
    state: int
    author: str
    source_run: str
    training_dataset: str
    code_version: str
    framework: str
    features: list[str]
    signature: dict[str, Any]
    runtime: dict[str, Any]
    version: int
    create_time: int
    update_time: int


@dataclass(frozen=True, slots=True)
class AliasRow:
    """A model_aliases row as a direct write left it (see ``VersionRow``)."""

    tenant_id: str
    model_pk: int
    alias: str
    version_pk: int
    update_principal: str
    version: int
    create_time: int
    update_time: int


async def get_version(session: AsyncSession, model_id: str, number: int, name: str) -> ModelVersion:
    row = await session.scalar(
        select(ModelVersion).where(ModelVersion.model_id == model_id, ModelVersion.number == number)
    )
    if row is None:
        raise NotFound.resource(name)
    return row


async def resolve_files(
    session: AsyncSession, files: Sequence[tuple[str, str, str]]
) -> list[tuple[str, int, str]]:
    """(role, artifact pk, sha256) of each file: the artifact must exist in the tenant and
    have uploaded content, whose sha256 the version records."""
    ids = [artifact_id for _, artifact_id, _ in files]
    rows = await session.execute(
        select(MetadataArtifact.artifact_id, MetadataArtifact.pk, ArtifactBlob.sha256)
        .outerjoin(ArtifactContent, ArtifactContent.artifact_pk == MetadataArtifact.pk)
        .outerjoin(ArtifactBlob, ArtifactBlob.pk == ArtifactContent.blob_pk)
        .where(MetadataArtifact.artifact_id.in_(ids))
    )
    return _resolved(files, {artifact_id: (pk, sha256) for artifact_id, pk, sha256 in rows})


def _resolved(
    files: Sequence[tuple[str, str, str]], found: Mapping[str, tuple[int, str | None]]
) -> list[tuple[str, int, str]]:
    """``resolve_files``'s checks on what the lookup ``found`` (artifact id: pk, sha256)."""
    resolved = []
    tenant = current_tenant()
    for role, artifact_id, where in files:
        if artifact_id not in found:
            raise NotFound.resource(ARTIFACT.format(tenant, artifact_id))
        pk, sha256 = found[artifact_id]
        if sha256 is None:
            raise FailedPrecondition(
                f"{ARTIFACT.format(tenant, artifact_id)} ({where}.artifact) has no content; "
                "upload it first (UploadArtifactContent, or Client.log_artifact)",
                metadata={"resource": ARTIFACT.format(tenant, artifact_id), "field": where},
            )
        resolved.append((role, pk, sha256))
    return resolved


async def check_references(session: AsyncSession, data: rules.NewVersion) -> None:
    """The source run and the training dataset must exist in the tenant."""
    if data.source_run is not None:
        experiment_id, run_id = data.source_run
        found = await session.scalar(
            select(Run.pk).where(Run.experiment_id == experiment_id, Run.run_id == run_id)
        )
        if found is None:
            raise NotFound.resource(data.source_run_name)
    if data.training_dataset:
        found = await session.scalar(
            select(MetadataArtifact.pk).where(MetadataArtifact.artifact_id == data.training_dataset)
        )
        if found is None:
            raise NotFound.resource(data.training_dataset_name)


async def create_version(
    session: AsyncSession,
    model: RegisteredModel,
    data: rules.NewVersion,
    files: Sequence[tuple[str, int, str]],
    author: str,
) -> ModelVersion:
    """Registers the next version of ``model``, whose row the caller read in this write
    transaction (so it is locked: concurrent registrations get distinct numbers)."""
    now = clock.now_us()
    model.latest_version += 1
    model.touch(now)
    tenant = current_tenant()
    row = ModelVersion(
        tenant_id=tenant,
        **version_values(model.pk, model.model_id, model.latest_version, data, author, now),
    )
    session.add(row)
    await session.flush()
    files_rows, tag_rows, metric_rows = version_child_rows(row.pk, data, files)
    session.add_all(ModelVersionFile(tenant_id=tenant, **values) for values in files_rows)
    session.add_all(ModelVersionTag(tenant_id=tenant, **values) for values in tag_rows)
    session.add_all(ModelVersionMetric(tenant_id=tenant, **values) for values in metric_rows)
    return row


def version_values(
    model_pk: int, model_id: str, number: int, data: rules.NewVersion, author: str, now: int
) -> dict[str, Any]:
    """The model_versions row of a new version (all columns but ``pk`` and ``tenant_id``)."""
    return {
        "model_pk": model_pk,
        "model_id": model_id,
        "number": number,
        "description": data.description,
        "state": rules.REGISTERED,
        "author": author,
        "source_run": data.source_run_name,
        "training_dataset": data.training_dataset_name,
        "code_version": data.code_version,
        "framework": data.framework,
        "features": data.features,
        "signature": data.signature,
        "runtime": data.runtime,
        "version": 1,
        "create_time": now,
        "update_time": now,
    }


def version_child_rows(
    version_pk: int, data: rules.NewVersion, files: Sequence[tuple[str, int, str]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The file, tag and evaluation rows of a new version (without ``tenant_id``)."""
    return (
        [
            {"version_pk": version_pk, "role": role, "artifact_pk": pk, "sha256": sha256}
            for role, pk, sha256 in files
        ],
        [{"version_pk": version_pk, "key": k, "value": v} for k, v in data.tags.items()],
        [
            {"version_pk": version_pk, "key": k, "split": sp, "slice": sl, "value": v}
            for k, sp, sl, v in data.evaluation
        ],
    )


async def version_data(session: AsyncSession, pks: Sequence[int]) -> dict[int, VersionData]:
    """Tags, files, evaluation and aliases of many versions in four indexed queries."""
    data: dict[int, VersionData] = defaultdict(VersionData)
    if not pks:
        return data
    tenant = current_tenant()
    tags = await session.execute(
        select(ModelVersionTag.version_pk, ModelVersionTag.key, ModelVersionTag.value).where(
            ModelVersionTag.version_pk.in_(pks)
        )
    )
    for pk, key, value in tags:
        data[pk].tags[key] = value
    files = await session.execute(
        select(
            ModelVersionFile.version_pk,
            ModelVersionFile.role,
            MetadataArtifact.artifact_id,
            ModelVersionFile.sha256,
        )
        .join(MetadataArtifact, MetadataArtifact.pk == ModelVersionFile.artifact_pk)
        .where(ModelVersionFile.version_pk.in_(pks))
        .order_by(ModelVersionFile.version_pk, ModelVersionFile.role)
    )
    for pk, role, artifact_id, sha256 in files:
        data[pk].files.append((role, ARTIFACT.format(tenant, artifact_id), sha256))
    metrics = await session.execute(
        select(
            ModelVersionMetric.version_pk,
            ModelVersionMetric.key,
            ModelVersionMetric.value,
            ModelVersionMetric.split,
            ModelVersionMetric.slice,
        )
        .where(ModelVersionMetric.version_pk.in_(pks))
        .order_by(ModelVersionMetric.pk)
    )
    for pk, metric_key, metric_value, split, slice_ in metrics:
        data[pk].evaluation.append((metric_key, metric_value, split, slice_))
    aliases = await session.execute(
        select(ModelAlias.version_pk, ModelAlias.alias)
        .where(ModelAlias.version_pk.in_(pks))
        .order_by(ModelAlias.alias)
    )
    for pk, alias in aliases:
        data[pk].aliases.append(alias)
    return data


async def replace_version_tags(session: AsyncSession, pk: int, tags: Mapping[str, str]) -> None:
    await session.execute(delete(ModelVersionTag).where(ModelVersionTag.version_pk == pk))
    session.add_all(
        ModelVersionTag(tenant_id=current_tenant(), version_pk=pk, key=k, value=v)
        for k, v in tags.items()
    )


async def versions_using_artifact(session: AsyncSession, artifact_pk: int) -> list[str]:
    """Names of the versions whose files include the artifact (at most 10)."""
    rows = await session.execute(
        select(ModelVersion.model_id, ModelVersion.number)
        .join(ModelVersionFile, ModelVersionFile.version_pk == ModelVersion.pk)
        .where(ModelVersionFile.artifact_pk == artifact_pk)
        .order_by(ModelVersion.model_id, ModelVersion.number)
        .limit(10)
    )
    tenant = current_tenant()
    return [version_name(tenant, model_id, number) for model_id, number in rows]


# -- aliases ----------------------------------------------------------------------------------


async def get_alias(session: AsyncSession, model_pk: int, alias: str) -> ModelAlias | None:
    return await session.scalar(
        select(ModelAlias).where(ModelAlias.model_pk == model_pk, ModelAlias.alias == alias)
    )


async def version_number_of(session: AsyncSession, version_pk: int) -> int:
    number = await session.scalar(select(ModelVersion.number).where(ModelVersion.pk == version_pk))
    if number is None:  # an alias's target cannot be deleted (RESTRICT)
        raise RuntimeError(f"model version {version_pk} of an alias is missing")
    return int(number)


async def list_aliases(session: AsyncSession, model_pk: int) -> list[tuple[ModelAlias, int]]:
    rows = await session.execute(
        select(ModelAlias, ModelVersion.number)
        .join(ModelVersion, ModelVersion.pk == ModelAlias.version_pk)
        .where(ModelAlias.model_pk == model_pk)
        .order_by(ModelAlias.alias)
    )
    return [(alias, int(number)) for alias, number in rows]


async def alias_names(session: AsyncSession, model_pk: int) -> list[str]:
    rows = await session.scalars(
        select(ModelAlias.alias).where(ModelAlias.model_pk == model_pk).order_by(ModelAlias.alias)
    )
    return list(rows)


async def record_alias_change(
    unit: UnitOfWork,
    model_pk: int,
    alias: str,
    previous: int | None,
    version: int | None,
    principal: str,
    reason: str,
    request_id: str,
    now: int,
) -> None:
    """Appends a change to the alias history (a feed: ``controlplane.store.feeds``; the
    turn is taken here, after the transaction's row locks, as its last lock), numbered in the
    tenant's sequence."""
    await unit.append_to_feed(MODEL_ALIAS_CHANGES)
    seq = await sequences.next_value(unit.session, MODEL_ALIAS_CHANGES)
    unit.session.add(
        ModelAliasChange(
            tenant_id=current_tenant(),
            **alias_change_values(
                seq, model_pk, alias, previous, version, principal, reason, request_id, now
            ),
        )
    )


def alias_change_values(
    seq: int,
    model_pk: int,
    alias: str,
    previous: int | None,
    version: int | None,
    principal: str,
    reason: str,
    request_id: str,
    now: int,
) -> dict[str, Any]:
    """The model_alias_changes row of one move (all columns but ``pk`` and ``tenant_id``)."""
    return {
        "seq": seq,
        "model_pk": model_pk,
        "alias": alias,
        "previous_version": previous,
        "version": version,
        "principal": principal,
        "reason": reason,
        "request_id": request_id,
        "time": now,
    }


async def set_alias(
    session: AsyncSession,
    model: RegisteredModel,
    alias: str,
    etag: str,
    target: ModelVersion,
    principal: str,
    name: str,
) -> tuple[ModelAlias, int | None]:
    """Creates or moves ``alias`` to ``target`` if ``etag`` allows it: empty moves whatever is
    there, ``"new"`` only creates, any other must be the alias's current etag. Returns the
    alias and the version number it pointed at before (None when created). The caller read
    ``model`` in this write transaction, so moves of one model's aliases are serialised."""
    now = clock.now_us()
    row = await get_alias(session, model.pk, alias)
    rules.check_alias_etag(etag, None if row is None else row.version, name)
    if row is None:
        row = ModelAlias(
            tenant_id=current_tenant(),
            model_pk=model.pk,
            alias=alias,
            version_pk=target.pk,
            update_principal=principal,
            create_time=now,
            update_time=now,
        )
        session.add(row)
        await session.flush()
        return row, None
    previous = await version_number_of(session, row.version_pk)
    row.version_pk = target.pk
    row.update_principal = principal
    row.touch(now)
    return row, previous


async def alias_history(
    session: AsyncSession, model_pk: int, alias: str, before_seq: int | None, limit: int
) -> list[ModelAliasChange]:
    """Changes of one alias, newest first, older than ``before_seq`` (keyset)."""
    stmt = select(ModelAliasChange).where(
        ModelAliasChange.model_pk == model_pk, ModelAliasChange.alias == alias
    )
    if before_seq is not None:
        stmt = stmt.where(ModelAliasChange.seq < before_seq)
    rows = await session.scalars(stmt.order_by(ModelAliasChange.seq.desc()).limit(limit))
    return list(rows)


async def alias_changes_after(
    session: AsyncSession, scope: Sequence[Any], after_seq: int, limit: int
) -> list[tuple[ModelAliasChange, str]]:
    """The tenant's alias changes in ``scope`` numbered above ``after_seq``, in order (the
    order they committed in: ``controlplane.store.feeds``), each with its model's id."""
    rows = await session.execute(
        select(ModelAliasChange, RegisteredModel.model_id)
        .join(RegisteredModel, RegisteredModel.pk == ModelAliasChange.model_pk)
        .where(*scope, ModelAliasChange.seq > after_seq)
        .order_by(ModelAliasChange.seq)
        .limit(limit)
    )
    return [(change, model_id) for change, model_id in rows]


async def last_alias_change(session: AsyncSession) -> tuple[ModelAliasChange, str] | None:
    """The tenant's newest alias change, with its model's id."""
    row = (
        await session.execute(
            select(ModelAliasChange, RegisteredModel.model_id)
            .join(RegisteredModel, RegisteredModel.pk == ModelAliasChange.model_pk)
            .order_by(ModelAliasChange.seq.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (row[0], row[1])


def alias_change_name(change: ModelAliasChange, model_id: str) -> str:
    return f"{MODEL_ALIAS.format(change.tenant_id, model_id, change.alias)}/changes/{change.seq}"


async def alias_ever_existed(session: AsyncSession, model_pk: int, alias: str) -> bool:
    count = await session.scalar(
        select(func.count(ModelAliasChange.pk)).where(
            ModelAliasChange.model_pk == model_pk, ModelAliasChange.alias == alias
        )
    )
    return bool(count)


def other_model_version(field: str, model: str) -> InvalidArgument:
    return InvalidArgument.for_field(field, f"must be a version of {model}")


# -- the embedded store's direct path ---------------------------------------------------------
# CreateModelVersion and SetModelAlias are the hot path of a publishing pipeline. On SQLite they
# run as direct writes (``Database.direct_write``): the same rows as the session path (built by
# the functions above), the same checks (``rules``, ``_resolved``), statements compiled once;
# every statement binds the current tenant, and the service writes the audit event in the same
# transaction. PostgreSQL keeps the session path.


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _insert(model: type[Any], *, returning_pk: bool = False) -> Prepared:
    """An INSERT of every column but the surrogate ``pk``: a row dict must name them all. With
    ``returning_pk``, run it with ``DirectUnit.first`` for the new row's pk."""
    columns = [c.name for c in _table(model).columns if c.name != "pk"]
    statement = _table(model).insert().values({c: bindparam(c) for c in columns})
    if returning_pk:
        statement = statement.returning(_table(model).c.pk)
    return Prepared(statement)


_TENANT: BindParameter[str] = bindparam(TENANT_PARAM)
_MODEL_GET = Prepared(
    select(RegisteredModel.pk, RegisteredModel.latest_version, RegisteredModel.version)
    .where(RegisteredModel.tenant_id == _TENANT)
    .where(RegisteredModel.model_id == bindparam("model_id"))
)
_MODEL_NEXT_VERSION = Prepared(
    _table(RegisteredModel)
    .update()
    .where(RegisteredModel.tenant_id == _TENANT, RegisteredModel.pk == bindparam("model_pk"))
    .values(
        latest_version=bindparam("new_latest_version"),
        version=bindparam("new_version"),
        update_time=bindparam("now"),
    )
)
_RUN_GET = Prepared(
    select(Run.pk)
    .where(Run.tenant_id == _TENANT)
    .where(Run.experiment_id == bindparam("experiment_id"), Run.run_id == bindparam("run_id"))
)
_ARTIFACT_GET = Prepared(
    select(MetadataArtifact.pk, ArtifactBlob.sha256)
    .outerjoin(
        ArtifactContent,
        (ArtifactContent.artifact_pk == MetadataArtifact.pk)
        & (ArtifactContent.tenant_id == _TENANT),
    )
    .outerjoin(
        ArtifactBlob,
        (ArtifactBlob.pk == ArtifactContent.blob_pk) & (ArtifactBlob.tenant_id == _TENANT),
    )
    .where(MetadataArtifact.tenant_id == _TENANT)
    .where(MetadataArtifact.artifact_id == bindparam("artifact_id"))
)
_VERSION_INSERT = _insert(ModelVersion, returning_pk=True)
_FILE_INSERT = _insert(ModelVersionFile)
_TAG_INSERT = _insert(ModelVersionTag)
_METRIC_INSERT = _insert(ModelVersionMetric)

_target = aliased(ModelVersion)
_previous = aliased(ModelVersion)
# The model, the target version and the alias with the number it points at, in one query.
_ALIAS_TARGET_GET = Prepared(
    select(RegisteredModel.pk, _target.pk, ModelAlias.pk, ModelAlias.version, _previous.number)
    .outerjoin(
        _target,
        (_target.model_pk == RegisteredModel.pk)
        & (_target.number == bindparam("number"))
        & (_target.tenant_id == _TENANT),
    )
    .outerjoin(
        ModelAlias,
        (ModelAlias.model_pk == RegisteredModel.pk)
        & (ModelAlias.alias == bindparam("alias"))
        & (ModelAlias.tenant_id == _TENANT),
    )
    .outerjoin(
        _previous, (_previous.pk == ModelAlias.version_pk) & (_previous.tenant_id == _TENANT)
    )
    .where(RegisteredModel.tenant_id == _TENANT)
    .where(RegisteredModel.model_id == bindparam("model_id"))
)
_ALIAS_INSERT = _insert(ModelAlias)
_ALIAS_MOVE = Prepared(
    _table(ModelAlias)
    .update()
    .where(ModelAlias.tenant_id == _TENANT, ModelAlias.pk == bindparam("alias_pk"))
    .values(
        version_pk=bindparam("new_version_pk"),
        update_principal=bindparam("principal"),
        version=bindparam("new_version"),
        update_time=bindparam("now"),
    )
)
_ALIAS_CHANGE_INSERT = _insert(ModelAliasChange)


def create_version_direct(
    direct: DirectUnit, model_id: str, model_name: str, data: rules.NewVersion, author: str
) -> tuple[VersionRow, list[tuple[str, int, str]]]:
    """``get_model`` + ``check_references`` + ``resolve_files`` + ``create_version`` on a
    direct write; returns the new version (a row not bound to any session) and its files. The
    unit holds SQLite's write lock, so the model's next number is this transaction's."""
    found = direct.first(_MODEL_GET, model_id=model_id)
    if found is None:
        raise NotFound.resource(model_name)
    model_pk, latest, etag_version = found
    if data.source_run is not None:
        experiment_id, run_id = data.source_run
        if direct.first(_RUN_GET, experiment_id=experiment_id, run_id=run_id) is None:
            raise NotFound.resource(data.source_run_name)
    if (
        data.training_dataset
        and direct.first(_ARTIFACT_GET, artifact_id=data.training_dataset) is None
    ):
        raise NotFound.resource(data.training_dataset_name)
    artifacts: dict[str, tuple[int, str | None]] = {}
    for _, artifact_id, _ in data.files:
        row = direct.first(_ARTIFACT_GET, artifact_id=artifact_id)
        if row is not None:
            artifacts[artifact_id] = (row[0], row[1])
    files = _resolved(data.files, artifacts)
    now = clock.now_us()
    number = latest + 1
    direct.execute_many(
        _MODEL_NEXT_VERSION,
        [
            {
                "model_pk": model_pk,
                "new_latest_version": number,
                "new_version": etag_version + 1,
                "now": now,
            }
        ],
    )
    values = version_values(model_pk, model_id, number, data, author, now)
    inserted = direct.first(_VERSION_INSERT, **values)
    if inserted is None:
        raise RuntimeError(f"inserting version {number} of {model_name} returned no row")
    pk = int(inserted[0])
    files_rows, tag_rows, metric_rows = version_child_rows(pk, data, files)
    direct.execute_many(_FILE_INSERT, files_rows)
    if tag_rows:
        direct.execute_many(_TAG_INSERT, tag_rows)
    if metric_rows:
        direct.execute_many(_METRIC_INSERT, metric_rows)
    return VersionRow(pk=pk, tenant_id=current_tenant(), **values), files


def set_alias_direct(
    direct: DirectUnit,
    model_id: str,
    model_name: str,
    alias: str,
    etag: str,
    number: int,
    target_name: str,
    principal: str,
    name: str,
) -> tuple[int, AliasRow, int | None]:
    """``get_model`` + ``get_version`` + ``set_alias`` on a direct write, in one query and one
    write; returns the model's pk, the alias (a row not bound to any session) and the number
    it pointed at before (None when created)."""
    found = direct.first(_ALIAS_TARGET_GET, model_id=model_id, number=number, alias=alias)
    if found is None:
        raise NotFound.resource(model_name)
    model_pk, target_pk, alias_pk, alias_version, previous = found
    if target_pk is None:
        raise NotFound.resource(target_name)
    rules.check_alias_etag(etag, alias_version, name)
    now = clock.now_us()
    row = AliasRow(
        tenant_id=current_tenant(),
        model_pk=model_pk,
        alias=alias,
        version_pk=target_pk,
        update_principal=principal,
        version=1 if alias_version is None else alias_version + 1,
        create_time=now,
        update_time=now,
    )
    if alias_pk is None:
        direct.execute_many(
            _ALIAS_INSERT,
            [
                {
                    "model_pk": model_pk,
                    "alias": alias,
                    "version_pk": target_pk,
                    "update_principal": principal,
                    "version": row.version,
                    "create_time": now,
                    "update_time": now,
                }
            ],
        )
        return model_pk, row, None
    direct.execute_many(
        _ALIAS_MOVE,
        [
            {
                "alias_pk": alias_pk,
                "new_version_pk": target_pk,
                "principal": principal,
                "new_version": row.version,
                "now": now,
            }
        ],
    )
    return model_pk, row, previous


def record_alias_change_direct(
    direct: DirectUnit,
    model_pk: int,
    alias: str,
    previous: int | None,
    version: int | None,
    principal: str,
    reason: str,
    request_id: str,
    now: int,
) -> None:
    direct.append_to_feed(MODEL_ALIAS_CHANGES)
    seq = sequences.next_value_direct(direct, MODEL_ALIAS_CHANGES)
    direct.execute_many(
        _ALIAS_CHANGE_INSERT,
        [
            alias_change_values(
                seq, model_pk, alias, previous, version, principal, reason, request_id, now
            )
        ],
    )
