"""The built-in serving backends: the conformance suite, run exactly as a third party runs it
(backends built through the entry points) against real models built here, plus what is
particular to each backend: skops's trusted types, torch's devices, light imports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Set
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
import torch
from controlplane_serving_sklearn.backend import allowed_type
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from conformance.plugins.serving_backend import ServingBackendSuite
from controlplane.interfaces.serving import ModelSource, ServingBackend
from controlplane.plugin_loader import load_plugins
from controlplane.registry import Kind

ROOT = Path(__file__).resolve().parent.parent

# A tiny, fixed, three-class dataset of four features.
TRAIN_X = np.array(
    [
        [5.1, 3.5, 1.4, 0.2],
        [4.9, 3.0, 1.4, 0.2],
        [4.7, 3.2, 1.3, 0.2],
        [7.0, 3.2, 4.7, 1.4],
        [6.4, 3.2, 4.5, 1.5],
        [6.9, 3.1, 4.9, 1.5],
        [6.3, 3.3, 6.0, 2.5],
        [5.8, 2.7, 5.1, 1.9],
        [7.1, 3.0, 5.9, 2.1],
    ]
)
TRAIN_Y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
QUERY_X = np.array(
    [[5.0, 3.4, 1.5, 0.2], [6.6, 2.9, 4.6, 1.3], [6.5, 3.0, 5.8, 2.2], [5.9, 3.0, 4.2, 1.5]]
)
COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")

SKLEARN_SIGNATURE = {
    "inputs": [{"name": name, "dtype": "float64", "shape": [-1]} for name in COLUMNS],
    "outputs": [
        {"name": "prediction", "dtype": "int64", "shape": [-1]},
        {"name": "probabilities", "dtype": "float64", "shape": [-1, 3]},
    ],
}
TORCH_SIGNATURE = {
    "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}],
    "outputs": [{"name": "y", "dtype": "float32", "shape": [-1, 2]}],
}
TORCH_QUERY = [[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.5, 3.0], [0.0, 0.0, 0.0, 0.0]]


def write_signature(directory: Path, signature: dict[str, Any]) -> None:
    (directory / "signature.json").write_text(json.dumps(signature), encoding="utf-8")


def sklearn_model_dir(directory: Path, estimator: Any) -> Path:
    directory.mkdir(parents=True)
    skops.io.dump(estimator, directory / "model.skops")
    write_signature(directory, SKLEARN_SIGNATURE)
    return directory


def sklearn_inputs(rows: np.ndarray) -> dict[str, Any]:
    return {name: rows[:, index].tolist() for index, name in enumerate(COLUMNS)}


@pytest.fixture(scope="module")
def backends() -> dict[str, Callable[[], ServingBackend]]:
    registry = load_plugins(disabled=frozenset()).registry
    return {name: registry.get(Kind.SERVING_BACKEND, name).factory for name in ("sklearn", "torch")}


@pytest.fixture(scope="module")
def logistic_regression() -> LogisticRegression:
    return LogisticRegression(max_iter=1000).fit(TRAIN_X, TRAIN_Y)


@pytest.fixture(scope="module")
def sklearn_dir(tmp_path_factory: pytest.TempPathFactory, logistic_regression: Any) -> Path:
    return sklearn_model_dir(tmp_path_factory.mktemp("sklearn") / "model", logistic_regression)


@pytest.fixture(scope="module")
def torch_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)
    ).eval()
    return model


@pytest.fixture(scope="module")
def torch_dir(tmp_path_factory: pytest.TempPathFactory, torch_model: torch.nn.Module) -> Path:
    directory = tmp_path_factory.mktemp("torch") / "model"
    directory.mkdir()
    example = torch.randn(2, 4)
    program = torch.export.export(
        torch_model, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(program, directory / "model.pt2")
    write_signature(directory, TORCH_SIGNATURE)
    return directory


# -- the conformance suite ---------------------------------------------------------------------


class TestSklearn(ServingBackendSuite):
    @pytest.fixture
    def serving_backend(self, backends: dict[str, Callable[[], ServingBackend]]) -> ServingBackend:
        return backends["sklearn"]()

    @pytest.fixture
    def model_source(self, sklearn_dir: Path) -> ModelSource:
        return ModelSource(sklearn_dir, "sklearn")

    @pytest.fixture
    def model_inputs(self) -> dict[str, Any]:
        return sklearn_inputs(QUERY_X)

    @pytest.fixture
    def expected_outputs(self, logistic_regression: LogisticRegression) -> dict[str, Any]:
        return {
            "prediction": logistic_regression.predict(QUERY_X).tolist(),
            "probabilities": logistic_regression.predict_proba(QUERY_X).tolist(),
        }

    @pytest.fixture
    def unsupported_source(self, torch_dir: Path) -> ModelSource:
        return ModelSource(torch_dir, "torch")

    @pytest.fixture
    def capabilities(self) -> Set[str]:
        return frozenset()


class TestTorch(ServingBackendSuite):
    @pytest.fixture
    def serving_backend(self, backends: dict[str, Callable[[], ServingBackend]]) -> ServingBackend:
        return backends["torch"]()

    @pytest.fixture
    def model_source(self, torch_dir: Path) -> ModelSource:
        return ModelSource(torch_dir, "torch")

    @pytest.fixture
    def model_inputs(self) -> dict[str, Any]:
        return {"x": TORCH_QUERY}

    @pytest.fixture
    def expected_outputs(self, torch_model: torch.nn.Module) -> dict[str, Any]:
        with torch.no_grad():
            return {"y": torch_model(torch.tensor(TORCH_QUERY)).tolist()}

    @pytest.fixture
    def unsupported_source(self, sklearn_dir: Path) -> ModelSource:
        return ModelSource(sklearn_dir, "sklearn")

    @pytest.fixture
    def capabilities(self) -> Set[str]:
        return frozenset({"gpu_serving"}) if torch.cuda.is_available() else frozenset()


# -- both --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sklearn", "torch"])
def test_the_entry_points_register_each_backend_by_its_name(
    backends: dict[str, Callable[[], ServingBackend]], name: str
) -> None:
    assert backends[name]().name == name


@pytest.mark.parametrize("name", ["sklearn", "torch"])
def test_a_directory_of_the_other_framework_is_not_supported_under_this_name(
    backends: dict[str, Callable[[], ServingBackend]], name: str, sklearn_dir: Path, torch_dir: Path
) -> None:
    # The framework decides, not only the files: a torch directory called "sklearn" is refused.
    other_dir = torch_dir if name == "sklearn" else sklearn_dir
    assert not backends[name]().supports(ModelSource(other_dir, name))


@pytest.mark.parametrize(
    ("name", "model_file"), [("sklearn", "model.skops"), ("torch", "model.pt2")]
)
def test_a_model_without_a_signature_is_a_value_error(
    backends: dict[str, Callable[[], ServingBackend]],
    name: str,
    model_file: str,
    sklearn_dir: Path,
    torch_dir: Path,
    tmp_path: Path,
) -> None:
    source_dir = sklearn_dir if name == "sklearn" else torch_dir
    (tmp_path / model_file).write_bytes((source_dir / model_file).read_bytes())
    with pytest.raises(ValueError, match=r"signature\.json is missing"):
        backends[name]().load(ModelSource(tmp_path, name))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["inputs"][0].update(shape=[4]), "batch dimension"),
        (lambda s: s["inputs"][0].update(dtype="complex64"), "complex64"),
        (lambda s: s["inputs"].append(dict(s["inputs"][0])), "duplicate input names"),
        (lambda s: s.update(inputs=[]), "non-empty list"),
        (lambda s: s.update(extra=1), "unknown keys"),
    ],
    ids=["batch-not-dynamic", "unknown-dtype", "duplicate-name", "no-inputs", "unknown-key"],
)
def test_a_malformed_signature_is_a_value_error(
    backends: dict[str, Callable[[], ServingBackend]],
    torch_dir: Path,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    (tmp_path / "model.pt2").write_bytes((torch_dir / "model.pt2").read_bytes())
    signature = json.loads(json.dumps(TORCH_SIGNATURE))
    change(signature)
    write_signature(tmp_path, signature)
    with pytest.raises(ValueError, match=message):
        backends["torch"]().load(ModelSource(tmp_path, "torch"))


@pytest.mark.parametrize("module", ["controlplane_serving_sklearn", "controlplane_serving_torch"])
def test_importing_a_backend_imports_no_ml_library(module: str) -> None:
    # A fresh interpreter: this one has imported torch and scikit-learn already.
    script = textwrap.dedent(
        f"""
        import json, sys
        import {module}
        print(json.dumps(sorted(sys.modules)))
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    modules = set(json.loads(child.stdout))
    assert module in modules
    heavy = sorted(m for m in modules if m.partition(".")[0] in {"torch", "sklearn", "skops"})
    assert heavy == []


