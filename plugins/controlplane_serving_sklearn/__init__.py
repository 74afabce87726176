"""The built-in ``sklearn`` serving backend: scikit-learn models saved with skops.

Registered through the entry point ``serving-sklearn`` of the group ``controlplane``, like any
plugin, with ``trylast=True`` so a third-party plugin that registers ``sklearn`` replaces it.

It serves a ``ModelSource`` of framework ``"sklearn"`` whose directory holds::

    model.skops      the fitted estimator, written with skops.io.dump
    signature.json   the input columns (controlplane.interfaces.model_signature)

Each input column is one feature (shape ``[-1]``) or several (``[-1, k]``); predict stacks
them, in the signature's order, into a 2-D float64 array and answers
``{"prediction": [...]}``, plus ``{"probabilities": [[...], ...]}`` when the estimator has
``predict_proba``. Loading never runs pickled code: skops reads the file, and every type it
does not trust by default must be a class of scikit-learn, numpy or scipy
(``controlplane_serving_sklearn.backend.allowed_type``), or ``load`` raises ``ValueError``
naming the others. The only option is ``device``, which must be ``"cpu"`` if given.

Importing this module does not import scikit-learn or skops; ``load`` does.
"""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from controlplane_serving_sklearn.backend import MODEL_FILE, SklearnBackend, SklearnModel

__all__ = [
    "MODEL_FILE",
    "SklearnBackend",
    "SklearnModel",
    "controlplane_register_serving_backends",
]


@hookimpl(trylast=True)
def controlplane_register_serving_backends(registry: Registry) -> None:
    """``sklearn``: skops files (``model.skops``) with a ``signature.json``."""
    registry.add_serving_backend("sklearn", SklearnBackend)
