"""The ``sklearn`` backend: loads ``model.skops`` under a trusted-types policy."""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np

from controlplane.interfaces.model_signature import Signature
from controlplane.interfaces.serving import LoadedModel, ModelSource, ServingBackend

MODEL_FILE = "model.skops"

#: The packages whose classes a model file may hold beyond the types skops trusts by default.
ALLOWED_PACKAGES = frozenset({"sklearn", "numpy", "scipy"})


def allowed_type(name: str) -> bool:
    """Whether ``name`` (a dotted type name from ``skops.io.get_untrusted_types``) is a class
    of an allowed package. Functions and other callables are refused even there (a
    ``FunctionTransformer`` could call them at predict time), and a name outside the allowed
    packages is refused without importing anything."""
    parts = name.split(".")
    if parts[0] not in ALLOWED_PACKAGES or not all(part.isidentifier() for part in parts):
        return False
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute, None)
        return isinstance(target, type)
    return False


def _check_options(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - {"device"})
    if unknown:
        raise ValueError(f"the sklearn backend has no options {unknown} (it knows: device)")
    if options.get("device", "cpu") != "cpu":
        raise ValueError(f"the sklearn backend runs on the CPU only, not {options['device']!r}")


class SklearnModel(LoadedModel):
    """A loaded estimator. ``predict`` only reads the estimator, so threads share it."""

    def __init__(self, estimator: Any, signature: Signature) -> None:
        self._estimator: Any = estimator
        self._signature = signature

    @property
    def signature(self) -> Signature:
        return self._signature

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        estimator = self._estimator
        if estimator is None:
            raise RuntimeError("the model is closed")
        arrays = self._signature.arrays(inputs)
        rows = next(iter(arrays.values())).shape[0]
        features = np.concatenate(
            [
                arrays[spec.name].reshape(rows, -1).astype(np.float64)
                for spec in self._signature.inputs
            ],
            axis=1,
        )
        outputs: dict[str, Any] = {"prediction": estimator.predict(features).tolist()}
        if hasattr(estimator, "predict_proba"):
            outputs["probabilities"] = estimator.predict_proba(features).tolist()
        return outputs

    def close(self) -> None:
        self._estimator = None


class SklearnBackend(ServingBackend):
    name = "sklearn"

    def supports(self, source: ModelSource) -> bool:
        return source.framework == "sklearn" and (source.path / MODEL_FILE).is_file()

    def load(self, source: ModelSource) -> SklearnModel:
        _check_options(source.options)
        path = source.path / MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: an sklearn model needs {MODEL_FILE}")
        signature = Signature.read(source.path)

        import skops.io

        untrusted = skops.io.get_untrusted_types(file=path)
        refused = sorted(name for name in untrusted if not allowed_type(name))
        if refused:
            raise ValueError(
                f"{path} holds types outside scikit-learn, numpy and scipy, which are never "
                f"loaded: {', '.join(refused)}"
            )
        estimator = skops.io.load(path, trusted=untrusted)
        if not callable(getattr(estimator, "predict", None)):
            raise ValueError(f"{path} holds a {type(estimator).__name__}, which has no predict")
        # A signature of fixed row shapes says how many features it makes: check it now rather
        # than at the first prediction.
        row_shapes = [spec.shape[1:] for spec in signature.inputs]
        features = sum(math.prod(shape) for shape in row_shapes)
        expected = getattr(estimator, "n_features_in_", None)
        fixed = all(-1 not in shape for shape in row_shapes)
        if fixed and expected is not None and features != expected:
            raise ValueError(
                f"the signature's inputs make {features} features; the model takes {expected}"
            )
        return SklearnModel(estimator, signature)