# -- sklearn -----------------------------------------------------------------------------------


class Doubler:
    """A transformer of this test module: a type skops must never load."""

    def fit(self, features: Any, target: Any = None) -> Doubler:
        return self

    def transform(self, features: Any) -> Any:
        return features * 2


def test_sklearn_refuses_a_class_outside_the_allowlist(
    backends: dict[str, Callable[[], ServingBackend]], tmp_path: Path
) -> None:
    pipeline = make_pipeline(Doubler(), LogisticRegression()).fit(TRAIN_X, TRAIN_Y)
    directory = sklearn_model_dir(tmp_path / "model", pipeline)
    with pytest.raises(ValueError, match=r"never loaded: \S*Doubler"):
        backends["sklearn"]().load(ModelSource(directory, "sklearn"))


def test_sklearn_refuses_a_numpy_function_skops_does_not_trust(
    backends: dict[str, Callable[[], ServingBackend]], tmp_path: Path
) -> None:
    # numpy.load is in an allowed package, but it is a function, not a class.
    pipeline = make_pipeline(FunctionTransformer(np.load), LogisticRegression())
    directory = sklearn_model_dir(tmp_path / "model", pipeline)
    with pytest.raises(ValueError, match=r"numpy\.load"):
        backends["sklearn"]().load(ModelSource(directory, "sklearn"))


