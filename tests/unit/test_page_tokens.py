"""Page tokens: sealed, bound to their query, and refused unread when far too long."""

from __future__ import annotations

import pytest

from controlplane.errors import InvalidPageToken
from controlplane.store.pagination import MAX_TOKEN_CHARACTERS, PageTokens

TOKENS = PageTokens(b"k" * 32)
QUERY = ["ListExperiments", "tenants/a", 'display_name = "x"' * 200]


def test_a_token_reads_back_its_position_for_its_own_query_only() -> None:
    token = TOKENS.encode(QUERY, [7, "é"])
    assert TOKENS.decode(token, QUERY) == [7, "é"]
    with pytest.raises(InvalidPageToken):
        TOKENS.decode(token, [*QUERY[:2], "other"])


def test_a_token_says_nothing_of_its_position_in_clear() -> None:
    token = TOKENS.encode(QUERY, [123456789])
    assert "123456789" not in token
    import base64

    assert b"123456789" not in base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


@pytest.mark.parametrize(
    "token", ["x", "A" * 100, "A" * (MAX_TOKEN_CHARACTERS + 1), "A" * 1_000_000, "é" * 10]
)
def test_junk_is_an_invalid_page_token(token: str) -> None:
    with pytest.raises(InvalidPageToken) as refused:
        TOKENS.decode(token, QUERY)
    assert refused.value.violations[0].field == "page_token"


def test_the_largest_token_this_server_issues_is_under_the_limit() -> None:
    # The longest parent, filter and order_by the API accepts, JSON-escaped at worst.
    query = ["SearchRuns", "t" * 512, "\u0001" * 4096, "\u0001" * 4096]
    token = TOKENS.encode(query, ["\u0001" * 5000, 2**63 - 1])
    assert len(token) <= MAX_TOKEN_CHARACTERS
    assert TOKENS.decode(token, query) == ["\u0001" * 5000, 2**63 - 1]
