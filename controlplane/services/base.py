"""What every servicer shares."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class WatchLimits:
    """How ``Watch...`` streams behave (how often the server looks for changes made through
    other servers is the server's feed poll: ``Settings.watch_poll_seconds``)."""

    # A watch ends (OK) after this long; the client resumes from the last item it received.
    # This bounds how long an idle stream holds a connection and its caller's old identity.
    max_seconds: float = 600.0


@dataclass
class Services:
    """The server's long-lived parts that servicers use (one per process)."""

    db: Database
    tokens: PageTokens
    authenticator: Authenticator
    authorizer: Authorizer
    plugins: LoadedPlugins | None = None
    artifact_store: BlobStore | None = None
    watch: WatchLimits = field(default_factory=WatchLimits)


async def delete_resource(unit: UnitOfWork, row: Versioned, name: str, etag: str) -> None:
    """Deletes a mutable resource if ``etag`` is current (or empty), and audits it."""
    check.check_etag(etag, row.version, name)
    await unit.session.delete(row)
    unit.audit(name, action="delete")
