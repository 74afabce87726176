"""What a detector is given, made into clean samples, and what it refuses.

The kind of a sample is decided by its dtype alone, so every detector agrees on it:

- **numeric**: integer or float arrays (``iuf``). NaNs are missing values and are dropped
  first; an infinite value raises (a distance to infinity is no measure of drift).
- **categorical**: arrays of strings, bytes, bools or objects (``USbO``). Each value becomes a
  category through ``str``; ``None`` and float NaNs in object arrays are missing values and are
  dropped first. Numbers in an object array are categories too (``1`` is ``"1"``, and ``1.0``
  is another category, ``"1.0"``).

An integer or float array is a numeric feature, so a categorical-only detector refuses it:
category codes stored as integers are passed as strings (``codes.astype(str)``). Anything else
(2-D arrays, complex numbers, datetimes) raises ``ValueError``, as does a sample with no value
left once the missing ones are dropped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from controlplane.interfaces.drift import FeatureKind

NUMERIC_DTYPES = "iuf"
CATEGORICAL_DTYPES = "USbO"


def _one_dimensional(values: npt.ArrayLike, detector: str, side: str) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"{detector}: the {side} sample must be a 1-D array, got {array.ndim} dimensions"
        )
    return array


def kind_of(values: npt.ArrayLike, detector: str, side: str) -> FeatureKind:
    """The kind of feature ``values`` holds, by dtype; ``ValueError`` for neither kind."""
    array = _one_dimensional(values, detector, side)
    if array.dtype.kind in NUMERIC_DTYPES:
        return FeatureKind.NUMERIC
    if array.dtype.kind in CATEGORICAL_DTYPES:
        return FeatureKind.CATEGORICAL
    raise ValueError(
        f"{detector}: the {side} sample has dtype {array.dtype}, neither numeric (integers, "
        "floats) nor categorical (strings, bools, objects)"
    )


def common_kind(reference: npt.ArrayLike, current: npt.ArrayLike, detector: str) -> FeatureKind:
    """The kind both samples hold; ``ValueError`` when they differ."""
    reference_kind = kind_of(reference, detector, "reference")
    current_kind = kind_of(current, detector, "current")
    if reference_kind is not current_kind:
        raise ValueError(
            f"{detector}: the reference sample is {reference_kind.value} but the current "
            f"sample is {current_kind.value}"
        )
    return reference_kind


def numeric(values: npt.ArrayLike, detector: str, side: str) -> npt.NDArray[np.float64]:
    """A new float64 array of the sample's values, NaNs dropped."""
    array = _one_dimensional(values, detector, side)
    if array.dtype.kind not in NUMERIC_DTYPES:
        raise ValueError(
            f"{detector} tests numeric features: the {side} sample must be an integer or float "
            f"array, not dtype {array.dtype}"
            + (" (values.astype(float) turns None into NaN)" if array.dtype.kind == "O" else "")
        )
    sample = array.astype(np.float64)  # a copy: the caller's array is never touched
    sample = sample[~np.isnan(sample)]
    if sample.size == 0:
        raise ValueError(f"{detector}: the {side} sample has no values (NaNs are dropped)")
    if not np.isfinite(sample).all():
        raise ValueError(f"{detector}: the {side} sample holds infinite values")
    return sample


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def categorical(values: npt.ArrayLike, detector: str, side: str) -> npt.NDArray[np.str_]:
    """A new array of the sample's categories as strings, missing values dropped."""
    array = _one_dimensional(values, detector, side)
    kind = array.dtype.kind
    if kind not in CATEGORICAL_DTYPES:
        raise ValueError(
            f"{detector} tests categorical features: the {side} sample must hold strings, "
            f"bools or objects, not dtype {array.dtype} (an integer or float array is a numeric "
            "feature; pass category codes as strings with values.astype(str))"
        )
    if kind == "O":
        sample = np.array([str(v) for v in array.tolist() if not _missing(v)], dtype=np.str_)
    else:
        sample = array.astype(np.str_)
    if sample.size == 0:
        raise ValueError(f"{detector}: the {side} sample has no values (None and NaN are dropped)")
    return sample
