"""Counting two samples over the same bins: quantile bins of the reference for numeric
features, the union of the categories for categorical ones."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Counts = npt.NDArray[np.int64]


def quantile_bin_counts(
    reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64], bins: int
) -> tuple[Counts, Counts]:
    """Counts per bin of both samples, the bins cut at the reference's ``bins``-quantiles.

    The outer bins are open-ended, so current values beyond the reference's range land in the
    first or last bin. A value on a cut point belongs to the bin above it. Cut points that
    coincide (a reference with many ties) merge their bins, so there may be fewer than
    ``bins``; a constant reference leaves two: below its value, and from it up.
    """
    cuts = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    return (
        np.bincount(np.searchsorted(cuts, reference, side="right"), minlength=cuts.size + 1),
        np.bincount(np.searchsorted(cuts, current, side="right"), minlength=cuts.size + 1),
    )


def category_counts(
    reference: npt.NDArray[np.str_], current: npt.NDArray[np.str_]
) -> tuple[npt.NDArray[np.str_], Counts, Counts]:
    """The union of the categories (sorted) and both samples' counts of each; a category one
    sample lacks counts 0 there."""
    categories = np.unique(np.concatenate([reference, current]))
    return (
        categories,
        np.bincount(np.searchsorted(categories, reference), minlength=categories.size),
        np.bincount(np.searchsorted(categories, current), minlength=categories.size),
    )


def proportions(counts: Counts) -> npt.NDArray[np.float64]:
    total = counts.sum()
    result: npt.NDArray[np.float64] = counts / total
    return result
