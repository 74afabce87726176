"""Opaque ids: a row's primary key shown as a keyed pseudo-random permutation of it.

Audit events get an id in their name (``tenants/{t}/auditEvents/{id}``), but every write of
every tenant appends one, so a per-tenant sequence would make concurrent writes of a tenant
wait on each other until commit (on PostgreSQL). Their primary key cannot be shown either: it
counts every tenant's writes. So the id is the pk passed through a permutation of 64-bit numbers
keyed with a server secret: unique and stable like the pk, but without the key it looks random
and says nothing about how many rows came between two ids (or before one).

The permutation is a balanced Feistel network over two 32-bit halves whose round function is
HMAC-SHA256 (Luby-Rackoff: with enough rounds of a pseudo-random function, a pseudo-random
permutation). ``decode`` inverts it, for an id a caller sends back.
"""

from __future__ import annotations

import hashlib
import hmac

ROUNDS = 8
_MASK32 = 0xFFFFFFFF
_WIDTH = 16  # hex digits of a 64-bit id


class OpaqueIds:
    def __init__(self, key: bytes) -> None:
        self._keys = [hmac.new(key, bytes([i]), hashlib.sha256).digest() for i in range(ROUNDS)]

    def _round(self, index: int, half: int) -> int:
        digest = hmac.new(self._keys[index], half.to_bytes(4, "big"), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big")

    def encode(self, number: int) -> str:
        """The id of ``number`` (0 <= number < 2**64): 16 lowercase hex digits."""
        if not 0 <= number < 1 << 64:
            raise ValueError(f"{number} is not a 64-bit unsigned number")
        left, right = number >> 32, number & _MASK32
        for index in range(ROUNDS):
            left, right = right, left ^ self._round(index, right)
        return f"{(left << 32) | right:0{_WIDTH}x}"

    def decode(self, opaque: str) -> int | None:
        """The number whose id is ``opaque``; None when it is not an id at all."""
        if len(opaque) != _WIDTH or opaque.strip("0123456789abcdef"):
            return None
        value = int(opaque, 16)
        left, right = value >> 32, value & _MASK32
        for index in reversed(range(ROUNDS)):
            left, right = right ^ self._round(index, left), left
        return (left << 32) | right
