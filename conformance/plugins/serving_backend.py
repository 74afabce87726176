"""The serving backend conformance suite (``controlplane.interfaces.ServingBackend``).

A plugin author builds a small model of the backend's framework, computes what it predicts
for a batch, subclasses ``ServingBackendSuite`` (or some of the classes it combines) in a
``test_*.py`` file and overrides the fixtures::

    import pytest
    from controlplane.interfaces.serving import ModelSource
    from conformance.plugins.serving_backend import ServingBackendSuite

    class TestMyBackend(ServingBackendSuite):
        @pytest.fixture
        def serving_backend(self):
            return MyBackend()

        @pytest.fixture
        def model_source(self, tmp_path):
            save_my_small_model(tmp_path)          # the model's files in a directory
            return ModelSource(tmp_path, "myframework")

        @pytest.fixture
        def model_inputs(self):
            return {"x": [[0.0, 1.0], [2.0, 3.0]]}  # a valid batch: column -> rows

        @pytest.fixture
        def expected_outputs(self):
            return {"y": [[1.0], [5.0]]}            # what predict returns for it

        @pytest.fixture
        def unsupported_source(self, tmp_path):
            return ModelSource(tmp_path, "another-framework")

        @pytest.fixture
        def capabilities(self):
            return {"gpu_serving"} if machine_has_a_gpu() else set()

Numbers are compared with ``numpy.testing.assert_allclose`` at ``output_tolerance`` (relative
and absolute, 1e-6 unless overridden); anything else (class labels as strings) exactly. The
batch of ``model_inputs`` should have at least two rows, so the row-wise tests mean something.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from conformance.capabilities import requires
from conformance.suite import ConformanceSuite
from controlplane.interfaces.serving import LoadedModel, ModelSource, ServingBackend

Batch = dict[str, Any]


def batch_size(inputs: Batch) -> int:
    """The number of rows of a batch (the length of its first column)."""
    return len(next(iter(inputs.values())))


def rows(batch: Batch, start: int, stop: int) -> Batch:
    """Rows ``start:stop`` of every column (of inputs or outputs)."""
    return {name: list(values[start:stop]) for name, values in batch.items()}


def repeat(batch: Batch, times: int) -> Batch:
    """Every column's rows ``times`` over, in order."""
    return {name: list(values) * times for name, values in batch.items()}


def assert_outputs_match(actual: object, expected: Batch, tolerance: float) -> None:
    """``actual`` has exactly ``expected``'s names, and each output its values: numbers within
    ``tolerance`` (relative and absolute), anything else exactly."""
    assert isinstance(actual, dict), f"predict returned a {type(actual).__name__}, not a dict"
    assert sorted(actual) == sorted(expected), "predict's output names differ"
    for name, want in expected.items():
        got = actual[name]
        assert isinstance(got, list), f"output {name!r} is a {type(got).__name__}, not a list"
        got_array, want_array = np.asarray(got), np.asarray(want)
        assert got_array.shape == want_array.shape, (
            f"output {name!r} has shape {got_array.shape}, expected {want_array.shape}"
        )
        if got_array.dtype.kind in "biuf" and want_array.dtype.kind in "biuf":
            np.testing.assert_allclose(
                got_array, want_array, rtol=tolerance, atol=tolerance, err_msg=f"output {name!r}"
            )
        else:
            assert got == want, f"output {name!r}: {got!r} != {want!r}"


def _first_values_list(column: list[Any]) -> list[Any]:
    """The innermost list holding the first value of ``column``."""
    holder = column
    while isinstance(holder[0], list):
        holder = holder[0]
    return holder


def _copy(batch: Batch) -> Batch:
    return {name: _deep_copy(values) for name, values in batch.items()}


def _deep_copy(value: Any) -> Any:
    return [_deep_copy(item) for item in value] if isinstance(value, (list, tuple)) else value


