"""The conformance suites catch wrong plugins. Each module of ``tests/wrong_plugins`` is a
mistake a careless author could ship; here it goes through its suite exactly as an author's
test file runs it (pytest, in-process), beside the correct built-in plugin under the same
fixtures. The built-in passes; the wrong plugin fails the tests named here and passes every
other test run, so each of those tests closes a hole the suite had before it (the plugin
passed the whole suite until that test came) and the suite still accepts the rest of the
plugin. Where a whole suite is slow (artifact stores, executors, feature stores) only the
classes around the hole run; the built-ins run the whole suites in ``tests/test_<kind>.py``.
"""

from __future__ import annotations

import importlib
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

from tests.wrong_plugins.artifact_store_lists_outside_root import ListsOutsideRootStore

pytest_plugins = ("pytester",)

# Imported once, here: pytester drops the modules an in-process run imported, and numpy's C
# extensions (loaded by scipy, scikit-learn, pyarrow) cannot be loaded twice in one process.
for _module in ("pyarrow.dataset", "pyarrow.parquet", "scipy.stats", "skops.io", "sklearn"):
    importlib.import_module(_module)


class Outcomes:
    """What each test function of one class did, over all its parametrisations."""

    def __init__(self) -> None:
        self.by_test: dict[str, set[str]] = defaultdict(set)

    @property
    def failed(self) -> set[str]:
        """Tests that failed or errored in at least one parametrisation."""
        return {name for name, outcomes in self.by_test.items() if "failed" in outcomes}

    @property
    def passed(self) -> set[str]:
        """Tests that passed in at least one parametrisation and failed in none."""
        return {
            name
            for name, outcomes in self.by_test.items()
            if "passed" in outcomes and "failed" not in outcomes
        }


def run_suites(pytester: pytest.Pytester, source: str) -> dict[str, Outcomes]:
    """Runs ``source`` as an author's test file; returns its classes' outcomes by class name."""
    pytester.makepyfile(test_author=textwrap.dedent(source))
    # pytest-asyncio is off: no suite is async, and it warns about options only we set.
    run = pytester.inline_run("-p", "no:cacheprovider", "-p", "no:asyncio")
    collection = [r for r in run.getreports("pytest_collectreport") if r.failed]
    assert not collection, [str(report.longrepr) for report in collection]
    classes: dict[str, Outcomes] = defaultdict(Outcomes)
    for report in run.getreports("pytest_runtest_logreport"):
        if report.when != "call" and report.passed:
            continue  # a setup or teardown that went well says nothing about the test
        _, test_class, test = report.nodeid.split("::")
        classes[test_class].by_test[test.partition("[")[0]].add(report.outcome)
    return classes


def assert_caught(
    outcomes: dict[str, Outcomes], wrong: str, caught_by: set[str], correct: str | None = None
) -> None:
    """The class ``wrong`` failed exactly the tests ``caught_by`` and passed some others; the
    class ``correct`` (the built-in, same fixtures) failed nothing."""
    assert outcomes[wrong].failed == caught_by
    assert len(outcomes[wrong].passed) >= 3, outcomes[wrong].by_test
    if correct is not None:
        assert outcomes[correct].failed == set(), outcomes[correct].by_test
        assert caught_by <= outcomes[correct].passed, outcomes[correct].by_test


# -- drift detectors ---------------------------------------------------------------------------

DRIFT = """
import pytest
from conformance.plugins.drift_detector import DriftDetectorSuite
from controlplane_drift_scipy import KolmogorovSmirnovDetector
from tests.wrong_plugins.{module} import {wrong}

class TestKs(DriftDetectorSuite):
    detector_class = KolmogorovSmirnovDetector

    @pytest.fixture
    def drift_detector(self):
        return self.detector_class()

    @pytest.fixture
    def capabilities(self):
        return {{"p_values"}}

class TestWrong(TestKs):
    detector_class = {wrong}
"""


def test_drift_suite_fails_a_detector_whose_p_values_reach_two(pytester: pytest.Pytester) -> None:
    # Only the main pair's p-value was range-checked before, and it is below 0.5; every
    # result is checked now, and pairs of one distribution give p > 0.5, which doubles past 1.
    source = DRIFT.format(module="drift_doubled_p_value", wrong="DoubledPValueDetector")
    caught_by = {
        "test_every_result_is_in_range_and_agrees_with_its_threshold",
        "test_samples_of_other_distributions_are_rarely_drifted",
        "test_a_shift_of_other_distributions_is_drifted",
        "test_false_alarms_under_no_drift_match_the_level",
        "test_p_values_under_no_drift_are_uniform",
    }
    assert_caught(run_suites(pytester, source), "TestWrong", caught_by, correct="TestKs")


