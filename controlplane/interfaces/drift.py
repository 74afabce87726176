"""Drift detectors: compare a feature's current values with a reference window.

A detector is a statistical test over two samples of one feature. Numeric features arrive as
1-D float arrays, categorical features as 1-D arrays of strings. Missing values (NaN, None) are
the monitor's business, not the test's: a detector drops them before testing, and a sample
with nothing left is a ``ValueError``. Results are comparable across
detectors through ``drifted`` (the detector's own decision at its threshold) and ``score``.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class FeatureKind(enum.Enum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class DriftResult:
    statistic: float  # the test statistic (KS D, PSI, ...)
    score: float  # larger means more drift; for tests with a p-value, 1 - p
    p_value: float | None  # None for tests without one (PSI, distances)
    threshold: float  # the decision threshold on ``statistic`` or ``p_value``
    drifted: bool


class DriftDetector(abc.ABC):
    name: str = ""
    kinds: frozenset[FeatureKind] = frozenset()

    @abc.abstractmethod
    def detect(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        """Tests ``current`` against ``reference``. Raises ``ValueError`` for an empty sample
        or a kind of data the detector does not handle."""
