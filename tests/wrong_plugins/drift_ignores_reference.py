"""A detector that checks both samples, then tests the current one against a standard normal
distribution instead of the reference (its author's features were always standardised): right
whenever the reference happens to be N(0, 1), wrong for every other feature."""

from __future__ import annotations

import numpy as np
from controlplane_drift_scipy import samples

from controlplane.interfaces.drift import DriftDetector, DriftResult, FeatureKind


class IgnoresReferenceDetector(DriftDetector):
    name = "ks-standard-normal"
    kinds = frozenset({FeatureKind.NUMERIC})
    alpha = 0.05

    def detect(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        from scipy import stats

        samples.numeric(reference, self.name, "reference")  # checked, then never used
        result = stats.kstest(samples.numeric(current, self.name, "current"), "norm")
        p_value = float(result.pvalue)
        return DriftResult(
            statistic=float(result.statistic),
            score=1.0 - p_value,
            p_value=p_value,
            threshold=self.alpha,
            drifted=p_value < self.alpha,
        )
