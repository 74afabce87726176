"""The built-in drift detectors (plugin ``drift-scipy``): the conformance suite through the
entry point, then each detector's statistic against known values and its input handling."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable, Set
from pathlib import Path

import numpy as np
import pytest
from controlplane_drift_scipy import (
    ChiSquareDetector,
    JensenShannonDetector,
    KolmogorovSmirnovDetector,
    PopulationStabilityIndexDetector,
    WassersteinDetector,
)
from scipy import stats
from scipy.spatial import distance

from conformance.plugins.drift_detector import DriftDetectorSuite, numeric_sample
from controlplane.hookspecs import hookimpl
from controlplane.interfaces.drift import DriftDetector, FeatureKind
from controlplane.plugin_loader import PluginStatus, load_plugins
from controlplane.registry import Kind, Registry

ROOT = Path(__file__).resolve().parent.parent

#: Each built-in detector and the capabilities it declares.
BUILTINS: dict[str, frozenset[str]] = {
    "ks": frozenset({"p_values"}),
    "chi2": frozenset({"p_values"}),
    "psi": frozenset(),
    "jensen-shannon": frozenset(),
    "wasserstein": frozenset(),
}


@pytest.fixture(scope="module")
def detector_factories() -> dict[str, Callable[[], DriftDetector]]:
    registry = load_plugins(disabled=frozenset()).registry
    return {name: registry.get(Kind.DRIFT_DETECTOR, name).factory for name in BUILTINS}


# -- the conformance suite ---------------------------------------------------------------------


class TestBuiltinDetector(DriftDetectorSuite):
    @pytest.fixture(params=sorted(BUILTINS))
    def detector_name(self, request: pytest.FixtureRequest) -> str:
        name: str = request.param
        return name

    @pytest.fixture
    def drift_detector(
        self, detector_factories: dict[str, Callable[[], DriftDetector]], detector_name: str
    ) -> DriftDetector:
        return detector_factories[detector_name]()

    @pytest.fixture
    def capabilities(self, detector_name: str) -> Set[str]:
        return BUILTINS[detector_name]


# -- loading ------------------------------------------------------------------------------------


def test_every_builtin_detector_loads_through_the_drift_scipy_entry_point() -> None:
    loaded = load_plugins(disabled=frozenset())
    info = loaded.info("drift-scipy")
    assert (info.status, info.source, info.kinds) == (
        PluginStatus.LOADED,
        "built-in",
        {Kind.DRIFT_DETECTOR},
    )
    for name in BUILTINS:
        assert loaded.registry.get(Kind.DRIFT_DETECTOR, name).plugin == "drift-scipy"


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_a_detector_is_registered_under_its_own_name(
    detector_factories: dict[str, Callable[[], DriftDetector]], name: str
) -> None:
    assert detector_factories[name]().name == name


class _KsReplacement:
    @hookimpl
    def controlplane_register_drift_detectors(self, registry: Registry) -> None:
        registry.add_drift_detector("ks", KolmogorovSmirnovDetector)


def test_a_third_party_detector_replaces_a_builtin_of_the_same_name() -> None:
    loaded = load_plugins([("replacement", _KsReplacement())], disabled=frozenset())
    assert loaded.registry.get(Kind.DRIFT_DETECTOR, "ks").plugin == "replacement"
    assert [p.plugin for p in loaded.registry.shadowed if p.name == "ks"] == ["drift-scipy"]


def test_importing_the_plugin_does_not_import_scipy() -> None:
    # The server imports every plugin at start; scipy.stats alone takes half a second.
    script = "import sys, json, controlplane_drift_scipy; print(json.dumps(sorted(sys.modules)))"
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 0, child.stderr
    modules = json.loads(child.stdout)
    assert "controlplane_drift_scipy.ks" in modules
    assert [m for m in modules if m.partition(".")[0] == "scipy"] == []


# -- ks -----------------------------------------------------------------------------------------


def test_ks_reports_scipys_two_sample_statistic_and_p_value() -> None:
    reference, current = numeric_sample(1), numeric_sample(2, shift=0.1)
    expected = stats.ks_2samp(reference, current)
    result = KolmogorovSmirnovDetector().detect(reference, current)
    assert result.statistic == expected.statistic
    assert result.p_value == expected.pvalue
    assert result.score == 1.0 - expected.pvalue
    assert result.threshold == 0.05


def test_ks_is_drifted_below_its_alpha() -> None:
    reference, current = numeric_sample(1), numeric_sample(2, shift=0.1)
    p_value = stats.ks_2samp(reference, current).pvalue
    assert 0.0 < p_value < 0.5  # so both levels below decide differently

    class Loose(KolmogorovSmirnovDetector):
        alpha = p_value * 1.01

    class Strict(KolmogorovSmirnovDetector):
        alpha = p_value

    assert Loose().detect(reference, current).drifted
    assert not Strict().detect(reference, current).drifted


# -- chi2 ---------------------------------------------------------------------------------------


def test_chi2_matches_a_hand_computed_table() -> None:
    # [[30, 10], [10, 30]]: every expected count is 20, so chi2 = 4 * 10**2 / 20 = 20, 1 dof.
    reference = np.array(["a"] * 30 + ["b"] * 10)
    current = np.array(["b"] * 30 + ["a"] * 10)
    result = ChiSquareDetector().detect(reference, current)
    assert result.statistic == pytest.approx(20.0)
    assert result.p_value == pytest.approx(stats.chi2.sf(20.0, 1))
    assert result.drifted


def test_chi2_handles_a_category_missing_from_the_current_sample() -> None:
    reference = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    current = np.array(["a"] * 60 + ["b"] * 40)
    expected = stats.chi2_contingency([[50, 30, 20], [60, 40, 0]], correction=False)
    result = ChiSquareDetector().detect(reference, current)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.drifted


def test_chi2_handles_a_category_missing_from_the_reference() -> None:
    reference = np.array(["a"] * 60 + ["b"] * 40)
    current = np.array(["a"] * 59 + ["b"] * 40 + ["new"])
    expected = stats.chi2_contingency([[60, 40, 0], [59, 40, 1]], correction=False)
    result = ChiSquareDetector().detect(reference, current)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)


def test_chi2_of_one_category_on_both_sides_is_no_drift() -> None:
    result = ChiSquareDetector().detect(np.array(["a"] * 10), np.array(["a"] * 3))
    assert (result.statistic, result.p_value, result.score, result.drifted) == (
        0.0,
        1.0,
        0.0,
        False,
    )


def test_chi2_counts_objects_as_their_strings_and_drops_missing_values() -> None:
    reference = np.array([1, "1", None, 2, float("nan"), 2], dtype=object)
    as_strings = np.array(["1", "1", "2", "2"])
    current = np.array(["1", "2", "2", "2"])
    detector = ChiSquareDetector()
    assert detector.detect(reference, current) == detector.detect(as_strings, current)


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_chi2_refuses_a_numeric_array_and_says_how_to_pass_codes(dtype: type) -> None:
    codes = np.array([1, 2, 2, 3], dtype=dtype)
    with pytest.raises(ValueError, match=r"astype\(str\)"):
        ChiSquareDetector().detect(codes, codes)


# -- psi ----------------------------------------------------------------------------------------


def test_psi_of_identical_samples_is_zero() -> None:
    values = numeric_sample(1)
    result = PopulationStabilityIndexDetector().detect(values, values.copy())
    assert result.statistic == 0.0
    assert not result.drifted


def test_psi_matches_a_hand_computed_value() -> None:
    # The reference's deciles are 0-99, 100-199, ...; the current sample puts half of its
    # values in the first and half in the last, none in the eight between (epsilon each).
    reference = np.arange(1000, dtype=np.float64)
    current = np.array([5.0] * 500 + [995.0] * 500)
    eps = PopulationStabilityIndexDetector.epsilon
    expected = 2 * (0.5 - 0.1) * math.log(0.5 / 0.1) + 8 * (eps - 0.1) * math.log(eps / 0.1)
    result = PopulationStabilityIndexDetector().detect(reference, current)
    assert result.statistic == pytest.approx(expected)
    assert result.score == result.statistic
    assert result.p_value is None


def test_psi_puts_values_beyond_the_reference_range_in_the_outer_bins() -> None:
    reference = np.arange(1000, dtype=np.float64)
    inside = np.array([5.0] * 500 + [995.0] * 500)
    beyond = np.array([-1e6] * 500 + [1e6] * 500)
    detector = PopulationStabilityIndexDetector()
    assert detector.detect(reference, beyond) == detector.detect(reference, inside)


def test_psi_works_on_a_constant_reference() -> None:
    detector = PopulationStabilityIndexDetector()
    assert detector.detect(np.full(100, 3.0), np.full(50, 3.0)).statistic == 0.0
    assert detector.detect(np.full(100, 3.0), np.full(50, 2.0)).drifted


def test_psi_is_drifted_from_its_threshold_up() -> None:
    reference, current = numeric_sample(1), numeric_sample(2, shift=0.3)
    psi = PopulationStabilityIndexDetector().detect(reference, current).statistic

    class AtTheValue(PopulationStabilityIndexDetector):
        threshold = psi

    class AboveTheValue(PopulationStabilityIndexDetector):
        threshold = psi * 1.01

    assert AtTheValue().detect(reference, current).drifted
    assert not AboveTheValue().detect(reference, current).drifted


# -- jensen-shannon -----------------------------------------------------------------------------


def test_jensen_shannon_of_disjoint_categories_is_one() -> None:
    result = JensenShannonDetector().detect(np.array(["a", "b"] * 5), np.array(["c", "d"] * 5))
    assert result.statistic == pytest.approx(1.0)
    assert result.drifted


def test_jensen_shannon_of_identical_samples_is_zero() -> None:
    detector = JensenShannonDetector()
    values = numeric_sample(1)
    assert detector.detect(values, values.copy()).statistic == 0.0
    colours = np.array(["red", "green", "green"] * 10)
    assert detector.detect(colours, colours.copy()).statistic == 0.0


def test_jensen_shannon_of_categories_matches_scipy() -> None:
    reference = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    current = np.array(["a"] * 20 + ["b"] * 30 + ["d"] * 50)
    expected = distance.jensenshannon([0.5, 0.3, 0.2, 0.0], [0.2, 0.3, 0.0, 0.5], base=2)
    assert JensenShannonDetector().detect(reference, current).statistic == pytest.approx(expected)


def test_jensen_shannon_of_numbers_compares_the_reference_deciles() -> None:
    reference = np.arange(1000, dtype=np.float64)
    current = np.array([5.0] * 500 + [995.0] * 500)
    expected = distance.jensenshannon([0.1] * 10, [0.5] + [0.0] * 8 + [0.5], base=2)
    assert JensenShannonDetector().detect(reference, current).statistic == pytest.approx(expected)


def test_jensen_shannon_is_symmetric_for_categories() -> None:
    first = np.array(["a"] * 50 + ["b"] * 50)
    second = np.array(["a"] * 80 + ["c"] * 20)
    detector = JensenShannonDetector()
    assert detector.detect(first, second).statistic == pytest.approx(
        detector.detect(second, first).statistic
    )


def test_jensen_shannon_is_drifted_from_its_threshold_up() -> None:
    reference = np.array(["a"] * 50 + ["b"] * 50)
    current = np.array(["a"] * 60 + ["b"] * 40)
    value = JensenShannonDetector().detect(reference, current).statistic

    class AtTheValue(JensenShannonDetector):
        threshold = value

    class AboveTheValue(JensenShannonDetector):
        threshold = value * 1.01

    assert AtTheValue().detect(reference, current).drifted
    assert not AboveTheValue().detect(reference, current).drifted


# -- wasserstein --------------------------------------------------------------------------------


def test_wasserstein_of_a_shift_by_one_standard_deviation_is_one() -> None:
    reference = numeric_sample(1)
    result = WassersteinDetector().detect(reference, reference + reference.std())
    assert result.statistic == pytest.approx(1.0)
    assert result.drifted


def test_wasserstein_is_scipys_distance_over_the_reference_standard_deviation() -> None:
    reference, current = numeric_sample(1), numeric_sample(2, shift=0.05)
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    result = WassersteinDetector().detect(reference, current)
    assert result.statistic == pytest.approx(expected)
    assert not result.drifted


def test_wasserstein_does_not_depend_on_the_unit() -> None:
    reference, current = numeric_sample(1), numeric_sample(2, shift=0.5)
    detector = WassersteinDetector()
    assert detector.detect(reference * 1000 + 7, current * 1000 + 7).statistic == pytest.approx(
        detector.detect(reference, current).statistic
    )


def test_wasserstein_refuses_a_constant_reference() -> None:
    with pytest.raises(ValueError, match="constant"):
        WassersteinDetector().detect(np.full(10, 2.0), np.arange(10.0))


def test_wasserstein_is_drifted_from_its_threshold_up() -> None:
    reference, current = numeric_sample(1), numeric_sample(2, shift=0.2)
    value = WassersteinDetector().detect(reference, current).statistic

    class AtTheValue(WassersteinDetector):
        threshold = value

    class AboveTheValue(WassersteinDetector):
        threshold = value * 1.01

    assert AtTheValue().detect(reference, current).drifted
    assert not AboveTheValue().detect(reference, current).drifted


# -- what every detector is given ---------------------------------------------------------------

NUMERIC = [
    KolmogorovSmirnovDetector,
    PopulationStabilityIndexDetector,
    JensenShannonDetector,
    WassersteinDetector,
]


@pytest.mark.parametrize("detector", NUMERIC, ids=lambda d: d.name)
def test_numeric_nans_are_dropped_before_testing(detector: type[DriftDetector]) -> None:
    reference, current = numeric_sample(1), numeric_sample(2, shift=0.2)
    with_nans = np.insert(reference, [0, 10, 500], np.nan)
    assert detector().detect(with_nans, current) == detector().detect(reference, current)


@pytest.mark.parametrize("detector", NUMERIC, ids=lambda d: d.name)
@pytest.mark.parametrize("side", ["reference", "current"])
def test_an_all_nan_sample_raises_value_error(detector: type[DriftDetector], side: str) -> None:
    values, nans = numeric_sample(1), np.full(5, np.nan)
    pair = (nans, values) if side == "reference" else (values, nans)
    with pytest.raises(ValueError, match=f"{side} sample has no values"):
        detector().detect(*pair)


@pytest.mark.parametrize("detector", NUMERIC, ids=lambda d: d.name)
def test_an_infinite_value_raises_value_error(detector: type[DriftDetector]) -> None:
    values = numeric_sample(1)
    with pytest.raises(ValueError, match="infinite"):
        detector().detect(values, np.append(values, np.inf))


@pytest.mark.parametrize("detector", NUMERIC, ids=lambda d: d.name)
def test_integer_arrays_are_numeric(detector: type[DriftDetector]) -> None:
    reference = np.random.default_rng(1).integers(0, 50, 1000)
    result = detector().detect(reference, reference + 10)
    assert result.drifted
    assert result == detector().detect(reference.astype(float), reference + 10.0)


@pytest.mark.parametrize(
    "detector", [KolmogorovSmirnovDetector, PopulationStabilityIndexDetector, WassersteinDetector]
)
@pytest.mark.parametrize(
    "values",
    [
        pytest.param(np.array(["1.0", "2.0"]), id="strings"),
        pytest.param(np.array([1.0, None], dtype=object), id="objects"),
        pytest.param(np.array([True, False]), id="bools"),
        pytest.param(np.array([1 + 1j, 2j]), id="complex"),
    ],
)
def test_numeric_only_detectors_refuse_what_is_not_numbers(
    detector: type[DriftDetector], values: np.ndarray
) -> None:
    with pytest.raises(ValueError, match="numeric features"):
        detector().detect(numeric_sample(1), values)


@pytest.mark.parametrize("detector", [*NUMERIC, ChiSquareDetector], ids=lambda d: d.name)
def test_a_two_dimensional_sample_raises_value_error(detector: type[DriftDetector]) -> None:
    kind = next(iter(detector.kinds))
    values = np.array([[1.0, 2.0]]) if kind is FeatureKind.NUMERIC else np.array([["a", "b"]])
    with pytest.raises(ValueError, match="1-D"):
        detector().detect(values, values)


def test_jensen_shannon_refuses_a_numeric_reference_with_a_categorical_current() -> None:
    with pytest.raises(ValueError, match="reference sample is numeric but the current"):
        JensenShannonDetector().detect(numeric_sample(1), np.array(["a", "b"]))


def test_categorical_detectors_take_bools_and_bytes_as_categories() -> None:
    detector = JensenShannonDetector()
    assert detector.detect(np.array([True, False]), np.array(["True", "False"])).statistic == 0
    assert detector.detect(np.array([b"x", b"y"]), np.array(["x", "y"])).statistic == 0


def test_categorical_missing_values_only_raise_value_error() -> None:
    with pytest.raises(ValueError, match="current sample has no values"):
        ChiSquareDetector().detect(np.array(["a"]), np.array([None, np.nan], dtype=object))