def test_drift_suite_fails_a_detector_that_ignores_its_reference(
    pytester: pytest.Pytester,
) -> None:
    # Every reference was N(0, 1) before, so testing against N(0, 1) was indistinguishable.
    source = DRIFT.format(module="drift_ignores_reference", wrong="IgnoresReferenceDetector")
    caught_by = {
        "test_samples_of_other_distributions_are_rarely_drifted",
        "test_a_shift_of_other_distributions_is_drifted",
        "test_false_alarms_under_no_drift_match_the_level",
        "test_p_values_under_no_drift_are_uniform",
    }
    assert_caught(run_suites(pytester, source), "TestWrong", caught_by, correct="TestKs")


# -- artifact stores ---------------------------------------------------------------------------

ARTIFACT_STORE = """
import pytest
from conformance.plugins.artifact_store import (
    ArtifactStoreDeleteTests, ArtifactStoreKeyTests, ArtifactStoreListTests,
)
from controlplane_artifacts_local import LocalArtifactStore
from tests.wrong_plugins.artifact_store_lists_outside_root import ListsOutsideRootStore

# Listing, deleting and keys: the classes around the hole (the built-in runs the whole suite in
# tests/test_artifact_stores.py).
class Local(ArtifactStoreListTests, ArtifactStoreDeleteTests, ArtifactStoreKeyTests):
    store_class = LocalArtifactStore

    @pytest.fixture
    def artifact_store(self, tmp_path):
        return self.store_class(str(tmp_path / "store"))

    @pytest.fixture
    def reopen_artifact_store(self, tmp_path):
        return lambda: self.store_class(str(tmp_path / "store"))

    @pytest.fixture
    def capabilities(self):
        return {"persistent", "large_blobs", "seekable_reads"}

class TestLocal(Local):
    pass

class TestListsOutsideRoot(Local):
    store_class = ListsOutsideRootStore
"""


def test_artifact_store_suite_fails_a_store_that_lists_any_prefix(
    pytester: pytest.Pytester,
) -> None:
    outcomes = run_suites(pytester, ARTIFACT_STORE)
    caught_by = {"test_list_keys_rejects_an_invalid_prefix"}
    assert_caught(outcomes, "TestListsOutsideRoot", caught_by, correct="TestLocal")


def test_the_wrong_store_really_lists_outside_its_root(tmp_path: Path) -> None:
    # What the refusal guards against: the listing walks the directory above the root.
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("hunter2")
    store = ListsOutsideRootStore(str(tmp_path / "store"))
    assert list(store.list_keys("../")) == ["../secrets/token"]


# -- executors ---------------------------------------------------------------------------------

EXECUTOR = """
import pytest
from conformance.plugins.executor import ExecutorStopTests
from controlplane_executor_local import LocalExecutor
from tests.wrong_plugins.executor_overwrites_final_state import OverwritesFinalStateExecutor

# Timeouts and cancellation only (the built-in runs the whole suite in tests/test_executors.py).
class TestLocal(ExecutorStopTests):
    executor_class = LocalExecutor

    @pytest.fixture
    def executor(self):
        return self.executor_class()

class TestOverwritesFinalState(TestLocal):
    executor_class = OverwritesFinalStateExecutor
"""


def test_executor_suite_fails_an_executor_that_records_a_stopped_tasks_exit(
    pytester: pytest.Pytester,
) -> None:
    # wait_for returned at the first final state, so CANCELLED turning FAILED a moment
    # later went unseen.
    outcomes = run_suites(pytester, EXECUTOR)
    caught_by = {
        "test_a_cancelled_task_stays_cancelled",
        "test_a_timed_out_task_stays_failed_with_its_reason",
    }
    assert_caught(outcomes, "TestOverwritesFinalState", caught_by, correct="TestLocal")


# -- feature stores ----------------------------------------------------------------------------

FEATURE_STORE = """
import pytest
from conformance.plugins.feature_store import FeatureStoreOfflineTests
from controlplane_features_local import LocalFeatureStore
from tests.wrong_plugins.feature_store_parts_out_of_order import PartsOutOfOrderStore

# The offline side only (the built-in runs the whole suite in tests/test_feature_stores.py).
class TestLocal(FeatureStoreOfflineTests):
    store_class = LocalFeatureStore

    @pytest.fixture
    def feature_store(self, tmp_path):
        return self.store_class(str(tmp_path / "store"))

    @pytest.fixture
    def reopen_feature_store(self, tmp_path):
        return lambda: self.store_class(str(tmp_path / "store"))

    @pytest.fixture
    def capabilities(self):
        return {"persistent_features"}

class TestPartsOutOfOrder(TestLocal):
    store_class = PartsOutOfOrderStore
"""