def test_sklearn_loads_a_scikit_learn_class_skops_does_not_trust_by_default(
    backends: dict[str, Callable[[], ServingBackend]], tmp_path: Path
) -> None:
    # HistGradientBoosting keeps TreePredictor objects, outside skops's default trusted types.
    estimator = HistGradientBoostingClassifier(max_iter=3, min_samples_leaf=1)
    estimator.fit(TRAIN_X, TRAIN_Y)
    path = tmp_path / "model"
    directory = sklearn_model_dir(path, estimator)
    assert skops.io.get_untrusted_types(file=directory / "model.skops") != []
    model = backends["sklearn"]().load(ModelSource(directory, "sklearn"))
    outputs = model.predict(sklearn_inputs(QUERY_X))
    assert outputs["prediction"] == estimator.predict(QUERY_X).tolist()
    np.testing.assert_allclose(outputs["probabilities"], estimator.predict_proba(QUERY_X))


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("sklearn.linear_model._logistic.LogisticRegression", True),
        ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", True),
        ("numpy.dtypes.Float64DType", True),
        ("scipy.sparse._csr.csr_matrix", True),
        ("numpy.load", False),
        ("sklearn.sklearn_no_such_module.Thing", False),
        ("builtins.eval", False),
        ("os.system", False),
        ("__main__.Doubler", False),
        ("numpy.__class__.__subclasses__", False),
    ],
)
def test_sklearn_allowed_types(name: str, allowed: bool) -> None:
    assert allowed_type(name) is allowed


