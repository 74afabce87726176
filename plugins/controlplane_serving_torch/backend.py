"""The ``torch`` backend: loads ``model.pt2`` with ``torch.export.load``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from controlplane.interfaces.model_signature import Signature
from controlplane.interfaces.serving import LoadedModel, ModelSource, ServingBackend

if TYPE_CHECKING:
    import torch

MODEL_FILE = "model.pt2"
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def _device(options: dict[str, Any]) -> str:
    unknown = sorted(set(options) - {"device"})
    if unknown:
        raise ValueError(f"the torch backend has no options {unknown} (it knows: device)")
    device = options.get("device", "cpu")
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {device!r}")
    return device


class TorchModel(LoadedModel):
    """A loaded program. Its forward pass keeps no state, so threads share it."""

    def __init__(
        self,
        module: torch.nn.Module,
        signature: Signature,
        output_names: tuple[str, ...],
        device: str,
    ) -> None:
        self._module: torch.nn.Module | None = module
        self._signature = signature
        self._output_names = output_names
        self._device = device

    @property
    def signature(self) -> Signature:
        return self._signature

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import torch

        module = self._module
        if module is None:
            raise RuntimeError("the model is closed")
        arrays = self._signature.arrays(inputs)
        with torch.inference_mode():
            tensors = [
                torch.from_numpy(arrays[spec.name]).to(self._device)
                for spec in self._signature.inputs
            ]
            result = module(*tensors)
        results = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        if len(results) != len(self._output_names):
            raise RuntimeError(
                f"the model returned {len(results)} outputs; its signature names "
                f"{list(self._output_names)}"
            )
        return {
            name: np.asarray(value.detach().cpu().numpy()).tolist()
            for name, value in zip(self._output_names, results, strict=True)
        }

    def close(self) -> None:
        self._module = None
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


class TorchBackend(ServingBackend):
    name = "torch"

    def supports(self, source: ModelSource) -> bool:
        return source.framework == "torch" and (source.path / MODEL_FILE).is_file()

    def load(self, source: ModelSource) -> TorchModel:
        device = _device(source.options)
        path = source.path / MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: a torch model needs {MODEL_FILE}")
        signature = Signature.read(source.path)

        import torch

        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise ValueError(f"device {device!r} asked for, but this machine has no GPU")
            index = int(device.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise ValueError(
                    f"device {device!r} asked for; this machine has "
                    f"{torch.cuda.device_count()} GPUs"
                )
        program = torch.export.load(path)
        program_inputs = program.graph_signature.user_inputs
        if len(program_inputs) != len(signature.inputs):
            raise ValueError(
                f"{path} takes {len(program_inputs)} inputs; the signature names "
                f"{[spec.name for spec in signature.inputs]}"
            )
        count = len(program.graph_signature.user_outputs)
        if signature.outputs:
            if len(signature.outputs) != count:
                raise ValueError(
                    f"{path} returns {count} outputs; the signature names "
                    f"{[spec.name for spec in signature.outputs]}"
                )
            names = tuple(spec.name for spec in signature.outputs)
        else:
            names = ("output",) if count == 1 else tuple(f"output_{i}" for i in range(count))
        if device != "cpu":
            from torch.export.passes import move_to_device_pass

            program = move_to_device_pass(program, device)
        return TorchModel(program.module(), signature, names, device)
