"""Tenants, principals, API keys and role bindings."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane import clock
from controlplane.auth import keys
from controlplane.domain import filtering as fl
from controlplane.errors import AlreadyExists, FailedPrecondition, NotFound
from controlplane.names import API_KEY, PRINCIPAL, ROLE_BINDING, TENANT
from controlplane.store.models import (
    ApiKey,
    Experiment,
    IdempotencyRecord,
    MetadataArtifact,
    MetadataContext,
    MetadataExecution,
    Principal,
    RegisteredModel,
    RoleBinding,
    Tenant,
    TenantSequence,
)
from controlplane.store.query import Column, ListSchema
from controlplane.store.tenancy import current_tenant, platform_scope
from controlplane.store.tenant_check import note_deleted
from controlplane.v1 import tenant_service_pb2 as pb

TENANT_SCHEMA = ListSchema(
    model=Tenant,
    pk=Tenant.id,
    columns={
        "display_name": Column(Tenant.display_name, fl.FieldKind.STRING),
        "create_time": Column(Tenant.create_time, fl.FieldKind.TIMESTAMP),
    },
)
PRINCIPAL_SCHEMA = ListSchema(
    model=Principal,
    pk=Principal.pk,
    columns={
        "display_name": Column(Principal.display_name, fl.FieldKind.STRING),
        "kind": Column(Principal.kind, fl.FieldKind.ENUM, enum=pb.Principal.Kind),
        "disabled": Column(Principal.disabled, fl.FieldKind.BOOL),
        "create_time": Column(Principal.create_time, fl.FieldKind.TIMESTAMP),
    },
)
API_KEY_SCHEMA = ListSchema(
    model=ApiKey,
    pk=ApiKey.pk,
    columns={"create_time": Column(ApiKey.create_time, fl.FieldKind.TIMESTAMP)},
)
ROLE_BINDING_SCHEMA = ListSchema(
    model=RoleBinding,
    pk=RoleBinding.pk,
    columns={
        "role": Column(RoleBinding.role, fl.FieldKind.ENUM, enum=pb.Role),
        "create_time": Column(RoleBinding.create_time, fl.FieldKind.TIMESTAMP),
    },
)


# -- tenants (platform rows: not tenant-owned, callers are authorized before they get here) ---


async def get_tenant(session: AsyncSession, tenant_id: str) -> Tenant:
    row = await session.get(Tenant, tenant_id)
    if row is None:
        raise NotFound.resource(TENANT.format(tenant_id))
    return row


async def create_tenant(
    session: AsyncSession, tenant_id: str, display_name: str, description: str
) -> Tenant:
    if await session.get(Tenant, tenant_id) is not None:
        raise AlreadyExists.resource(TENANT.format(tenant_id))
    now = clock.now_us()
    row = Tenant(
        id=tenant_id,
        display_name=display_name,
        description=description,
        create_time=now,
        update_time=now,
    )
    session.add(row)
    await session.flush()
    return row


async def delete_tenant(session: AsyncSession, tenant: Tenant) -> None:
    """Removes a tenant that owns no experiments or metadata, with its principals."""
    for model in (
        Experiment,
        MetadataArtifact,
        MetadataExecution,
        MetadataContext,
        RegisteredModel,
    ):
        count = await session.scalar(select(func.count(model.tenant_id)))
        if count:
            name = TENANT.format(tenant.id)
            raise FailedPrecondition(
                f"{name} still has {model.__tablename__} rows; delete them first",
                metadata={"resource": TENANT.format(tenant.id)},
            )
    await session.execute(delete(Principal))
    await session.execute(delete(IdempotencyRecord))
    await session.execute(delete(TenantSequence))
    with platform_scope():
        await session.delete(tenant)
    note_deleted(session, tenant.id)


# -- principals -------------------------------------------------------------------------------


async def get_principal(session: AsyncSession, principal_id: str) -> Principal:
    row = await session.scalar(select(Principal).where(Principal.principal_id == principal_id))
    if row is None:
        raise NotFound.resource(PRINCIPAL.format(current_tenant(), principal_id))
    return row


async def create_principal(
    session: AsyncSession, principal_id: str, display_name: str, kind: int
) -> Principal:
    if await session.scalar(select(Principal.pk).where(Principal.principal_id == principal_id)):
        raise AlreadyExists.resource(PRINCIPAL.format(current_tenant(), principal_id))
    now = clock.now_us()
    row = Principal(
        tenant_id=current_tenant(),
        principal_id=principal_id,
        display_name=display_name,
        kind=kind,
        disabled=False,
        create_time=now,
        update_time=now,
    )
    session.add(row)
    await session.flush()
    return row


# -- API keys ---------------------------------------------------------------------------------


async def create_api_key(
    session: AsyncSession, principal: Principal, display_name: str, expire_time: int | None
) -> tuple[ApiKey, str]:
    new = keys.generate()
    row = ApiKey(
        tenant_id=current_tenant(),
        principal_pk=principal.pk,
        key_id=new.key_id,
        display_name=display_name,
        salt=new.salt,
        secret_hash=new.secret_hash,
        create_time=clock.now_us(),
        expire_time=expire_time,
    )
    session.add(row)
    await session.flush()
    return row, new.token


async def get_api_key(session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
    row = await session.scalar(
        select(ApiKey).where(ApiKey.principal_pk == principal.pk, ApiKey.key_id == key_id)
    )
    if row is None:
        raise NotFound.resource(API_KEY.format(current_tenant(), principal.principal_id, key_id))
    return row


# -- role bindings ----------------------------------------------------------------------------


async def get_role_binding(session: AsyncSession, binding_id: str) -> tuple[RoleBinding, str]:
    found = (
        await session.execute(
            select(RoleBinding, Principal.principal_id)
            .join(Principal, Principal.pk == RoleBinding.principal_pk)
            .where(RoleBinding.binding_id == binding_id)
        )
    ).first()
    if found is None:
        raise NotFound.resource(ROLE_BINDING.format(current_tenant(), binding_id))
    return found[0], found[1]


async def create_role_binding(
    session: AsyncSession, binding_id: str, principal: Principal, role: int
) -> RoleBinding:
    duplicate = await session.scalar(
        select(RoleBinding.binding_id).where(
            RoleBinding.principal_pk == principal.pk, RoleBinding.role == role
        )
    )
    if duplicate is not None:
        raise AlreadyExists.resource(ROLE_BINDING.format(current_tenant(), duplicate))
    row = RoleBinding(
        tenant_id=current_tenant(),
        binding_id=binding_id,
        principal_pk=principal.pk,
        role=role,
        create_time=clock.now_us(),
    )
    session.add(row)
    await session.flush()
    return row


async def principal_ids(session: AsyncSession, pks: list[int]) -> dict[int, str]:
    if not pks:
        return {}
    rows = await session.execute(
        select(Principal.pk, Principal.principal_id).where(Principal.pk.in_(pks))
    )
    return {pk: principal_id for pk, principal_id in rows}
