"""Serving backends: load a registered model version and answer predictions.

The server resolves a model version to a local directory holding its files (downloaded from
the artifact store) and a framework name, then asks each backend whether it ``supports`` it.
Inputs and outputs are dicts of column name -> list (or nested list) of values, the JSON-like
shape the Predict RPC carries.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelSource:
    path: Path  # a directory with the model's files
    framework: str  # "torch", "sklearn", "vllm", ...
    options: dict[str, Any] = field(default_factory=dict)  # backend-specific, e.g. device


class LoadedModel(abc.ABC):
    @abc.abstractmethod
    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Predictions for a batch of inputs. Raises ``ValueError`` for inputs that do not
        match the model's signature."""

    def close(self) -> None:  # noqa: B027 - optional hook with a default
        """Frees the model's memory (GPU included)."""


class ServingBackend(abc.ABC):
    name: str = ""

    @abc.abstractmethod
    def supports(self, source: ModelSource) -> bool:
        """Whether this backend can serve the model (by framework and files)."""

    @abc.abstractmethod
    def load(self, source: ModelSource) -> LoadedModel:
        """Loads the model, ready to predict."""
