"""API keys: ``cpk_<key id>_<secret>``. The key id finds the row; the secret is stored only as
HMAC-SHA256 under a per-key random salt. Secrets are 256 random bits, so a fast keyed hash is
as safe here as a slow password hash, and keeps authentication off the latency budget."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "cpk"


@dataclass(frozen=True)
class NewKey:
    key_id: str
    salt: bytes
    secret_hash: bytes
    token: str  # shown to the caller once, never stored


def hash_secret(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


def generate() -> NewKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    return NewKey(key_id, salt, hash_secret(salt, secret), f"{PREFIX}_{key_id}_{secret}")


def split(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 16 or not parts[2]:
        return None
    return parts[1], parts[2]


def verify(salt: bytes, expected_hash: bytes, secret: str) -> bool:
    return hmac.compare_digest(hash_secret(salt, secret), expected_hash)