class ServingBackendFixtures(ConformanceSuite):
    """The fixtures a plugin author overrides."""

    @pytest.fixture
    def serving_backend(self) -> ServingBackend:
        """The backend under test."""
        raise NotImplementedError(
            "override the `serving_backend` fixture in your subclass of the serving backend "
            "suite: it returns the ServingBackend to test (for example your backend's class "
            "called, or the factory your plugin registers)"
        )

    @pytest.fixture
    def model_source(self) -> ModelSource:
        """A small model the backend serves."""
        raise NotImplementedError(
            "override the `model_source` fixture: a ModelSource whose path is a directory "
            "holding a small model of your backend's framework (for example in tmp_path)"
        )

    @pytest.fixture
    def model_inputs(self) -> Batch:
        """A valid batch for ``model_source``: column -> list of rows (two rows or more)."""
        raise NotImplementedError(
            "override the `model_inputs` fixture: a valid batch for your model, "
            "a dict of column -> list of rows, with at least two rows"
        )

    @pytest.fixture
    def expected_outputs(self) -> Batch:
        """What predict returns for ``model_inputs``: output name -> list of rows."""
        raise NotImplementedError(
            "override the `expected_outputs` fixture: what predict must return for "
            "`model_inputs`, computed with your model directly"
        )

    @pytest.fixture
    def unsupported_source(self) -> ModelSource:
        """A ModelSource the backend must not support (another framework, say)."""
        raise NotImplementedError(
            "override the `unsupported_source` fixture: a ModelSource your backend must not "
            "support, for example a directory of another framework's model"
        )

    @pytest.fixture
    def output_tolerance(self) -> float:
        """The relative and absolute tolerance for numbers in outputs."""
        return 1e-6

    @pytest.fixture
    def loaded_model(
        self, serving_backend: ServingBackend, model_source: ModelSource
    ) -> Iterator[LoadedModel]:
        """``model_source`` loaded by ``serving_backend``, closed after the test."""
        model = serving_backend.load(model_source)
        yield model
        model.close()


class ServingBackendSupportTests(ServingBackendFixtures):
    """``supports``: by framework and files."""

    def test_supports_its_model(
        self, serving_backend: ServingBackend, model_source: ModelSource
    ) -> None:
        assert serving_backend.supports(model_source) is True

    def test_does_not_support_another_source(
        self, serving_backend: ServingBackend, unsupported_source: ModelSource
    ) -> None:
        assert serving_backend.supports(unsupported_source) is False

    def test_does_not_support_a_directory_without_the_model(
        self, serving_backend: ServingBackend, model_source: ModelSource, tmp_path: Path
    ) -> None:
        empty = tmp_path / "no-model"
        empty.mkdir()
        assert serving_backend.supports(dataclasses.replace(model_source, path=empty)) is False


class ServingBackendPredictTests(ServingBackendFixtures):
    """``load`` then ``predict``: the model's answers, row by row, whatever the batch."""

    def test_load_returns_a_loaded_model(self, loaded_model: LoadedModel) -> None:
        assert isinstance(loaded_model, LoadedModel)

    def test_predict_gives_the_expected_outputs(
        self,
        loaded_model: LoadedModel,
        model_inputs: Batch,
        expected_outputs: Batch,
        output_tolerance: float,
    ) -> None:
        outputs = loaded_model.predict(_copy(model_inputs))
        assert_outputs_match(outputs, expected_outputs, output_tolerance)

    def test_a_batch_of_one_gives_that_row(
        self,
        loaded_model: LoadedModel,
        model_inputs: Batch,
        expected_outputs: Batch,
        output_tolerance: float,
    ) -> None:
        for row in range(batch_size(model_inputs)):
            outputs = loaded_model.predict(rows(model_inputs, row, row + 1))
            assert_outputs_match(outputs, rows(expected_outputs, row, row + 1), output_tolerance)

    def test_a_repeated_batch_gives_repeated_rows(
        self,
        loaded_model: LoadedModel,
        model_inputs: Batch,
        expected_outputs: Batch,
        output_tolerance: float,
    ) -> None:
        outputs = loaded_model.predict(repeat(model_inputs, 5))
        assert_outputs_match(outputs, repeat(expected_outputs, 5), output_tolerance)

    def test_input_columns_are_matched_by_name_not_position(
        self,
        loaded_model: LoadedModel,
        model_inputs: Batch,
        expected_outputs: Batch,
        output_tolerance: float,
    ) -> None:
        # A request's JSON object has no order: a backend that stacks the columns in the order
        # they arrive feeds the model the wrong features whenever a client orders them
        # differently from the signature.
        if len(model_inputs) < 2:
            pytest.skip("the model has one input column")
        reordered = {name: _deep_copy(model_inputs[name]) for name in reversed(model_inputs)}
        outputs = loaded_model.predict(reordered)
        assert_outputs_match(outputs, expected_outputs, output_tolerance)

    def test_predict_does_not_change_its_inputs(
        self, loaded_model: LoadedModel, model_inputs: Batch
    ) -> None:
        inputs = _copy(model_inputs)
        loaded_model.predict(inputs)
        assert inputs == model_inputs

    def test_the_model_author_gave_a_batch_of_several_rows(self, model_inputs: Batch) -> None:
        assert batch_size(model_inputs) >= 2, "model_inputs needs two rows or more"


