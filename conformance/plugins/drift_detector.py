"""The drift detector conformance suite (``controlplane.interfaces.DriftDetector``).

A plugin author subclasses ``DriftDetectorSuite`` (or some of the classes it combines) in a
``test_*.py`` file and overrides the fixtures::

    import pytest
    from conformance.plugins.drift_detector import DriftDetectorSuite

    class TestMyDetector(DriftDetectorSuite):
        @pytest.fixture
        def drift_detector(self):
            return MyDetector()

        @pytest.fixture
        def capabilities(self):
            return {"p_values"}  # only if the detector reports a p-value

Every test about data runs once per feature kind: for the kinds the detector declares
(``kinds``) it checks the decisions, the results and the refusals; for the kinds it does not
declare it checks that ``detect`` raises ``ValueError``. The data are seeded, so every run
sees the same samples: numeric features are 2000 draws of a standard normal (shifted by one
standard deviation for drift); categorical ones 2000 draws of five colours with fixed
probabilities (reversed for drift).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from conformance.capabilities import requires
from conformance.suite import ConformanceSuite
from controlplane.interfaces.drift import DriftDetector, DriftResult, FeatureKind

SAMPLE_SIZE = 2000
#: Numeric drift: the current sample's mean moves by this many standard deviations.
SHIFT = 1.0
CATEGORIES = ("red", "green", "blue", "yellow", "purple")
#: Categorical drift: the current sample draws with these probabilities reversed.
PROBABILITIES = (0.4, 0.25, 0.15, 0.12, 0.08)
#: The seeds of the reference and current samples of the main pair.
REFERENCE_SEED, CURRENT_SEED = 1, 2


def numeric_sample(
    seed: int, shift: float = 0.0, size: int = SAMPLE_SIZE
) -> npt.NDArray[np.float64]:
    """``size`` draws of a normal distribution with mean ``shift`` and standard deviation 1."""
    return np.random.default_rng(seed).normal(shift, 1.0, size)


def categorical_sample(
    seed: int, reverse: bool = False, size: int = SAMPLE_SIZE
) -> npt.NDArray[np.str_]:
    """``size`` draws of ``CATEGORIES`` with ``PROBABILITIES`` (reversed if ``reverse``)."""
    probabilities = PROBABILITIES[::-1] if reverse else PROBABILITIES
    return np.random.default_rng(seed).choice(np.array(CATEGORIES), size, p=probabilities)


def sample(
    kind: FeatureKind, seed: int, drifted: bool = False, size: int = SAMPLE_SIZE
) -> npt.NDArray[Any]:
    """A seeded sample of ``kind``: of the reference distribution, or of the drifted one."""
    if kind is FeatureKind.NUMERIC:
        return numeric_sample(seed, SHIFT if drifted else 0.0, size)
    return categorical_sample(seed, drifted, size)


def null_pair(kind: FeatureKind, index: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """The ``index``-th pair of independent samples of the reference distribution."""
    return sample(kind, 100 + 2 * index), sample(kind, 101 + 2 * index)


def empty(kind: FeatureKind) -> npt.NDArray[Any]:
    return np.array([], dtype=np.float64 if kind is FeatureKind.NUMERIC else np.str_)


def other(kind: FeatureKind) -> FeatureKind:
    return next(k for k in FeatureKind if k is not kind)


def assert_valid_result(result: object) -> None:
    """A ``DriftResult`` of finite floats, a p-value in [0, 1] or None, and a real bool."""
    assert isinstance(result, DriftResult), f"detect returned {result!r}, not a DriftResult"
    for field in ("statistic", "score", "threshold"):
        value = getattr(result, field)
        assert isinstance(value, float), f"{field} is {value!r}, not a float"
        assert math.isfinite(value), f"{field} is {value}"
    if result.p_value is not None:
        assert isinstance(result.p_value, float), f"p_value is {result.p_value!r}"
        assert 0.0 <= result.p_value <= 1.0, f"p_value is {result.p_value}"
    # np.bool_ is not a bool: `is True` is false for it and json.dumps refuses it.
    assert isinstance(result.drifted, bool), f"drifted is {result.drifted!r}, not a bool"


class DriftDetectorFixtures(ConformanceSuite):
    """The fixtures a plugin author overrides, and the per-kind fixtures the tests use."""

    #: Independent pairs of samples of one distribution checked for false alarms, and how
    #: many of them may be called drifted. A test at the 5% level calls 5 or more of 20
    #: drifted with probability 0.3%, and the samples are seeded, so it passes every time.
    null_pairs: ClassVar[int] = 20
    max_false_alarms: ClassVar[int] = 4

    @pytest.fixture
    def drift_detector(self) -> DriftDetector:
        """The detector under test (tests may call it more than once)."""
        raise NotImplementedError(
            "override the `drift_detector` fixture in your subclass of the drift detector "
            "suite: it returns the DriftDetector under test (for example MyDetector())"
        )

    @pytest.fixture(params=list(FeatureKind), ids=lambda kind: kind.value)
    def declared_kind(
        self, request: pytest.FixtureRequest, drift_detector: DriftDetector
    ) -> FeatureKind:
        """Each kind the detector declares (the test is skipped for the others)."""
        kind: FeatureKind = request.param
        if kind not in drift_detector.kinds:
            pytest.skip(f"the detector does not declare the {kind.value} kind")
        return kind

    @pytest.fixture(params=list(FeatureKind), ids=lambda kind: kind.value)
    def undeclared_kind(
        self, request: pytest.FixtureRequest, drift_detector: DriftDetector
    ) -> FeatureKind:
        """Each kind the detector does not declare (the test is skipped for the others)."""
        kind: FeatureKind = request.param
        if kind in drift_detector.kinds:
            pytest.skip(f"the detector declares the {kind.value} kind")
        return kind


class DriftDetectorDeclarationTests(DriftDetectorFixtures):
    """What a detector says about itself."""

    def test_is_a_drift_detector(self, drift_detector: DriftDetector) -> None:
        assert isinstance(drift_detector, DriftDetector)

    def test_declares_at_least_one_feature_kind(self, drift_detector: DriftDetector) -> None:
        kinds = drift_detector.kinds
        assert isinstance(kinds, frozenset), f"kinds is {kinds!r}, not a frozenset"
        assert kinds, "kinds is empty: declare the FeatureKinds the detector tests"
        assert all(isinstance(kind, FeatureKind) for kind in kinds), kinds


class DriftDetectorDecisionTests(DriftDetectorFixtures):
    """Drift is found where there is drift, and only there."""

    def test_a_sample_against_itself_is_not_drifted(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        values = sample(declared_kind, REFERENCE_SEED)
        assert not drift_detector.detect(values, values.copy()).drifted

    def test_samples_of_one_distribution_are_rarely_drifted(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        alarms = sum(
            drift_detector.detect(*null_pair(declared_kind, index)).drifted
            for index in range(self.null_pairs)
        )
        assert alarms <= self.max_false_alarms, (
            f"{alarms} of {self.null_pairs} pairs of samples of one distribution were called "
            f"drifted (at most {self.max_false_alarms} may be)"
        )

    def test_a_shifted_distribution_is_drifted(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        result = drift_detector.detect(
            sample(declared_kind, REFERENCE_SEED),
            sample(declared_kind, CURRENT_SEED, drifted=True),
        )
        assert result.drifted, result

    def test_a_shifted_distribution_scores_higher_than_the_same_one(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        reference = sample(declared_kind, REFERENCE_SEED)
        same = drift_detector.detect(reference, sample(declared_kind, CURRENT_SEED))
        shifted = drift_detector.detect(
            reference, sample(declared_kind, CURRENT_SEED, drifted=True)
        )
        assert shifted.score > same.score, (same, shifted)


class DriftDetectorResultTests(DriftDetectorFixtures):
    """The shape of a result, and what ``detect`` leaves alone."""

    @pytest.mark.parametrize("drifted", [False, True], ids=["same", "shifted"])
    def test_result_is_a_drift_result_of_finite_floats(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind, drifted: bool
    ) -> None:
        assert_valid_result(
            drift_detector.detect(
                sample(declared_kind, REFERENCE_SEED),
                sample(declared_kind, CURRENT_SEED, drifted=drifted),
            )
        )

    def test_detect_is_deterministic(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        reference = sample(declared_kind, REFERENCE_SEED)
        current = sample(declared_kind, CURRENT_SEED, drifted=True)
        first = drift_detector.detect(reference, current)
        assert drift_detector.detect(reference.copy(), current.copy()) == first

    def test_detect_does_not_modify_its_inputs(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        # Unsorted and with ties, so a detector that sorts or deduplicates in place shows.
        reference = sample(declared_kind, REFERENCE_SEED, size=500)
        current = np.concatenate([sample(declared_kind, CURRENT_SEED, size=500), reference[:50]])
        reference_before, current_before = reference.copy(), current.copy()
        drift_detector.detect(reference, current)
        assert reference.dtype == reference_before.dtype
        assert np.array_equal(reference, reference_before)
        assert current.dtype == current_before.dtype
        assert np.array_equal(current, current_before)

    def test_detect_accepts_read_only_arrays(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        # The server may hand in zero-copy views of Arrow data, which numpy marks read-only.
        reference = sample(declared_kind, REFERENCE_SEED)
        current = sample(declared_kind, CURRENT_SEED, drifted=True)
        expected = drift_detector.detect(reference, current)
        reference.flags.writeable = False
        current.flags.writeable = False
        assert drift_detector.detect(reference, current) == expected


class DriftDetectorRefusalTests(DriftDetectorFixtures):
    """``ValueError`` for what cannot be tested."""

    def test_an_empty_reference_raises_value_error(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        with pytest.raises(ValueError):
            drift_detector.detect(empty(declared_kind), sample(declared_kind, CURRENT_SEED))

    def test_an_empty_current_sample_raises_value_error(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        with pytest.raises(ValueError):
            drift_detector.detect(sample(declared_kind, REFERENCE_SEED), empty(declared_kind))

    def test_an_undeclared_kind_raises_value_error(
        self, drift_detector: DriftDetector, undeclared_kind: FeatureKind
    ) -> None:
        with pytest.raises(ValueError):
            drift_detector.detect(
                sample(undeclared_kind, REFERENCE_SEED), sample(undeclared_kind, CURRENT_SEED)
            )

    def test_samples_of_different_kinds_raise_value_error(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        declared = sample(declared_kind, REFERENCE_SEED)
        undeclared = sample(other(declared_kind), CURRENT_SEED)
        with pytest.raises(ValueError):
            drift_detector.detect(declared, undeclared)
        with pytest.raises(ValueError):
            drift_detector.detect(undeclared, declared)


class DriftDetectorPValueTests(DriftDetectorFixtures):
    """A statistical test's p-value, and the decision and score it implies: the threshold is
    the significance level, drifted means p < threshold, and the score is 1 - p. Each test
    carries ``requires("p_values")``, not the class: pytest would carry a class's marks into
    every class that combines it."""

    @requires("p_values")
    @pytest.mark.parametrize("drifted", [False, True], ids=["same", "shifted"])
    def test_p_value_is_in_the_unit_interval(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind, drifted: bool
    ) -> None:
        result = drift_detector.detect(
            sample(declared_kind, REFERENCE_SEED),
            sample(declared_kind, CURRENT_SEED, drifted=drifted),
        )
        assert result.p_value is not None, "a detector declaring p_values reported none"
        assert 0.0 <= result.p_value <= 1.0, result

    @requires("p_values")
    def test_drifted_means_the_p_value_is_below_the_threshold(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        # Pairs of one distribution, then shifted pairs: p-values on both sides of any level.
        pairs = [null_pair(declared_kind, index) for index in range(self.null_pairs)]
        pairs.append(
            (
                sample(declared_kind, REFERENCE_SEED),
                sample(declared_kind, CURRENT_SEED, drifted=True),
            )
        )
        for reference, current in pairs:
            result = drift_detector.detect(reference, current)
            assert result.p_value is not None, result
            assert 0.0 < result.threshold < 1.0, result
            assert result.drifted == (result.p_value < result.threshold), result

    @requires("p_values")
    @pytest.mark.parametrize("drifted", [False, True], ids=["same", "shifted"])
    def test_score_is_one_minus_the_p_value(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind, drifted: bool
    ) -> None:
        result = drift_detector.detect(
            sample(declared_kind, REFERENCE_SEED),
            sample(declared_kind, CURRENT_SEED, drifted=drifted),
        )
        assert result.p_value is not None, result
        assert result.score == pytest.approx(1.0 - result.p_value, abs=1e-12), result


class DriftDetectorSuite(
    DriftDetectorDeclarationTests,
    DriftDetectorDecisionTests,
    DriftDetectorResultTests,
    DriftDetectorRefusalTests,
    DriftDetectorPValueTests,
):
    """Every drift detector test."""
