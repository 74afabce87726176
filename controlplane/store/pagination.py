"""Keyset pagination with tamper-proof, sealed page tokens.

A page token carries the sort values of the last row returned together with a fingerprint of
the query it belongs to, sealed with keys derived from the server's page-token key (shared by
every replica through the database): authenticated (HMAC-SHA256) and encrypted, because the
sort values end with the row's primary key, a number every tenant's writes advance, which a
tenant must not be able to read. A token that was altered, or that is replayed with a
different parent, filter or order, is refused with INVALID_ARGUMENT (INVALID_PAGE_TOKEN).
Pages are found by ``WHERE (keys) > (last keys)``, never by OFFSET, so page 1000 costs what
page 1 costs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import UnaryExpression

from controlplane.errors import InvalidArgument, InvalidPageToken

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_SIGNATURE_BYTES = 16


def page_size(
    requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE
) -> int:
    if requested < 0:
        raise InvalidArgument.for_field("page_size", "must not be negative")
    if requested > maximum:
        raise InvalidArgument.for_field("page_size", f"must be at most {maximum}")
    return requested or default


# Longer than any token this server issues (a query's parent, filter and order_by are each
# limited to a few KiB); a longer one is refused unread, so junk costs nothing to refuse.
MAX_TOKEN_CHARACTERS = 256 * 1024


class PageTokens:
    """Tokens are sealed deterministically (SIV: the tag of the plaintext is the encryption's
    nonce), so they are no longer than signed ones and the same page gives the same token."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._tag_key = self.derive_key("page-token-tag")
        self._stream_key = self.derive_key("page-token-stream")

    def derive_key(self, purpose: str) -> bytes:
        """A key of its own for ``purpose``, derived from the server's key (the same on every
        replica): what one use of the key reveals says nothing about another's."""
        message = b"controlplane key for " + purpose.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _sign(self, body: bytes) -> bytes:
        """The signature of the tokens issued before they were sealed (still accepted)."""
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._tag_key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def _crypt(self, tag: bytes, data: bytes) -> bytes:
        """``data`` XOR the key stream of ``tag``: SHAKE-256 of the stream key and the tag, an
        extendable-output function, so one call makes a stream of any length."""
        size = len(data)
        stream = hashlib.shake_256(self._stream_key + tag).digest(size)
        mixed = int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")
        return mixed.to_bytes(size, "big")

    def encode(self, query: Sequence[Any], position: Sequence[Any]) -> str:
        body = json.dumps([list(query), list(position)], separators=(",", ":")).encode()
        tag = self._tag(body)
        return base64.urlsafe_b64encode(tag + self._crypt(tag, body)).decode().rstrip("=")

    def decode(self, token: str, query: Sequence[Any]) -> list[Any] | None:
        """The position in ``token``, None for an empty token; raises when it is not genuine
        or belongs to another query."""
        if not token:
            return None
        if len(token) > MAX_TOKEN_CHARACTERS:  # refused before any work is spent on it
            raise _bad_token()
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise _bad_token() from None
        tag, sealed = raw[:_SIGNATURE_BYTES], raw[_SIGNATURE_BYTES:]
        if len(tag) != _SIGNATURE_BYTES:
            raise _bad_token()
        body = self._crypt(tag, sealed)
        if not hmac.compare_digest(tag, self._tag(body)):
            if not hmac.compare_digest(tag, self._sign(sealed)):
                raise _bad_token()
            body = sealed  # issued before tokens were sealed: signed, in clear
        token_query, position = json.loads(body)
        if token_query != json.loads(json.dumps(list(query))):
            raise InvalidPageToken.for_field(
                "page_token", "belongs to a different query (parent, filter or order_by changed)"
            )
        return list(position)


def _bad_token() -> InvalidPageToken:
    return InvalidPageToken.for_field("page_token", "is not a token this server issued")


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY key. Nullable keys sort their NULLs last in both directions."""

    expr: ColumnElement[Any] | QueryableAttribute[Any]
    descending: bool = False
    nullable: bool = False

    def order_clause(self) -> UnaryExpression[Any]:
        clause = self.expr.desc() if self.descending else self.expr.asc()
        return clause.nulls_last() if self.nullable else clause

    def after(self, value: Any) -> ColumnElement[bool]:
        if value is None:
            return false()  # NULLs are last: nothing sorts after a NULL on this key.
        beyond = self.expr < value if self.descending else self.expr > value
        return or_(beyond, self.expr.is_(None)) if self.nullable else beyond

    def equals(self, value: Any) -> ColumnElement[bool]:
        return self.expr.is_(None) if value is None else self.expr == value


def after_position(keys: Sequence[SortKey], position: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``position`` in the order of ``keys`` (lexicographic)."""
    if len(position) != len(keys):
        raise _bad_token()
    alternatives = []
    for index, key in enumerate(keys):
        prefix = [keys[j].equals(position[j]) for j in range(index)]
        alternatives.append(and_(*prefix, key.after(position[index])))
    return or_(*alternatives)
