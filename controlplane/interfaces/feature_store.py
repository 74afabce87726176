"""Feature stores: offline tables for training and an online key-value view for serving.

Tables are Apache Arrow tables (``pyarrow.Table``). The offline side appends and reads whole
tables of a feature view; the online side keeps the latest row per entity key. Feature views
are named ``tenant/view`` by the server, so a store needs no notion of tenants.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyarrow is imported by implementations, not when controlplane loads
    import pyarrow as pa


class FeatureStore(abc.ABC):
    name: str = ""

    @abc.abstractmethod
    def write_offline(self, view: str, table: pa.Table) -> None:
        """Appends ``table`` to the view's offline data (its schema must match earlier ones)."""

    @abc.abstractmethod
    def read_offline(self, view: str, columns: Sequence[str] | None = None) -> pa.Table:
        """All offline rows of the view (only ``columns`` if given). Raises ``KeyError`` for a
        view never written."""

    @abc.abstractmethod
    def write_online(self, view: str, key_column: str, table: pa.Table) -> None:
        """Upserts each row of ``table`` as the latest row of its entity (``key_column``)."""

    @abc.abstractmethod
    def read_online(self, view: str, key_column: str, keys: Sequence[object]) -> pa.Table:
        """The latest row of each key, in the order asked; a key never written gives a row of
        nulls (except the key column)."""
