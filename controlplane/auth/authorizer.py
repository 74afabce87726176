"""Authorization decisions: casbin's RBAC-with-domains enforcer over the built-in role table
and the tenants' role bindings.

Role bindings live in the ``role_bindings`` table (tenant-scoped, audited, paginated like any
resource) and are mirrored into the enforcer: changes made through this process apply at once;
changes made by another replica apply within ``refresh_seconds`` (the enforcer reloads them).
Decisions are cached per (principal, tenant, permission) until the next change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from importlib import resources

import casbin
from sqlalchemy import select

from controlplane.auth.roles import PLATFORM_TENANT, ROLE_PERMISSIONS, role_name
from controlplane.names import PRINCIPAL
from controlplane.store.db import Database
from controlplane.store.models import Principal, RoleBinding
from controlplane.store.tenancy import platform_scope
from controlplane.v1 import tenant_service_pb2 as tenant_pb

log = logging.getLogger(__name__)

ANY_TENANT = "*"


def _role_subject(role: int) -> str:
    return f"role:{role_name(role)}"


_PLATFORM_ADMIN = _role_subject(tenant_pb.ROLE_PLATFORM_ADMIN)


def binding_domain(tenant_id: str, role: int) -> str:
    """A platform-admin binding in the platform tenant applies to every tenant."""
    if role == tenant_pb.ROLE_PLATFORM_ADMIN and tenant_id == PLATFORM_TENANT:
        return ANY_TENANT
    return tenant_id


class Authorizer:
    def __init__(self, db: Database, *, refresh_seconds: float = 5.0) -> None:
        self.db = db
        self.refresh_seconds = refresh_seconds
        model = casbin.Enforcer.new_model(
            text=resources.files("controlplane.auth").joinpath("rbac_model.conf").read_text()
        )
        self._enforcer = casbin.Enforcer(model)
        self._enforcer.enable_auto_save(False)
        self._add_role_permissions()
        self._cache: dict[tuple[str, str, str], bool] = {}
        self._task: asyncio.Task[None] | None = None

    def _add_role_permissions(self) -> None:
        """The ``p`` rules: each built-in role and the permissions it grants."""
        self._enforcer.add_policies(
            [
                [_role_subject(role), permission]
                for role, permissions in ROLE_PERMISSIONS.items()
                for permission in sorted(permissions)
            ]
        )

    async def load(self) -> None:
        """Replaces the enforcer's bindings with those in the database."""
        with platform_scope():
            async with self.db.read() as session:
                rows = (
                    await session.execute(
                        select(Principal.tenant_id, Principal.principal_id, RoleBinding.role).join(
                            Principal, Principal.pk == RoleBinding.principal_pk
                        )
                    )
                ).all()
        grouping = sorted(
            {
                (
                    PRINCIPAL.format(tenant, principal),
                    _role_subject(role),
                    binding_domain(tenant, role),
                )
                for tenant, principal, role in rows
            }
        )
        current = {tuple(rule) for rule in self._enforcer.get_grouping_policy()}
        if current != set(grouping):
            self._enforcer.clear_policy()
            self._add_role_permissions()
            if grouping:
                self._enforcer.add_grouping_policies([list(rule) for rule in grouping])
            self._cache.clear()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.load()
            except Exception:
                log.exception("reloading role bindings failed; keeping the previous ones")

    def allowed(self, principal: str, tenant: str, permission: str) -> bool:
        key = (principal, tenant, permission)
        decision = self._cache.get(key)
        if decision is None:
            decision = bool(self._enforcer.enforce(principal, tenant, permission))
            self._cache[key] = decision
        return decision

    def roles(self, principal: str, tenant: str) -> list[int]:
        names = set(self._enforcer.get_roles_for_user_in_domain(principal, tenant))
        names |= set(self._enforcer.get_roles_for_user_in_domain(principal, ANY_TENANT))
        return sorted(role for role in ROLE_PERMISSIONS if _role_subject(role) in names)

    def is_platform_admin(self, principal: str) -> bool:
        # Cached beside the permission decisions (asked on every call across tenants).
        key = (principal, ANY_TENANT, _PLATFORM_ADMIN)
        decision = self._cache.get(key)
        if decision is None:
            decision = _PLATFORM_ADMIN in self._enforcer.get_roles_for_user_in_domain(
                principal, ANY_TENANT
            )
            self._cache[key] = decision
        return decision

    def grant(self, principal: str, tenant: str, role: int) -> None:
        self._enforcer.add_grouping_policy(
            principal, _role_subject(role), binding_domain(tenant, role)
        )
        self._cache.clear()

    def revoke(self, principal: str, tenant: str, role: int) -> None:
        self._enforcer.remove_grouping_policy(
            principal, _role_subject(role), binding_domain(tenant, role)
        )
        self._cache.clear()

    def forget_principal(self, principal: str) -> None:
        for rule in list(self._enforcer.get_filtered_grouping_policy(0, principal)):
            self._enforcer.remove_grouping_policy(*rule)
        self._cache.clear()
