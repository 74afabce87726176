"""First start of an empty store: the platform tenant, its administrator and one API key,
written to a 0600 file and shown once. Nothing else is open by default."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import select

from controlplane import clock
from controlplane.auth.roles import PLATFORM_TENANT
from controlplane.names import PRINCIPAL, new_id
from controlplane.store import tenants as store
from controlplane.store.audit import CallInfo, call_info
from controlplane.store.db import Database
from controlplane.store.models import Setting, Tenant
from controlplane.store.tenancy import platform_scope, tenant_scope
from controlplane.v1 import tenant_service_pb2 as pb

ADMIN_PRINCIPAL = "admin"
PAGE_TOKEN_SETTING = "page_token_key"


async def page_token_key(db: Database) -> bytes:
    """The key that signs page tokens, created once and shared by every replica."""
    with platform_scope():
        async with db.read() as session:
            setting = await session.get(Setting, PAGE_TOKEN_SETTING)
    if setting is not None:
        return bytes.fromhex(setting.value)
    with tenant_scope(PLATFORM_TENANT):
        token = call_info.set(CallInfo("system", "Bootstrap", new_id()))
        try:
            async with db.write() as unit:
                unit.session.add(Setting(key=PAGE_TOKEN_SETTING, value=secrets.token_hex(32)))
                unit.audit(f"settings/{PAGE_TOKEN_SETTING}", action="create")
        finally:
            call_info.reset(token)
    return await page_token_key(db)


def _write_private(path: Path, text: str) -> None:
    """Replaces ``path`` with ``text``, readable by the owner only (created 0600, never
    world-readable, never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def write_secret(path: Path, secret: str) -> None:
    """Writes ``secret`` readable by the owner only."""
    _write_private(path, secret + "\n")


def record_addresses(path: Path, addresses: list[str]) -> None:
    """Records where this server listens, next to its admin key: the CLI and the Python
    client send that key to these addresses only (``controlplane.client.client``)."""
    _write_private(path, "".join(f"{address}\n" for address in addresses))


async def ensure_platform_admin(db: Database, key_path: Path) -> str | None:
    """On an empty store, creates the platform administrator and returns its API key (also
    written to ``key_path``); returns None when the store already has tenants."""
    with platform_scope():
        async with db.read() as session:
            if await session.scalar(select(Tenant.id).limit(1)) is not None:
                return None
    principal_name = PRINCIPAL.format(PLATFORM_TENANT, ADMIN_PRINCIPAL)
    with tenant_scope(PLATFORM_TENANT):
        token = call_info.set(CallInfo("system", "Bootstrap", new_id()))
        try:
            async with db.write() as unit:
                await store.create_tenant(
                    unit.session, PLATFORM_TENANT, "Platform", "The platform's own principals."
                )
                principal = await store.create_principal(
                    unit.session, ADMIN_PRINCIPAL, "Platform administrator", pb.Principal.KIND_USER
                )
                await store.create_role_binding(
                    unit.session, new_id(), principal, pb.ROLE_PLATFORM_ADMIN
                )
                key, secret = await store.create_api_key(unit.session, principal, "bootstrap", None)
                unit.audit(
                    principal_name, action="bootstrap", api_key=key.key_id, at=clock.now_us()
                )
        finally:
            call_info.reset(token)
    write_secret(key_path, secret)
    return secret