class ServingBackendInputTests(ServingBackendFixtures):
    """Inputs that do not match the signature: ``ValueError``."""

    def test_a_missing_column_is_a_value_error(
        self, loaded_model: LoadedModel, model_inputs: Batch
    ) -> None:
        inputs = _copy(model_inputs)
        missing = next(iter(inputs))
        del inputs[missing]
        with pytest.raises(ValueError, match=missing):
            loaded_model.predict(inputs)

    def test_an_unexpected_column_is_a_value_error(
        self, loaded_model: LoadedModel, model_inputs: Batch
    ) -> None:
        inputs = _copy(model_inputs)
        inputs["conformance_unexpected_column"] = next(iter(inputs.values()))
        with pytest.raises(ValueError, match="conformance_unexpected_column"):
            loaded_model.predict(inputs)

    def test_an_extra_dimension_is_a_value_error(
        self, loaded_model: LoadedModel, model_inputs: Batch
    ) -> None:
        inputs = _copy(model_inputs)
        name = next(iter(inputs))
        inputs[name] = [[row] for row in inputs[name]]
        with pytest.raises(ValueError, match=name):
            loaded_model.predict(inputs)

    def test_a_ragged_column_is_a_value_error(
        self, loaded_model: LoadedModel, model_inputs: Batch
    ) -> None:
        # The first row gets one value more (or becomes a list where others are scalars).
        inputs = _copy(model_inputs)
        name = next(iter(inputs))
        first = inputs[name][0]
        inputs[name][0] = [*first, first[-1]] if isinstance(first, list) else [first, first]
        with pytest.raises(ValueError, match=name):
            loaded_model.predict(inputs)

    def test_a_value_that_is_not_a_number_is_a_value_error(
        self, loaded_model: LoadedModel, model_inputs: Batch
    ) -> None:
        inputs = _copy(model_inputs)
        name = next(iter(inputs))
        _first_values_list(inputs[name])[0] = "not a number"
        with pytest.raises(ValueError, match=name):
            loaded_model.predict(inputs)

    def test_columns_of_different_lengths_are_a_value_error(
        self, loaded_model: LoadedModel, model_inputs: Batch
    ) -> None:
        if len(model_inputs) < 2:
            pytest.skip("the model has one input column")
        inputs = _copy(model_inputs)
        name = list(inputs)[1]
        inputs[name] = inputs[name][:-1]
        with pytest.raises(ValueError):
            loaded_model.predict(inputs)

    def test_a_model_still_predicts_after_refusing_inputs(
        self,
        loaded_model: LoadedModel,
        model_inputs: Batch,
        expected_outputs: Batch,
        output_tolerance: float,
    ) -> None:
        with pytest.raises(ValueError):
            loaded_model.predict({})
        assert_outputs_match(
            loaded_model.predict(_copy(model_inputs)), expected_outputs, output_tolerance
        )


class ServingBackendConcurrencyTests(ServingBackendFixtures):
    """The server calls ``predict`` from several worker threads at once."""

    threads: ClassVar[int] = 8
    calls_per_thread: ClassVar[int] = 20

    def test_predict_is_thread_safe(
        self,
        loaded_model: LoadedModel,
        model_inputs: Batch,
        expected_outputs: Batch,
        output_tolerance: float,
    ) -> None:
        size = batch_size(model_inputs)

        def work(index: int) -> None:
            for call in range(self.calls_per_thread):
                # Threads ask different questions at once, so a shared buffer would show.
                if (index + call) % 2:
                    row = (index + call) % size
                    want, inputs = (
                        rows(expected_outputs, row, row + 1),
                        rows(model_inputs, row, row + 1),
                    )
                else:
                    times = 1 + index % 3
                    want, inputs = repeat(expected_outputs, times), repeat(model_inputs, times)
                assert_outputs_match(loaded_model.predict(inputs), want, output_tolerance)

        with concurrent.futures.ThreadPoolExecutor(max_workers=self.threads) as pool:
            futures = [pool.submit(work, index) for index in range(self.threads)]
            for future in futures:
                future.result(timeout=120)


