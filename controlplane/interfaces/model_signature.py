"""``signature.json``: the inputs and outputs of a served model, part of the model directory
layout every serving backend reads (``controlplane.interfaces.serving``); the built-in
backends (``sklearn`` and ``torch``) and third-party ones share this parser.

The file is a JSON object::

    {
      "inputs":  [{"name": "x", "dtype": "float32", "shape": [-1, 4]}],
      "outputs": [{"name": "y", "dtype": "float32", "shape": [-1, 2]}]
    }

``inputs`` is required and non-empty; ``outputs`` is optional. Each entry has a unique
``name``, a ``dtype`` (one of ``DTYPES``) and a ``shape`` whose first dimension is the batch
and must be ``-1``; any other dimension is a positive size or ``-1`` (any size). Predict's
inputs are a dict of input name -> list (or nested list) of values, one row per batch element;
``Signature.arrays`` checks them against the signature and converts them.

Only numpy is imported here, so the plugins that use it stay light to import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SIGNATURE_FILE = "signature.json"

#: The dtypes a signature may name, and the numpy kinds of values each accepts (a float
#: column takes ints and bools, an int column ints and bools, a bool column only bools).
DTYPES: dict[str, str] = {
    "float16": "biuf",
    "float32": "biuf",
    "float64": "biuf",
    "int8": "biu",
    "int16": "biu",
    "int32": "biu",
    "int64": "biu",
    "uint8": "biu",
    "bool": "b",
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @classmethod
    def parse(cls, entry: object, where: str) -> TensorSpec:
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object with name, dtype and shape")
        name, dtype, shape = entry.get("name"), entry.get("dtype"), entry.get("shape")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: name must be a non-empty string, not {name!r}")
        if dtype not in DTYPES:
            raise ValueError(f"{where} ({name}): dtype {dtype!r} is not one of {sorted(DTYPES)}")
        if (
            not isinstance(shape, list)
            or not shape
            or not all(type(dim) is int and (dim == -1 or dim > 0) for dim in shape)
            or shape[0] != -1
        ):
            raise ValueError(
                f"{where} ({name}): shape {shape!r} must be a list of sizes (-1 for any) "
                "whose first, the batch dimension, is -1"
            )
        return cls(name, dtype, tuple(shape))

    def describe(self) -> str:
        return f"{self.name} ({self.dtype}, shape {list(self.shape)})"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...] = ()

    @classmethod
    def read(cls, directory: Path) -> Signature:
        """The signature in ``directory``; ``ValueError`` if it is missing or malformed."""
        path = directory / SIGNATURE_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{path} is missing: a model directory needs a signature") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} is not readable JSON: {error}") from None
        if not isinstance(document, dict):
            raise ValueError(f"{path}: expected a JSON object with inputs and outputs")
        return cls.parse(document, str(path))

    @classmethod
    def parse(cls, document: Mapping[str, Any], where: str = SIGNATURE_FILE) -> Signature:
        unknown = sorted(set(document) - {"inputs", "outputs"})
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}")
        raw_inputs, raw_outputs = document.get("inputs"), document.get("outputs", [])
        if not isinstance(raw_inputs, list) or not raw_inputs:
            raise ValueError(f"{where}: inputs must be a non-empty list")
        if not isinstance(raw_outputs, list):
            raise ValueError(f"{where}: outputs must be a list")
        inputs = tuple(
            TensorSpec.parse(entry, f"{where}: inputs[{index}]")
            for index, entry in enumerate(raw_inputs)
        )
        outputs = tuple(
            TensorSpec.parse(entry, f"{where}: outputs[{index}]")
            for index, entry in enumerate(raw_outputs)
        )
        for kind, specs in (("input", inputs), ("output", outputs)):
            names = [spec.name for spec in specs]
            duplicates = sorted({name for name in names if names.count(name) > 1})
            if duplicates:
                raise ValueError(f"{where}: duplicate {kind} names {duplicates}")
        return cls(inputs, outputs)

    def arrays(self, inputs: object) -> dict[str, npt.NDArray[Any]]:
        """Predict's ``inputs`` as one array per signature input, of its dtype and shape.
        Raises ``ValueError`` naming the column for anything that does not match: a missing
        or unexpected column, values that are not numbers of the dtype's kind, a ragged or
        ill-shaped column, columns of different batch sizes or an empty batch."""
        if not isinstance(inputs, Mapping):
            raise ValueError(f"inputs must be a dict of column -> values, not {type(inputs)}")
        expected = [spec.name for spec in self.inputs]
        missing = [name for name in expected if name not in inputs]
        extra = sorted(str(name) for name in inputs if name not in expected)
        if missing or extra:
            raise ValueError(
                f"inputs do not match the signature: missing columns {missing}, unexpected "
                f"columns {extra}; the signature's inputs are "
                f"{', '.join(spec.describe() for spec in self.inputs)}"
            )
        arrays: dict[str, npt.NDArray[Any]] = {}
        batch: int | None = None
        for spec in self.inputs:
            array = _column(spec, inputs[spec.name])
            if batch is None:
                batch = array.shape[0]
                if batch == 0:
                    raise ValueError(f"input {spec.name!r} is empty: a batch needs a row")
            elif array.shape[0] != batch:
                raise ValueError(
                    f"input {spec.name!r} has {array.shape[0]} rows, "
                    f"input {self.inputs[0].name!r} has {batch}"
                )
            arrays[spec.name] = array
        return arrays


def _column(spec: TensorSpec, values: object) -> npt.NDArray[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise ValueError(f"input {spec.name!r} must be a list of rows, not {type(values).__name__}")
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as error:
        raise ValueError(f"input {spec.name!r} is not a rectangular array: {error}") from None
    if array.dtype.kind not in DTYPES[spec.dtype]:
        raise ValueError(
            f"input {spec.name!r} holds values of type {array.dtype}, which the signature's "
            f"{spec.dtype} does not take"
        )
    if array.ndim != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, array.shape, strict=True)
    ):
        raise ValueError(
            f"input {spec.name!r} has shape {list(array.shape)}; the signature says "
            f"{list(spec.shape)} (-1: any size)"
        )
    target = np.dtype(spec.dtype)
    if target.kind in "iu" and array.size:
        info = np.iinfo(target)
        if array.min() < info.min or array.max() > info.max:
            raise ValueError(f"input {spec.name!r} has values outside the range of {spec.dtype}")
    return np.ascontiguousarray(array, dtype=target)
