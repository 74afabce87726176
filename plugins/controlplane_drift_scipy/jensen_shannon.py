"""``jensen-shannon``: the Jensen-Shannon distance, for numeric and categorical features."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from controlplane.interfaces.drift import DriftDetector, DriftResult, FeatureKind
from controlplane_drift_scipy import histograms, samples


def jensen_shannon_distance(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> float:
    """The square root of the Jensen-Shannon divergence in bits, in [0, 1]: equal to
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, but clamped so that rounding
    never yields NaN (the root of a tiny negative) or a value above 1."""
    from scipy.special import rel_entr  # slow to import: only when a detector runs

    middle = (p + q) / 2
    divergence = float(np.sum(rel_entr(p, middle)) + np.sum(rel_entr(q, middle))) / 2
    return math.sqrt(min(max(divergence / math.log(2), 0.0), 1.0))


class JensenShannonDetector(DriftDetector):
    """The Jensen-Shannon distance (base 2, so in [0, 1]: 0 for equal distributions, 1 for
    disjoint ones) between the two samples' distributions. Categorical: the proportions of
    each category (the union of both samples'). Numeric: the proportions in ``bins`` bins cut
    at the reference's quantiles, the outer bins open-ended (as ``psi``), so a current sample
    wholly beyond the reference's range scores about 0.87, not 1. ``statistic`` and
    ``score`` are the distance; drifted when it is >= ``threshold``. No p-value.

    The kind is decided by dtype (``controlplane_drift_scipy.samples``): integer and float
    arrays are numeric, strings, bools and objects categorical; both samples must agree.
    """

    name = "jensen-shannon"
    kinds = frozenset({FeatureKind.NUMERIC, FeatureKind.CATEGORICAL})
    #: Drifted when the distance >= threshold.
    threshold: ClassVar[float] = 0.1
    #: Quantile bins cut from the reference, for numeric features.
    bins: ClassVar[int] = 10

    def detect(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        if samples.common_kind(reference, current, self.name) is FeatureKind.NUMERIC:
            reference_counts, current_counts = histograms.quantile_bin_counts(
                samples.numeric(reference, self.name, "reference"),
                samples.numeric(current, self.name, "current"),
                self.bins,
            )
        else:
            _, reference_counts, current_counts = histograms.category_counts(
                samples.categorical(reference, self.name, "reference"),
                samples.categorical(current, self.name, "current"),
            )
        distance = jensen_shannon_distance(
            histograms.proportions(reference_counts), histograms.proportions(current_counts)
        )
        return DriftResult(
            statistic=distance,
            score=distance,
            p_value=None,
            threshold=self.threshold,
            drifted=distance >= self.threshold,
        )
