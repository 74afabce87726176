"""``wasserstein``: the Wasserstein (earth mover's) distance, for numeric features."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from controlplane.interfaces.drift import DriftDetector, DriftResult, FeatureKind
from controlplane_drift_scipy import samples


class WassersteinDetector(DriftDetector):
    """The first Wasserstein distance between the two samples
    (``scipy.stats.wasserstein_distance``) divided by the reference's standard deviation
    (population, ddof 0), so the statistic is in units of the reference's spread and one
    threshold fits every feature: shifting a sample by one standard deviation gives 1.0.
    ``statistic`` and ``score`` are the normalised distance; drifted when it is >=
    ``threshold``. No p-value. NaNs are dropped first; a constant reference (standard
    deviation 0) cannot be normalised and raises ``ValueError``: use ``psi`` or
    ``jensen-shannon`` for such a feature.
    """

    name = "wasserstein"
    kinds = frozenset({FeatureKind.NUMERIC})
    #: Drifted when the normalised distance >= threshold (a tenth of a standard deviation).
    threshold: ClassVar[float] = 0.1

    def detect(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        from scipy import stats  # slow to import: only when a detector runs

        expected = samples.numeric(reference, self.name, "reference")
        actual = samples.numeric(current, self.name, "current")
        spread = float(np.std(expected))
        if spread == 0.0:
            raise ValueError(
                f"{self.name}: the reference sample is constant (standard deviation 0), so the "
                "distance cannot be normalised; use psi or jensen-shannon for this feature"
            )
        distance = float(stats.wasserstein_distance(expected, actual)) / spread
        return DriftResult(
            statistic=distance,
            score=distance,
            p_value=None,
            threshold=self.threshold,
            drifted=distance >= self.threshold,
        )
