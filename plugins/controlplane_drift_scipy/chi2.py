"""``chi2``: Pearson's chi-square test of homogeneity, for categorical features."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from controlplane.interfaces.drift import DriftDetector, DriftResult, FeatureKind
from controlplane_drift_scipy import histograms, samples


class ChiSquareDetector(DriftDetector):
    """Counts each category in both samples (the categories are the union of both, so a
    category one sample lacks counts 0 there) and tests the 2 x k table for homogeneity
    (``scipy.stats.chi2_contingency`` without Yates' correction, k - 1 degrees of freedom).
    ``statistic`` is the chi-square statistic; drifted when the p-value is below ``alpha``;
    ``score`` is 1 - p. A single category in both samples is no drift (statistic 0, p 1).

    Values become categories through ``str``; integer and float arrays are numeric features
    and are refused (pass codes as strings). The chi-square approximation wants an expected
    count of about 5 or more per cell: merge rare categories into one before testing.
    """

    name = "chi2"
    kinds = frozenset({FeatureKind.CATEGORICAL})
    #: The significance level: drifted when p < alpha.
    alpha: ClassVar[float] = 0.05

    def detect(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        from scipy import stats  # slow to import: only when a detector runs

        categories, reference_counts, current_counts = histograms.category_counts(
            samples.categorical(reference, self.name, "reference"),
            samples.categorical(current, self.name, "current"),
        )
        if categories.size == 1:
            statistic, p_value = 0.0, 1.0
        else:
            result = stats.chi2_contingency(
                np.vstack([reference_counts, current_counts]), correction=False
            )
            statistic, p_value = float(result.statistic), float(result.pvalue)
        return DriftResult(
            statistic=statistic,
            score=1.0 - p_value,
            p_value=p_value,
            threshold=self.alpha,
            drifted=p_value < self.alpha,
        )
