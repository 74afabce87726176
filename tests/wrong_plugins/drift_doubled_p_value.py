"""A Kolmogorov-Smirnov detector that doubles scipy's p-value "to make it two-sided", which it
already is: p-values run up to 2.0, and the test calls drift half as often as its level says."""

from __future__ import annotations

import numpy as np
from controlplane_drift_scipy import samples

from controlplane.interfaces.drift import DriftDetector, DriftResult, FeatureKind


class DoubledPValueDetector(DriftDetector):
    name = "ks-doubled"
    kinds = frozenset({FeatureKind.NUMERIC})
    alpha = 0.05

    def detect(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        from scipy import stats

        result = stats.ks_2samp(
            samples.numeric(reference, self.name, "reference"),
            samples.numeric(current, self.name, "current"),
        )
        p_value = 2.0 * float(result.pvalue)  # the mistake: ks_2samp is two-sided already
        return DriftResult(
            statistic=float(result.statistic),
            score=1.0 - p_value,
            p_value=p_value,
            threshold=self.alpha,
            drifted=p_value < self.alpha,
        )
