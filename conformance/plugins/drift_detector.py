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

Beyond that one pair of distributions, the suite draws from other populations
(``POPULATIONS``: normals far from N(0, 1), a skewed one, categories of other names and
weights), so a detector that ignores its reference, or remembers the first one it saw, calls
samples of one distribution drifted and fails. Every result the suite gets is checked: finite
floats, a p-value in [0, 1], and a decision that agrees with the threshold (p < threshold for a
p-value, the statistic past the threshold otherwise). Detectors declaring ``p_values`` are
also checked as statistical tests: under no drift their false-alarm rate is their level and
their p-values are uniform (``calibration_trials`` pairs, within a binomial tolerance a correct
test leaves with probability ``1 - 2 * CALIBRATION_TAIL``), and they find a known shift (half a
standard deviation, or 15% of a categorical population moving to its rarest category) in at
least ``min_power`` of ``power_trials`` pairs of ``POWER_SIZE`` values. A detector of distances
with a rule-of-thumb threshold is not a test at a level, so it is held only to the checks that
apply to it: rare false alarms and certain detection of a one-standard-deviation shift, on
samples of 2000, from every population.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
#: Categorical drift of the other populations: this fraction moves to the rarest category.
CATEGORY_SHIFT = 0.3
#: The seeds of the reference and current samples of the main pair.
REFERENCE_SEED, CURRENT_SEED = 1, 2
#: Calibration and power samples are this large (each side of a pair).
POWER_SIZE = 500
#: The known shifts a statistical test must find: the mean moves by half a standard
#: deviation, or this fraction of a categorical population moves to its rarest category.
POWER_SHIFT = 0.5
POWER_CATEGORY_SHIFT = 0.15
#: A correct test's count falls outside the calibration tolerance with at most this
#: probability on each side.
CALIBRATION_TAIL = 1e-4
#: The p-value quantiles whose share of null p-values the calibration checks.
UNIFORM_QUANTILES = (0.25, 0.5, 0.75)


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


@dataclass(frozen=True)
class Population:
    """A feature's distribution, sampled by ``draw``. Numeric: normal with ``mean`` and
    standard deviation ``spread`` (exponential of that spread, moved to that mean, when
    ``skewed``); categorical: ``categories`` with ``probabilities``."""

    name: str
    kind: FeatureKind
    mean: float = 0.0
    spread: float = 1.0
    skewed: bool = False
    categories: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()

    def draw(self, seed: int, shape: int | tuple[int, ...], shift: float = 0.0) -> npt.NDArray[Any]:
        """Seeded draws of ``shape`` (a 2-D shape gives one sample per row). ``shift`` is the
        drift: numeric values move by ``shift`` standard deviations; for categories a
        fraction ``shift`` of the population moves to the rarest category."""
        rng = np.random.default_rng(seed)
        if self.kind is FeatureKind.NUMERIC:
            if self.skewed:
                values = rng.exponential(self.spread, shape) + (self.mean - self.spread)
            else:
                values = rng.normal(self.mean, self.spread, shape)
            moved: npt.NDArray[np.float64] = values + shift * self.spread
            return moved
        weights = np.array(self.probabilities)
        rarest = np.zeros_like(weights)
        rarest[np.argmin(weights)] = 1.0
        weights = (1.0 - shift) * weights + shift * rarest
        return rng.choice(np.array(self.categories), shape, p=weights / weights.sum())


#: Populations other than the main pair's, of each kind: far from N(0, 1) and from the five
#: colours, so a detector that does not test against the reference it is given shows.
POPULATIONS: dict[FeatureKind, tuple[Population, ...]] = {
    FeatureKind.NUMERIC: (
        Population("normal(5, 2)", FeatureKind.NUMERIC, mean=5.0, spread=2.0),
        Population("normal(-3, 0.5)", FeatureKind.NUMERIC, mean=-3.0, spread=0.5),
        Population("exponential(1) + 9", FeatureKind.NUMERIC, mean=10.0, skewed=True),
    ),
    FeatureKind.CATEGORICAL: (
        Population(
            "low/mid/high",
            FeatureKind.CATEGORICAL,
            categories=("low", "mid", "high"),
            probabilities=(0.7, 0.2, 0.1),
        ),
        Population(
            "four regions, uniform",
            FeatureKind.CATEGORICAL,
            categories=("north", "east", "south", "west"),
            probabilities=(0.25,) * 4,
        ),
        Population(
            "yes/no",
            FeatureKind.CATEGORICAL,
            categories=("yes", "no"),
            probabilities=(0.9, 0.1),
        ),
    ),
}


