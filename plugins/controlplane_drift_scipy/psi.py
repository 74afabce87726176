"""``psi``: the population stability index, for numeric features."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from controlplane.interfaces.drift import DriftDetector, DriftResult, FeatureKind
from controlplane_drift_scipy import histograms, samples


class PopulationStabilityIndexDetector(DriftDetector):
    """PSI = sum over bins of (c - r) * ln(c / r), where r and c are the reference's and the
    current sample's proportions in each bin. The bins are cut at the reference's deciles
    (``bins``; the outer bins are open-ended, tied cut points merge); a proportion of 0 counts
    as ``epsilon`` so an empty bin adds a large but finite term. ``statistic`` and ``score``
    are the PSI; drifted when PSI >= ``threshold``. No p-value. NaNs are dropped first.

    The threshold is the common rule of thumb: below 0.1 stable, 0.1 to 0.2 a moderate shift,
    0.2 and above a significant one.
    """

    name = "psi"
    kinds = frozenset({FeatureKind.NUMERIC})
    #: Drifted when PSI >= threshold.
    threshold: ClassVar[float] = 0.2
    #: Quantile bins cut from the reference.
    bins: ClassVar[int] = 10
    #: The proportion an empty bin counts as.
    epsilon: ClassVar[float] = 1e-4

    def detect(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        reference_counts, current_counts = histograms.quantile_bin_counts(
            samples.numeric(reference, self.name, "reference"),
            samples.numeric(current, self.name, "current"),
            self.bins,
        )
        expected = np.maximum(histograms.proportions(reference_counts), self.epsilon)
        actual = np.maximum(histograms.proportions(current_counts), self.epsilon)
        psi = float(np.sum((actual - expected) * np.log(actual / expected)))
        return DriftResult(
            statistic=psi,
            score=psi,
            p_value=None,
            threshold=self.threshold,
            drifted=psi >= self.threshold,
        )
