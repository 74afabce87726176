"""The sklearn backend, but its models stack the input columns in the order the request lists
them rather than the order of the signature: right for every client that happens to send the
columns in the signature's order, silently wrong predictions for any other. Loading, checking
and the rest are the built-in backend's."""

from __future__ import annotations

from typing import Any

import numpy as np
from controlplane_serving_sklearn.backend import SklearnBackend, SklearnModel

from controlplane.interfaces.serving import ModelSource


class ColumnsByPositionModel(SklearnModel):
    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        arrays = self.signature.arrays(inputs)  # checks names, shapes and types
        rows = next(iter(arrays.values())).shape[0]
        features = np.concatenate(
            # The mistake: the request's order, not `for spec in self.signature.inputs`.
            [arrays[name].reshape(rows, -1).astype(np.float64) for name in inputs],
            axis=1,
        )
        estimator: Any = self._estimator
        outputs: dict[str, Any] = {"prediction": estimator.predict(features).tolist()}
        if hasattr(estimator, "predict_proba"):
            outputs["probabilities"] = estimator.predict_proba(features).tolist()
        return outputs


class ColumnsByPositionBackend(SklearnBackend):
    name = "sklearn-by-position"

    def load(self, source: ModelSource) -> SklearnModel:
        model = super().load(source)
        return ColumnsByPositionModel(model._estimator, model.signature)
