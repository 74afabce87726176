"""Bearer-token authentication against stored API key hashes.

Verified tokens are cached for ``ttl_seconds`` (keyed by the token's SHA-256, never the token
itself), so a busy client pays one database read per TTL rather than per call. Revoking a key
or disabling a principal through this process drops its cache entries at once; another
replica notices within the TTL.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from sqlalchemy import select

from controlplane import clock
from controlplane.auth import keys
from controlplane.errors import Unauthenticated
from controlplane.names import PRINCIPAL
from controlplane.store.db import Database
from controlplane.store.models import ApiKey, Principal
from controlplane.store.tenancy import platform_scope


@dataclass(frozen=True)
class Identity:
    principal: str  # resource name, tenants/{t}/principals/{p}
    tenant_id: str
    key_id: str


class Authenticator:
    def __init__(self, db: Database, *, ttl_seconds: float = 10.0) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self._cache: dict[bytes, tuple[Identity, float, int | None]] = {}

    async def authenticate(self, authorization: str | None) -> Identity:
        if not authorization:
            raise Unauthenticated("missing credentials: send 'authorization: Bearer <api key>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the authorization header must be 'Bearer <api key>'")
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(digest)
        now = time.monotonic()
        if (
            cached is not None
            and cached[1] > now
            and (cached[2] is None or cached[2] > clock.now_us())
        ):
            return cached[0]
        identity, expire_time = await self._lookup(token)
        self._cache[digest] = (identity, now + self.ttl, expire_time)
        return identity

    async def _lookup(self, token: str) -> tuple[Identity, int | None]:
        parts = keys.split(token)
        invalid = Unauthenticated("the API key is not valid (unknown, revoked or expired)")
        if parts is None:
            raise invalid
        key_id, secret = parts
        with platform_scope():
            async with self.db.read() as session:
                found = (
                    await session.execute(
                        select(ApiKey, Principal.principal_id, Principal.disabled)
                        .join(Principal, Principal.pk == ApiKey.principal_pk)
                        .where(ApiKey.key_id == key_id)
                    )
                ).first()
        if found is None:
            raise invalid
        key, principal_id, disabled = found
        if not keys.verify(key.salt, key.secret_hash, secret):
            raise invalid
        if key.expire_time is not None and key.expire_time <= clock.now_us():
            raise invalid
        if disabled:
            raise Unauthenticated("the principal of this API key is disabled")
        principal = PRINCIPAL.format(key.tenant_id, principal_id)
        return Identity(principal, key.tenant_id, key_id), key.expire_time

    def forget_key(self, key_id: str) -> None:
        for digest, (identity, _, _) in list(self._cache.items()):
            if identity.key_id == key_id:
                del self._cache[digest]

    def forget_principal(self, principal: str) -> None:
        for digest, (identity, _, _) in list(self._cache.items()):
            if identity.principal == principal:
                del self._cache[digest]

    def forget_tenant(self, tenant_id: str) -> None:
        for digest, (identity, _, _) in list(self._cache.items()):
            if identity.tenant_id == tenant_id:
                del self._cache[digest]
