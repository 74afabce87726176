"""``ks``: the two-sample Kolmogorov-Smirnov test, for numeric features."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from controlplane.interfaces.drift import DriftDetector, DriftResult, FeatureKind
from controlplane_drift_scipy import samples


class KolmogorovSmirnovDetector(DriftDetector):
    """``statistic`` is D, the largest distance between the two empirical distribution
    functions (``scipy.stats.ks_2samp``, two-sided, exact for small samples); drifted when the
    p-value is below ``alpha``. ``score`` is 1 - p. NaNs are dropped first."""

    name = "ks"
    kinds = frozenset({FeatureKind.NUMERIC})
    #: The significance level: drifted when p < alpha.
    alpha: ClassVar[float] = 0.05

    def detect(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        # Imported here: scipy.stats takes half a second to import, and the server imports
        # every plugin at start whether or not it ever runs a detector.
        from scipy import stats

        result = stats.ks_2samp(
            samples.numeric(reference, self.name, "reference"),
            samples.numeric(current, self.name, "current"),
        )
        p_value = float(result.pvalue)
        return DriftResult(
            statistic=float(result.statistic),
            score=1.0 - p_value,
            p_value=p_value,
            threshold=self.alpha,
            drifted=p_value < self.alpha,
        )