class ServingBackendLifecycleTests(ServingBackendFixtures):
    """``close``, loading again, and loading what is not there."""

    def test_close_then_load_again(
        self,
        serving_backend: ServingBackend,
        model_source: ModelSource,
        model_inputs: Batch,
        expected_outputs: Batch,
        output_tolerance: float,
    ) -> None:
        first = serving_backend.load(model_source)
        first.close()
        second = serving_backend.load(model_source)
        try:
            assert_outputs_match(
                second.predict(_copy(model_inputs)), expected_outputs, output_tolerance
            )
        finally:
            second.close()

    def test_two_loads_are_independent(
        self,
        serving_backend: ServingBackend,
        model_source: ModelSource,
        model_inputs: Batch,
        expected_outputs: Batch,
        output_tolerance: float,
    ) -> None:
        first, second = serving_backend.load(model_source), serving_backend.load(model_source)
        first.close()
        try:
            assert_outputs_match(
                second.predict(_copy(model_inputs)), expected_outputs, output_tolerance
            )
        finally:
            second.close()

    def test_loading_a_directory_without_the_model_raises(
        self, serving_backend: ServingBackend, model_source: ModelSource, tmp_path: Path
    ) -> None:
        empty = tmp_path / "no-model"
        empty.mkdir()
        with pytest.raises(Exception):  # noqa: B017 - any error will do, as long as it raises
            serving_backend.load(dataclasses.replace(model_source, path=empty))

    def test_loading_a_copy_of_the_directory_works(
        self,
        serving_backend: ServingBackend,
        model_source: ModelSource,
        model_inputs: Batch,
        expected_outputs: Batch,
        output_tolerance: float,
        tmp_path: Path,
    ) -> None:
        # The server downloads a version's files to a directory of its choosing.
        copy = tmp_path / "copied-model"
        shutil.copytree(model_source.path, copy)
        model = serving_backend.load(dataclasses.replace(model_source, path=copy))
        try:
            assert_outputs_match(
                model.predict(_copy(model_inputs)), expected_outputs, output_tolerance
            )
        finally:
            model.close()


class ServingBackendGpuTests(ServingBackendFixtures):
    """``gpu_serving``: the same answers from a model loaded with ``device="cuda"``. The
    marker is on the test, not the class: pytest carries a class's marks into subclasses."""

    @requires("gpu_serving")
    def test_predict_on_a_gpu(
        self,
        serving_backend: ServingBackend,
        model_source: ModelSource,
        model_inputs: Batch,
        expected_outputs: Batch,
        output_tolerance: float,
    ) -> None:
        source = dataclasses.replace(
            model_source, options={**model_source.options, "device": "cuda"}
        )
        model = serving_backend.load(source)
        try:
            assert_outputs_match(
                model.predict(_copy(model_inputs)), expected_outputs, output_tolerance
            )
            assert_outputs_match(
                model.predict(repeat(model_inputs, 3)),
                repeat(expected_outputs, 3),
                output_tolerance,
            )
        finally:
            model.close()


class ServingBackendSuite(
    ServingBackendSupportTests,
    ServingBackendPredictTests,
    ServingBackendInputTests,
    ServingBackendConcurrencyTests,
    ServingBackendLifecycleTests,
    ServingBackendGpuTests,
):
    """Every serving backend test; subclass it (named ``Test...``) and override the fixtures."""


__all__ = [
    "Batch",
    "ServingBackendConcurrencyTests",
    "ServingBackendFixtures",
    "ServingBackendGpuTests",
    "ServingBackendInputTests",
    "ServingBackendLifecycleTests",
    "ServingBackendPredictTests",
    "ServingBackendSuite",
    "ServingBackendSupportTests",
    "assert_outputs_match",
    "batch_size",
    "repeat",
    "rows",
]
