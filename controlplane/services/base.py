"""What every servicer shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from controlplane.auth.authenticator import Authenticator
from controlplane.auth.authorizer import Authorizer
from controlplane.domain import validation as check
from controlplane.store.db import Database, UnitOfWork
from controlplane.store.models import Versioned
from controlplane.store.pagination import PageTokens

if TYPE_CHECKING:
    from controlplane.plugin_loader import LoadedPlugins
    from controlplane.services.artifacts import BlobStore


@dataclass
class Services:
    """The server's long-lived parts that servicers use (one per process)."""

    db: Database
    tokens: PageTokens
    authenticator: Authenticator
    authorizer: Authorizer
    plugins: LoadedPlugins | None = None
    artifact_store: BlobStore | None = None


async def delete_resource(unit: UnitOfWork, row: Versioned, name: str, etag: str) -> None:
    """Deletes a mutable resource if ``etag`` is current (or empty), and audits it."""
    check.check_etag(etag, row.version, name)
    await unit.session.delete(row)
    unit.audit(name, action="delete")
