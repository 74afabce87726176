"""What every servicer shares."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.auth.authenticator import Authenticator
from controlplane.auth.authorizer import Authorizer
from controlplane.domain import validation as check
from controlplane.store.db import Database, UnitOfWork
from controlplane.store.models import Versioned
from controlplane.store.pagination import PageTokens


@dataclass
class Services:
    """The server's long-lived parts that servicers use (one per process)."""

    db: Database
    tokens: PageTokens
    authenticator: Authenticator
    authorizer: Authorizer


async def delete_resource(unit: UnitOfWork, row: Versioned, name: str, etag: str) -> None:
    """Deletes a mutable resource if ``etag`` is current (or empty), and audits it."""
    check.check_etag(etag, row.version, name)
    await unit.session.delete(row)
    unit.audit(name, action="delete")
