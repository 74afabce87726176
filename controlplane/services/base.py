"""What every servicer shares."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.auth.authenticator import Authenticator
from controlplane.auth.authorizer import Authorizer
from controlplane.store.db import Database
from controlplane.store.pagination import PageTokens


@dataclass
class Services:
    """The server's long-lived parts that servicers use (one per process)."""

    db: Database
    tokens: PageTokens
    authenticator: Authenticator
    authorizer: Authorizer