def test_feature_store_suite_fails_a_store_that_reads_parts_out_of_order(
    pytester: pytest.Pytester,
) -> None:
    # No view was written more than twice in a row before, so part-10 never met part-2.
    outcomes = run_suites(pytester, FEATURE_STORE)
    caught_by = {"test_many_appends_read_back_in_the_order_written"}
    assert_caught(outcomes, "TestPartsOutOfOrder", caught_by, correct="TestLocal")


# -- serving backends --------------------------------------------------------------------------

SERVING_BACKEND = """
import json

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from conformance.plugins.serving_backend import ServingBackendSuite
from controlplane.interfaces.serving import ModelSource
from controlplane_serving_sklearn import SklearnBackend
from tests.wrong_plugins.serving_columns_by_position import ColumnsByPositionBackend

COLUMNS = ("age", "income", "tenure")
TRAIN_X = np.array(
    [[22, 1.0, 0.5], [35, 3.5, 4.0], [51, 2.0, 9.0], [64, 0.5, 2.0], [28, 5.0, 1.0],
     [45, 1.5, 7.5], [33, 4.5, 3.0], [58, 3.0, 8.0]]
)
TRAIN_Y = np.array([0, 1, 2, 0, 1, 2, 1, 2])
QUERY_X = np.array([[25, 4.0, 1.0], [60, 1.0, 8.5], [40, 2.5, 5.0]])
SIGNATURE = {
    "inputs": [{"name": name, "dtype": "float64", "shape": [-1]} for name in COLUMNS],
    "outputs": [
        {"name": "prediction", "dtype": "int64", "shape": [-1]},
        {"name": "probabilities", "dtype": "float64", "shape": [-1, 3]},
    ],
}

@pytest.fixture(scope="module")
def estimator():
    return LogisticRegression(max_iter=1000).fit(TRAIN_X, TRAIN_Y)

class TestSklearn(ServingBackendSuite):
    backend_class = SklearnBackend

    @pytest.fixture
    def serving_backend(self):
        return self.backend_class()

    @pytest.fixture
    def model_source(self, tmp_path, estimator):
        directory = tmp_path / "model"
        directory.mkdir()
        skops.io.dump(estimator, directory / "model.skops")
        (directory / "signature.json").write_text(json.dumps(SIGNATURE))
        return ModelSource(directory, "sklearn")

    @pytest.fixture
    def model_inputs(self):
        return {name: QUERY_X[:, index].tolist() for index, name in enumerate(COLUMNS)}

    @pytest.fixture
    def expected_outputs(self, estimator):
        return {
            "prediction": estimator.predict(QUERY_X).tolist(),
            "probabilities": estimator.predict_proba(QUERY_X).tolist(),
        }

    @pytest.fixture
    def unsupported_source(self, tmp_path):
        return ModelSource(tmp_path, "torch")

class TestColumnsByPosition(TestSklearn):
    backend_class = ColumnsByPositionBackend
"""


def test_serving_suite_fails_a_backend_that_takes_columns_by_position(
    pytester: pytest.Pytester,
) -> None:
    # Every input of the suite listed its columns in the signature's order before.
    outcomes = run_suites(pytester, SERVING_BACKEND)
    caught_by = {"test_input_columns_are_matched_by_name_not_position"}
    assert_caught(outcomes, "TestColumnsByPosition", caught_by, correct="TestSklearn")


# -- alert channels ----------------------------------------------------------------------------

ALERT_CHANNEL = """
import pytest
# The built-in webhook's test class, with its receivers: the same fixtures for both channels.
from tests.test_alert_channels import TestWebhook, channel_factories, closed_port, receiver
from tests.test_alert_channels import refusing_receiver
from tests.wrong_plugins.alert_channel_ignores_http_status import IgnoresHttpStatusChannel

class TestIgnoresHttpStatus(TestWebhook):
    @pytest.fixture
    def alert_channel(self):
        return IgnoresHttpStatusChannel()
"""


def test_alert_suite_fails_a_channel_that_ignores_the_http_status(
    pytester: pytest.Pytester,
) -> None:
    # The only failure the suite staged was a refused connection, which raises by itself.
    outcomes = run_suites(pytester, ALERT_CHANNEL)
    caught_by = {"test_send_to_a_refusing_target_raises"}
    assert_caught(outcomes, "TestIgnoresHttpStatus", caught_by, correct="TestWebhook")
