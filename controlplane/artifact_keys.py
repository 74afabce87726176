"""Artifact store keys: the one place that says what a key may look like.

A key is a ``/``-separated relative path whose segments are made of letters, digits, ``.``,
``_`` and ``-`` (``controlplane.interfaces.artifact_store``). Stores map keys to file paths,
object names or rows, so a key that could escape a store's root (absolute, ``..``) or name
the same blob two ways (``a//b``, ``a/./b``, ``a/``) is refused with ``ValueError`` before it
reaches a path. Every built-in store calls ``validate_key``; third-party stores should too.
"""

from __future__ import annotations

import re

# Files, object names and rows all accept these; 255 is the common file-name limit.
MAX_KEY_LENGTH = 1024
MAX_SEGMENT_LENGTH = 255
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_PREFIX_CHARS = re.compile(r"[A-Za-z0-9._/-]*")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_TENANT = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")


def validate_key(key: str) -> str:
    """Returns ``key`` unchanged, or raises ``ValueError`` saying what is wrong with it."""
    if not isinstance(key, str):
        raise ValueError(f"artifact key must be a string, not {type(key).__name__}")
    if not key:
        raise ValueError("artifact key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"artifact key is longer than {MAX_KEY_LENGTH} characters")
    if key.startswith("/"):
        raise ValueError(f"artifact key {key!r} is absolute; keys are relative paths")
    for segment in key.split("/"):
        if not segment:
            raise ValueError(f"artifact key {key!r} has an empty segment")
        if segment in (".", ".."):
            raise ValueError(f"artifact key {key!r} has a {segment!r} segment")
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise ValueError(
                f"artifact key {key!r} has a segment longer than {MAX_SEGMENT_LENGTH} characters"
            )
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"artifact key {key!r}: segment {segment!r} may only contain letters, digits, "
                "'.', '_' and '-'"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """Returns a ``list_keys`` prefix unchanged, or raises ``ValueError``. A prefix may end
    anywhere (``tenants/ac``, ``tenants/``) but may not escape the root."""
    if not isinstance(prefix, str):
        raise ValueError(f"artifact key prefix must be a string, not {type(prefix).__name__}")
    if len(prefix) > MAX_KEY_LENGTH:
        raise ValueError(f"artifact key prefix is longer than {MAX_KEY_LENGTH} characters")
    if prefix.startswith("/"):
        raise ValueError(f"artifact key prefix {prefix!r} is absolute")
    if not _PREFIX_CHARS.fullmatch(prefix):
        raise ValueError(
            f"artifact key prefix {prefix!r} may only contain letters, digits, '.', '_', '-' "
            "and '/'"
        )
    segments = prefix.split("/")
    # Every segment before the last is complete, so it must be a valid segment on its own.
    for segment in segments[:-1]:
        if segment in ("", ".", ".."):
            raise ValueError(f"artifact key prefix {prefix!r} has a {segment!r} segment")
    if segments[-1] == "..":
        raise ValueError(f"artifact key prefix {prefix!r} has a '..' segment")
    return prefix


def blob_key(tenant: str, sha256_hex: str) -> str:
    """The key of a tenant's blob with this content hash:
    ``tenants/{tenant}/sha256/{hex[:2]}/{hex}`` (the fan-out keeps directories small)."""
    if not _TENANT.fullmatch(tenant):
        raise ValueError(f"{tenant!r} is not a tenant id")
    if not _SHA256_HEX.fullmatch(sha256_hex):
        raise ValueError(f"{sha256_hex!r} is not a lowercase hex sha256 digest")
    return f"tenants/{tenant}/sha256/{sha256_hex[:2]}/{sha256_hex}"
