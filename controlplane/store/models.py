"""SQLAlchemy models. Every tenant-owned table carries ``tenant_id`` (see ``TenantOwned``) and is
scoped by ``controlplane.store.tenancy``; every foreign key and every ``(tenant_id, ...)`` lookup
has an index. Times are integer microseconds since the Unix epoch (UTC): portable, compact and
exactly comparable on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(63)
KEY = String(250)
# Integer primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
PK = BigInteger().with_variant(Integer(), "sqlite")
# Numbers a caller can name or make grow (version numbers, etag counters, review rounds,
# per-tenant sequences): signed 64-bit on both stores, so both accept the same range. SQLite's
# INTEGER already is; PostgreSQL's would be 32-bit. (Enum codes and per-batch point counts
# stay Integer: the server maps the codes from names and bounds the batches.)
INT64 = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantOwned:
    """Marks a model whose rows belong to one tenant; queries on it are scoped automatically."""

    tenant_id: Mapped[str] = mapped_column(ID, nullable=False)


class Versioned:
    """A mutable resource: ``version`` grows by one on every change and backs the etag."""

    version: Mapped[int] = mapped_column(INT64, nullable=False, default=1)
    create_time: Mapped[int] = mapped_column(BigInteger, nullable=False)
    update_time: Mapped[int] = mapped_column(BigInteger, nullable=False)

    def touch(self, now_us: int) -> None:
        """Records a change: a new etag and update time."""
        self.version += 1
        self.update_time = now_us


# -- platform ---------------------------------------------------------------------------------


class Tenant(Versioned, Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Setting(Base):
    """Server-wide settings that every replica must share (e.g. the page-token key)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


# -- tenancy and access -----------------------------------------------------------------------


