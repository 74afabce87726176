"""The built-in ``torch`` serving backend: ``torch.export`` programs.

Registered through the entry point ``serving-torch`` of the group ``controlplane``, like any
plugin, with ``trylast=True`` so a third-party plugin that registers ``torch`` replaces it.

It serves a ``ModelSource`` of framework ``"torch"`` whose directory holds::

    model.pt2        an ExportedProgram: torch.export.export(model, (example, ...),
                     dynamic_shapes=...) saved with torch.export.save; export the batch
                     dimension as dynamic so any batch size is served
    signature.json   the program's inputs, in its positional order, and its outputs
                     (controlplane.interfaces.model_signature; the layout is shared)

Predict converts each input column to a tensor of the signature's dtype and shape (a
``ValueError`` for anything else), calls the program under ``torch.inference_mode()`` and
answers one list per output, named by the signature's ``outputs`` (``"output"``, or
``"output_0"``, ``"output_1"``... when it names none). A ``.pt2`` file holds a graph and
tensors, not pickled code.

Options: ``device`` is ``"cpu"`` (the default), ``"cuda"`` or ``"cuda:N"``; a CUDA device on a
machine without one is a ``ValueError`` at load.

Importing this module does not import torch; ``load`` does.
"""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from controlplane_serving_torch.backend import MODEL_FILE, TorchBackend, TorchModel

__all__ = ["MODEL_FILE", "TorchBackend", "TorchModel", "controlplane_register_serving_backends"]


@hookimpl(trylast=True)
def controlplane_register_serving_backends(registry: Registry) -> None:
    """``torch``: ExportedPrograms (``model.pt2``) with a ``signature.json``."""
    registry.add_serving_backend("torch", TorchBackend)