def binomial_bounds(trials: int, rate: float, tail: float) -> tuple[int, int]:
    """The least and the most successes of ``trials`` at ``rate`` that a correct count
    reaches: it falls below the first, or above the second, with probability <= ``tail``."""
    pmf = [math.comb(trials, k) * rate**k * (1.0 - rate) ** (trials - k) for k in range(trials + 1)]
    low, below = 0, 0.0
    while low < trials and below + pmf[low] <= tail:
        below += pmf[low]
        low += 1
    high, above = trials, 0.0
    while high > 0 and above + pmf[high] <= tail:
        above += pmf[high]
        high -= 1
    return low, high


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


def assert_consistent_result(result: object) -> DriftResult:
    """``assert_valid_result``, and for a result with a p-value what the p-value implies: the
    threshold is a level in (0, 1), drifted means p < threshold, and the score is 1 - p."""
    assert_valid_result(result)
    assert isinstance(result, DriftResult)
    if result.p_value is not None:
        assert 0.0 < result.threshold < 1.0, f"the level of a p-value is in (0, 1): {result}"
        assert result.drifted == (result.p_value < result.threshold), (
            f"drifted disagrees with p < threshold: {result}"
        )
        assert result.score == pytest.approx(1.0 - result.p_value, abs=1e-12), (
            f"score is not 1 - p: {result}"
        )
    return result


def assert_threshold_decisions(results: Sequence[DriftResult]) -> None:
    """Results without a p-value decide by a threshold on the statistic: every drifted one
    is on one side of its threshold (or on it), every other on the other side (or on it),
    the same side for all; and a drifted result never scores below one that is not."""
    drifted = [r for r in results if r.drifted]
    kept = [r for r in results if not r.drifted]
    above = all(r.statistic >= r.threshold for r in drifted) and all(
        r.statistic <= r.threshold for r in kept
    )
    below = all(r.statistic <= r.threshold for r in drifted) and all(
        r.statistic >= r.threshold for r in kept
    )
    assert above or below, (
        "drifted is not a threshold decision on the statistic: "
        f"drifted {[(r.statistic, r.threshold) for r in drifted]}, "
        f"not drifted {[(r.statistic, r.threshold) for r in kept]}"
    )
    if drifted and kept:
        assert min(r.score for r in drifted) >= max(r.score for r in kept), (
            "a drifted result scores below one that is not drifted (larger scores mean more "
            f"drift): {min(drifted, key=lambda r: r.score)} < {max(kept, key=lambda r: r.score)}"
        )