class Principal(TenantOwned, Versioned, Base):
    __tablename__ = "principals"
    __table_args__ = (UniqueConstraint("tenant_id", "principal_id"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    principal_id: Mapped[str] = mapped_column(ID, nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    kind: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ApiKey(TenantOwned, Base):
    __tablename__ = "api_keys"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    principal_pk: Mapped[int] = mapped_column(
        ForeignKey("principals.pk", ondelete="CASCADE"), nullable=False, index=True
    )
    # Public half of the token, used to find the row; the secret half is only stored hashed.
    key_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    salt: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    create_time: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expire_time: Mapped[int | None] = mapped_column(BigInteger)


class RoleBinding(TenantOwned, Base):
    __tablename__ = "role_bindings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "binding_id"),
        UniqueConstraint("principal_pk", "role"),
    )
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    binding_id: Mapped[str] = mapped_column(ID, nullable=False)
    principal_pk: Mapped[int] = mapped_column(
        ForeignKey("principals.pk", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[int] = mapped_column(Integer, nullable=False)
    create_time: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AuditEvent(TenantOwned, Base):
    """Append-only: one row per mutation, written in the mutation's own transaction."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "tenant_id", "time"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    time: Mapped[int] = mapped_column(BigInteger, nullable=False)
    principal: Mapped[str] = mapped_column(String(512), nullable=False)
    method: Mapped[str] = mapped_column(String(200), nullable=False)
    resource: Mapped[str] = mapped_column(String(512), nullable=False)
    request_id: Mapped[str] = mapped_column(String(64), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class IdempotencyRecord(TenantOwned, Base):
    """The first response to a Create with a request_id, returned again on a retry."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("tenant_id", "request_id"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), nullable=False)
    method: Mapped[str] = mapped_column(String(200), nullable=False)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    response: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    create_time: Mapped[int] = mapped_column(BigInteger, nullable=False)


class TenantSequence(TenantOwned, Base):
    """A per-tenant counter (``controlplane.store.sequences``): the last number handed out in
    one of the tenant's sequences (``name``). Ids a tenant sees come from these, not from
    primary keys that every tenant's writes advance, so they say nothing about other tenants.
    A number is never handed out twice, even after the row that had it was deleted."""

    __tablename__ = "tenant_sequences"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    value: Mapped[int] = mapped_column(INT64, nullable=False)


# -- metadata ---------------------------------------------------------------------------------


class _MetadataNode(TenantOwned, Versioned):
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    type: Mapped[str] = mapped_column(String(200), nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class MetadataArtifact(_MetadataNode, Base):
    __tablename__ = "md_artifacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "artifact_id"),
        Index(None, "tenant_id", "type"),
    )
    artifact_id: Mapped[str] = mapped_column(ID, nullable=False)
    uri: Mapped[str] = mapped_column(String(2048), nullable=False, default="")
    state: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class MetadataExecution(_MetadataNode, Base):
    __tablename__ = "md_executions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "execution_id"),
        Index(None, "tenant_id", "type"),
    )
    execution_id: Mapped[str] = mapped_column(ID, nullable=False)
    state: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class MetadataContext(_MetadataNode, Base):
    __tablename__ = "md_contexts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "context_id"),
        Index(None, "tenant_id", "type"),
    )
    context_id: Mapped[str] = mapped_column(ID, nullable=False)


class MetadataEvent(TenantOwned, Base):
    __tablename__ = "md_events"
    __table_args__ = (UniqueConstraint("execution_pk", "artifact_pk", "type"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    artifact_pk: Mapped[int] = mapped_column(
        ForeignKey("md_artifacts.pk", ondelete="CASCADE"), nullable=False, index=True
    )
    execution_pk: Mapped[int] = mapped_column(
        ForeignKey("md_executions.pk", ondelete="CASCADE"), nullable=False, index=True
    )
    type: Mapped[int] = mapped_column(Integer, nullable=False)
    time: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ContextArtifact(TenantOwned, Base):
    __tablename__ = "md_context_artifacts"
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("md_contexts.pk", ondelete="CASCADE"), primary_key=True
    )
    artifact_pk: Mapped[int] = mapped_column(
        ForeignKey("md_artifacts.pk", ondelete="CASCADE"), primary_key=True, index=True
    )


class ContextExecution(TenantOwned, Base):
    __tablename__ = "md_context_executions"
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("md_contexts.pk", ondelete="CASCADE"), primary_key=True
    )
    execution_pk: Mapped[int] = mapped_column(
        ForeignKey("md_executions.pk", ondelete="CASCADE"), primary_key=True, index=True
    )


# -- experiments ------------------------------------------------------------------------------


class Experiment(TenantOwned, Versioned, Base):
    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "experiment_id"),
        Index(None, "tenant_id", "create_time"),
    )
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(ID, nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")


class ExperimentTag(TenantOwned, Base):
    __tablename__ = "experiment_tags"
    __table_args__ = (Index(None, "tenant_id", "key", "value"),)
    experiment_pk: Mapped[int] = mapped_column(
        ForeignKey("experiments.pk", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    value: Mapped[str] = mapped_column(String(5000), nullable=False)


class Run(TenantOwned, Versioned, Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "experiment_id", "run_id"),
        Index(None, "experiment_pk", "create_time"),
        Index(None, "tenant_id", "create_time"),
    )
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    experiment_pk: Mapped[int] = mapped_column(
        ForeignKey("experiments.pk", ondelete="CASCADE"), nullable=False
    )
    # Denormalised so a run's resource name needs no join.
    experiment_id: Mapped[str] = mapped_column(ID, nullable=False)
    run_id: Mapped[str] = mapped_column(ID, nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    state: Mapped[int] = mapped_column(Integer, nullable=False)
    start_time: Mapped[int | None] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)


class RunParam(TenantOwned, Base):
    __tablename__ = "run_params"
    __table_args__ = (Index(None, "tenant_id", "key", "value"),)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    value: Mapped[str] = mapped_column(String(6000), nullable=False)


class RunTag(TenantOwned, Base):
    __tablename__ = "run_tags"
    __table_args__ = (Index(None, "tenant_id", "key", "value"),)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    value: Mapped[str] = mapped_column(String(5000), nullable=False)


class LatestMetric(TenantOwned, Base):
    """The newest point of each metric of a run (highest step, then timestamp): what search
    filters and sorts on, kept in step with every batch written. A NaN value is stored as NULL
    on every backend (SQLite cannot store NaN, and PostgreSQL would sort it above every
    number), so a NaN metric matches no comparison and sorts last."""

    __tablename__ = "latest_metrics"
    __table_args__ = (Index(None, "tenant_id", "key", "value"),)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    step: Mapped[int] = mapped_column(BigInteger, nullable=False)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)


class MetricChunk(TenantOwned, Base):
    """Points of one metric of one run from one batch, stored columnar: little-endian packed
    int64 steps, float64 values and int64 timestamps. A batch of any size is one row per key,
    so ingest is one INSERT per batch and a 10k-point history is a few rows to decode."""

    __tablename__ = "metric_chunks"
    __table_args__ = (Index(None, "run_pk", "key", "pk"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(KEY, nullable=False)
    point_count: Mapped[int] = mapped_column(Integer, nullable=False)
    steps: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    values: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    timestamps: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


# -- artifact content -------------------------------------------------------------------------


class ArtifactBlob(TenantOwned, Base):
    """Content stored once per tenant, addressed by its sha256; the bytes live in the
    artifact-store plugin under ``controlplane.artifact_keys.blob_key``."""

    __tablename__ = "artifact_blobs"
    __table_args__ = (UniqueConstraint("tenant_id", "sha256"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    create_time: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ArtifactContent(TenantOwned, Base):
    """Which blob holds a metadata artifact's content. Deleting the artifact deletes this row;
    the blob stays until garbage collection finds nothing references it."""

    __tablename__ = "artifact_contents"
    artifact_pk: Mapped[int] = mapped_column(
        ForeignKey("md_artifacts.pk", ondelete="CASCADE"), primary_key=True
    )
    blob_pk: Mapped[int] = mapped_column(
        ForeignKey("artifact_blobs.pk", ondelete="RESTRICT"), nullable=False, index=True
    )
    media_type: Mapped[str] = mapped_column(String(255), nullable=False)
    create_time: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ArtifactQuota(TenantOwned, Base):
    """A tenant's artifact storage limit; a tenant without a row has no limit."""

    __tablename__ = "artifact_quotas"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    limit_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)


# -- registry ---------------------------------------------------------------------------------


class RegisteredModel(TenantOwned, Versioned, Base):
    __tablename__ = "registered_models"
    __table_args__ = (
        UniqueConstraint("tenant_id", "model_id"),
        Index(None, "tenant_id", "create_time"),
    )
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(ID, nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The newest version's number; the next version is this + 1, allocated under the row lock
    # of the write transaction, so numbers are never reused, even after a delete.
    latest_version: Mapped[int] = mapped_column(INT64, nullable=False, default=0)


class RegisteredModelTag(TenantOwned, Base):
    __tablename__ = "registered_model_tags"
    __table_args__ = (Index(None, "tenant_id", "key", "value"),)
    model_pk: Mapped[int] = mapped_column(
        ForeignKey("registered_models.pk", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    value: Mapped[str] = mapped_column(String(5000), nullable=False)


class ModelVersion(TenantOwned, Versioned, Base):
    """One immutable version of a registered model (only description and tags change;
    ``version`` is the etag counter of ``Versioned``, ``number`` the version's number)."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_pk", "number"),
        Index(None, "tenant_id", "model_id", "number"),
        Index(None, "tenant_id", "create_time"),
    )
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    model_pk: Mapped[int] = mapped_column(
        ForeignKey("registered_models.pk", ondelete="CASCADE"), nullable=False
    )
    # Denormalised so a version's resource name needs no join.
    model_id: Mapped[str] = mapped_column(ID, nullable=False)
    number: Mapped[int] = mapped_column(INT64, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    state: Mapped[int] = mapped_column(Integer, nullable=False)
    author: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    source_run: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    training_dataset: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    code_version: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    framework: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    features: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    signature: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    runtime: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class ModelVersionTag(TenantOwned, Base):
    __tablename__ = "model_version_tags"
    __table_args__ = (Index(None, "tenant_id", "key", "value"),)
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    value: Mapped[str] = mapped_column(String(5000), nullable=False)


class ModelVersionFile(TenantOwned, Base):
    """A file of a version: an artifact with content. The artifact cannot be deleted while a
    version uses it (RESTRICT; the service refuses first with a message naming the version)."""

    __tablename__ = "model_version_files"
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(ID, primary_key=True)
    artifact_pk: Mapped[int] = mapped_column(
        ForeignKey("md_artifacts.pk", ondelete="RESTRICT"), nullable=False, index=True
    )
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)


class ModelVersionMetric(TenantOwned, Base):
    """One evaluation result of a version (a metric on a split, overall or on a slice)."""

    __tablename__ = "model_version_metrics"
    __table_args__ = (Index(None, "tenant_id", "key", "split", "value"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="CASCADE"), nullable=False, index=True
    )
    key: Mapped[str] = mapped_column(KEY, nullable=False)
    split: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    slice: Mapped[str] = mapped_column(String(250), nullable=False, default="")
    value: Mapped[float] = mapped_column(Float, nullable=False)


class OnlineEvaluation(TenantOwned, Base):
    """Results of a version measured while it serves, over a time window (append-only).
    ``number`` is its id in its name: 1, 2, ... per version (the next is allocated under the
    version's row lock), so it says nothing about other versions or tenants."""

    __tablename__ = "online_evaluations"
    __table_args__ = (
        Index(None, "tenant_id", "version_pk", "pk"),
        UniqueConstraint("version_pk", "number"),
    )
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(INT64, nullable=False)
    window_start: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    window_end: Mapped[int] = mapped_column(BigInteger, nullable=False)
    record_time: Mapped[int] = mapped_column(BigInteger, nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(512), nullable=False)


class OnlineEvaluationMetric(TenantOwned, Base):
    """One result of an online evaluation; the version and window end are repeated here so
    the newest value of each (key, split, slice) of a version is one indexed read."""

    __tablename__ = "online_evaluation_metrics"
    __table_args__ = (Index(None, "version_pk", "key", "split", "slice", "window_end"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    evaluation_pk: Mapped[int] = mapped_column(
        ForeignKey("online_evaluations.pk", ondelete="CASCADE"), nullable=False, index=True
    )
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(KEY, nullable=False)
    split: Mapped[str] = mapped_column(String(100), nullable=False)
    slice: Mapped[str] = mapped_column(String(250), nullable=False, default="")
    value: Mapped[float] = mapped_column(Float, nullable=False)
    window_end: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ModelAlias(TenantOwned, Versioned, Base):
    """A named pointer at a version of the same model; ``Versioned`` backs its etag."""

    __tablename__ = "model_aliases"
    __table_args__ = (UniqueConstraint("model_pk", "alias"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    model_pk: Mapped[int] = mapped_column(
        ForeignKey("registered_models.pk", ondelete="CASCADE"), nullable=False
    )
    alias: Mapped[str] = mapped_column(ID, nullable=False)
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="RESTRICT"), nullable=False, index=True
    )
    update_principal: Mapped[str] = mapped_column(String(512), nullable=False, default="")


class ModelAliasChange(TenantOwned, Base):
    """Append-only: one row per move (create, move, delete) of an alias. A feed
    (``controlplane.store.feeds``) followed by ``seq``, the tenant's own sequence."""

    __tablename__ = "model_alias_changes"
    __table_args__ = (
        Index(None, "model_pk", "alias", "seq"),
        UniqueConstraint("tenant_id", "seq"),
        {"sqlite_autoincrement": True},
    )
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    # The change's id in its name and in watch cursors: 1, 2, ... per tenant.
    seq: Mapped[int] = mapped_column(INT64, nullable=False)
    model_pk: Mapped[int] = mapped_column(
        ForeignKey("registered_models.pk", ondelete="CASCADE"), nullable=False
    )
    alias: Mapped[str] = mapped_column(ID, nullable=False)
    previous_version: Mapped[int | None] = mapped_column(INT64)
    version: Mapped[int | None] = mapped_column(INT64)
    principal: Mapped[str] = mapped_column(String(512), nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    request_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    time: Mapped[int] = mapped_column(BigInteger, nullable=False)


# -- governance -------------------------------------------------------------------------------


class ReleasePolicy(TenantOwned, Versioned, Base):
    """A tenant's release policy (one per tenant; a tenant without a row has the default:
    one approval, no other check). The rules are JSON lists shaped like the contract's
    MetricThreshold and ChampionRule messages."""

    __tablename__ = "release_policies"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    thresholds: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    champion_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    required_approvals: Mapped[int] = mapped_column(INT64, nullable=False, default=1)
    required_card_fields: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    require_signature: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Aliases only governance moves (release, rollback).
    protected_aliases: Mapped[list[str]] = mapped_column(
        JSON, nullable=False, default=list, server_default="[]"
    )
    # Approvals by the tenant's administrators (and platform administrators) do not count.
    require_non_admin_approvers: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )


class ModelVersionReview(TenantOwned, Base):
    """One approval or rejection of a version, in one review round (a round starts at each
    submit; approvals of earlier rounds no longer count). Append-only."""

    __tablename__ = "model_version_reviews"
    __table_args__ = (UniqueConstraint("version_pk", "review_round", "principal"),)
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="CASCADE"), nullable=False, index=True
    )
    review_round: Mapped[int] = mapped_column(INT64, nullable=False)
    principal: Mapped[str] = mapped_column(String(512), nullable=False)
    # "approve" or "reject".
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    request_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    time: Mapped[int] = mapped_column(BigInteger, nullable=False)


class GovernanceEvent(TenantOwned, Base):
    """One move of a version through governance (submit, approve, reject, release, retire,
    rollback): what pipelines and deployments follow. Append-only, and a feed
    (``controlplane.store.feeds``) followed by ``seq``, the tenant's own sequence."""

    __tablename__ = "governance_events"
    __table_args__ = (
        Index(None, "tenant_id", "model_pk", "seq"),
        Index(None, "tenant_id", "time"),
        UniqueConstraint("tenant_id", "seq"),
        {"sqlite_autoincrement": True},
    )
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    # The event's id in its name and in watch cursors: 1, 2, ... per tenant.
    seq: Mapped[int] = mapped_column(INT64, nullable=False)
    model_pk: Mapped[int] = mapped_column(
        ForeignKey("registered_models.pk", ondelete="CASCADE"), nullable=False, index=True
    )
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="CASCADE"), nullable=False, index=True
    )
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    from_state: Mapped[int] = mapped_column(Integer, nullable=False)
    to_state: Mapped[int] = mapped_column(Integer, nullable=False)
    principal: Mapped[str] = mapped_column(String(512), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    request_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    time: Mapped[int] = mapped_column(BigInteger, nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class ModelCard(TenantOwned, Versioned, Base):
    """The written fields of a version's model card (its facts are gathered when read)."""

    __tablename__ = "model_cards"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.pk", ondelete="CASCADE"), nullable=False, unique=True
    )
    intended_use: Mapped[str] = mapped_column(Text, nullable=False, default="")
    out_of_scope_use: Mapped[str] = mapped_column(Text, nullable=False, default="")
    limitations: Mapped[str] = mapped_column(Text, nullable=False, default="")
    ethical_considerations: Mapped[str] = mapped_column(Text, nullable=False, default="")
    training_data_description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    caveats_and_recommendations: Mapped[str] = mapped_column(Text, nullable=False, default="")