def test_sklearn_refuses_a_signature_with_the_wrong_number_of_features(
    backends: dict[str, Callable[[], ServingBackend]], sklearn_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "model.skops").write_bytes((sklearn_dir / "model.skops").read_bytes())
    signature = json.loads(json.dumps(SKLEARN_SIGNATURE))
    del signature["inputs"][-1]
    write_signature(tmp_path, signature)
    with pytest.raises(ValueError, match="3 features; the model takes 4"):
        backends["sklearn"]().load(ModelSource(tmp_path, "sklearn"))


def test_sklearn_stacks_columns_of_several_features(
    backends: dict[str, Callable[[], ServingBackend]],
    sklearn_dir: Path,
    logistic_regression: LogisticRegression,
    tmp_path: Path,
) -> None:
    (tmp_path / "model.skops").write_bytes((sklearn_dir / "model.skops").read_bytes())
    inputs = [
        {"name": "sepals", "dtype": "float64", "shape": [-1, 2]},
        {"name": "petals", "dtype": "float32", "shape": [-1, 2]},
    ]
    write_signature(tmp_path, {"inputs": inputs})
    model = backends["sklearn"]().load(ModelSource(tmp_path, "sklearn"))
    rows = QUERY_X.astype(np.float32).astype(np.float64)
    outputs = model.predict({"sepals": QUERY_X[:, :2].tolist(), "petals": QUERY_X[:, 2:].tolist()})
    assert outputs["prediction"] == logistic_regression.predict(rows).tolist()


def test_sklearn_runs_on_the_cpu_only(
    backends: dict[str, Callable[[], ServingBackend]], sklearn_dir: Path
) -> None:
    with pytest.raises(ValueError, match="CPU only"):
        backends["sklearn"]().load(ModelSource(sklearn_dir, "sklearn", {"device": "cuda"}))


# -- torch -------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_torch_on_cuda_without_a_gpu_is_a_value_error(
    backends: dict[str, Callable[[], ServingBackend]], torch_dir: Path
) -> None:
    with pytest.raises(ValueError, match="no GPU"):
        backends["torch"]().load(ModelSource(torch_dir, "torch", {"device": "cuda"}))


@pytest.mark.parametrize(
    "options",
    [{"device": "tpu"}, {"device": 0}, {"precision": "fp16"}],
    ids=["unknown-device", "device-not-a-string", "unknown-option"],
)
def test_torch_refuses_unknown_options(
    backends: dict[str, Callable[[], ServingBackend]], torch_dir: Path, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        backends["torch"]().load(ModelSource(torch_dir, "torch", options))


def test_torch_refuses_a_signature_with_the_wrong_number_of_inputs(
    backends: dict[str, Callable[[], ServingBackend]], torch_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "model.pt2").write_bytes((torch_dir / "model.pt2").read_bytes())
    signature = json.loads(json.dumps(TORCH_SIGNATURE))
    signature["inputs"].append({"name": "mask", "dtype": "bool", "shape": [-1]})
    write_signature(tmp_path, signature)
    with pytest.raises(ValueError, match="takes 1 inputs"):
        backends["torch"]().load(ModelSource(tmp_path, "torch"))


def test_torch_converts_ints_to_the_signature_dtype(
    backends: dict[str, Callable[[], ServingBackend]],
    torch_dir: Path,
    torch_model: torch.nn.Module,
) -> None:
    model = backends["torch"]().load(ModelSource(torch_dir, "torch"))
    outputs = model.predict({"x": [[1, 2, 3, 4]]})
    with torch.no_grad():
        assert outputs == {"y": torch_model(torch.tensor([[1.0, 2.0, 3.0, 4.0]])).tolist()}


def test_torch_refuses_a_row_of_the_wrong_width(
    backends: dict[str, Callable[[], ServingBackend]], torch_dir: Path
) -> None:
    model = backends["torch"]().load(ModelSource(torch_dir, "torch"))
    with pytest.raises(ValueError, match=r"shape \[2, 5\]; the signature says \[-1, 4\]"):
        model.predict({"x": [[1.0] * 5, [2.0] * 5]})