class DriftDetectorFixtures(ConformanceSuite):
    """The fixtures a plugin author overrides, and the per-kind fixtures the tests use."""

    #: Independent pairs of samples of one distribution checked for false alarms, and how
    #: many of them may be called drifted. A test at the 5% level calls 5 or more of 20
    #: drifted with probability 0.3%, and the samples are seeded, so it passes every time.
    null_pairs: ClassVar[int] = 20
    max_false_alarms: ClassVar[int] = 4
    #: Pairs of samples of each other population shifted by ``SHIFT`` standard deviations
    #: (or ``CATEGORY_SHIFT``), every one of which must be called drifted.
    shifted_pairs: ClassVar[int] = 5
    #: Calibration of a statistical test: pairs of samples of one population.
    calibration_trials: ClassVar[int] = 200
    #: Power of a statistical test: pairs with a known shift, and the share to find.
    power_trials: ClassVar[int] = 100
    min_power: ClassVar[float] = 0.9

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

    def test_every_result_is_in_range_and_agrees_with_its_threshold(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        # Pairs of one population and pairs shifted by steps, from every population: p-values
        # and statistics spread on both sides of any threshold, and over the whole range.
        results = []
        for number, population in enumerate(POPULATIONS[declared_kind]):
            for step, shift in enumerate((0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.5)):
                seed = 6000 + 100 * number + 2 * step
                reference = population.draw(seed, POWER_SIZE)
                current = population.draw(seed + 1, POWER_SIZE, shift=shift)
                results.append(assert_consistent_result(drift_detector.detect(reference, current)))
        if all(result.p_value is None for result in results):
            assert_threshold_decisions(results)

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


class DriftDetectorReferenceTests(DriftDetectorFixtures):
    """Drift is judged against the reference given, whatever its distribution. One detector
    sees every population in turn, so one that keeps the first reference it saw fails too."""

    def test_samples_of_other_distributions_are_rarely_drifted(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        # Counted over every population together, so a correct test at the 5% level passes
        # however its false alarms fall; a detector ignoring the reference calls most drifted.
        populations = POPULATIONS[declared_kind]
        alarms: dict[str, int] = {}
        for number, population in enumerate(populations):
            references = population.draw(1000 + number, (self.null_pairs, SAMPLE_SIZE))
            currents = population.draw(2000 + number, (self.null_pairs, SAMPLE_SIZE))
            alarms[population.name] = sum(
                assert_consistent_result(drift_detector.detect(reference, current)).drifted
                for reference, current in zip(references, currents, strict=True)
            )
        allowed = self.max_false_alarms * len(populations)
        assert sum(alarms.values()) <= allowed, (
            f"of {self.null_pairs} pairs of samples of each distribution, this many were "
            f"called drifted: {alarms} (at most {allowed} in all may be): does the detector "
            "test against the reference it is given?"
        )

    def test_a_shift_of_other_distributions_is_drifted(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        shift = SHIFT if declared_kind is FeatureKind.NUMERIC else CATEGORY_SHIFT
        for number, population in enumerate(POPULATIONS[declared_kind]):
            shape = (self.shifted_pairs, SAMPLE_SIZE)
            references = population.draw(3000 + number, shape)
            sames = population.draw(4000 + number, shape)
            shifteds = population.draw(5000 + number, shape, shift=shift)
            for reference, same, shifted in zip(references, sames, shifteds, strict=True):
                calm = assert_consistent_result(drift_detector.detect(reference, same))
                moved = assert_consistent_result(drift_detector.detect(reference, shifted))
                assert moved.drifted, f"a shift of {population.name} was not drifted: {moved}"
                assert moved.score > calm.score, (population.name, calm, moved)


class DriftDetectorCalibrationTests(DriftDetectorFixtures):
    """A statistical test (``p_values``) keeps its level and has power: under no drift it
    calls drift at the rate of its level, its p-values are uniform, and it finds a known
    shift. Each test carries ``requires("p_values")``, as in ``DriftDetectorPValueTests``."""

    def null_p_values(
        self, drift_detector: DriftDetector, kind: FeatureKind
    ) -> tuple[Population, list[DriftResult]]:
        """The first other population of ``kind``, and the results of
        ``calibration_trials`` pairs of its samples."""
        population = POPULATIONS[kind][0]
        shape = (self.calibration_trials, POWER_SIZE)
        references, currents = population.draw(7000, shape), population.draw(7001, shape)
        results = [
            assert_consistent_result(drift_detector.detect(reference, current))
            for reference, current in zip(references, currents, strict=True)
        ]
        assert all(r.p_value is not None for r in results), "a result without a p-value"
        return population, results

    @requires("p_values")
    def test_false_alarms_under_no_drift_match_the_level(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        population, results = self.null_p_values(drift_detector, declared_kind)
        levels = {result.threshold for result in results}
        assert len(levels) == 1, f"the level changes with the data: {sorted(levels)}"
        level = levels.pop()
        low, high = binomial_bounds(len(results), level, CALIBRATION_TAIL)
        alarms = sum(result.drifted for result in results)
        assert low <= alarms <= high, (
            f"{alarms} of {len(results)} pairs of samples of {population.name} were called "
            f"drifted at the level {level}: a correct test calls between {low} and {high}"
        )

    @requires("p_values")
    def test_p_values_under_no_drift_are_uniform(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        population, results = self.null_p_values(drift_detector, declared_kind)
        p_values = np.array([result.p_value for result in results], dtype=np.float64)
        for quantile in UNIFORM_QUANTILES:
            low, high = binomial_bounds(len(results), quantile, CALIBRATION_TAIL)
            below = int(np.count_nonzero(p_values < quantile))
            assert low <= below <= high, (
                f"{below} of {len(results)} p-values of pairs of samples of {population.name} "
                f"are below {quantile}: uniform p-values give between {low} and {high}"
            )

    @requires("p_values")
    def test_a_known_shift_is_found_in_most_trials(
        self, drift_detector: DriftDetector, declared_kind: FeatureKind
    ) -> None:
        population = POPULATIONS[declared_kind][0]
        numeric = declared_kind is FeatureKind.NUMERIC
        shift = POWER_SHIFT if numeric else POWER_CATEGORY_SHIFT
        shape = (self.power_trials, POWER_SIZE)
        references = population.draw(8000, shape)
        currents = population.draw(8001, shape, shift=shift)
        found = sum(
            assert_consistent_result(drift_detector.detect(reference, current)).drifted
            for reference, current in zip(references, currents, strict=True)
        )
        wanted = math.ceil(self.min_power * self.power_trials)
        what = (
            f"a shift of {shift} standard deviations"
            if numeric
            else f"{shift:.0%} of the population moving to its rarest category"
        )
        assert found >= wanted, (
            f"{what} of {population.name} was found in {found} of {self.power_trials} pairs "
            f"of {POWER_SIZE} values; a test must find it in at least {wanted}"
        )


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
    DriftDetectorReferenceTests,
    DriftDetectorRefusalTests,
    DriftDetectorPValueTests,
    DriftDetectorCalibrationTests,
):
    """Every drift detector test."""
