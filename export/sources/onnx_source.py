"""An existing ONNX segmentation model + its input spec -> a torch twin (onnx2torch) under the contract."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from torch import nn

from ..errors import ExportError
from .adapters import AffineNormalize
from .base import ModelSource, ReferenceRunner, read_labels_file
from .input_spec import InputSpec, MeanStd, ScaleOffset, read_input_spec, resolve_path
from .onnx_graph import prepare_graph


class InputAdapter(nn.Module):
    """Contract UINT8 NCHW -> the model's own input: dtype, normalisation (on NCHW), then layout."""

    def __init__(self, spec: InputSpec) -> None:
        super().__init__()
        described = spec.input
        self.to_float = described.dtype == "float32"
        normalisation = described.normalisation
        if isinstance(normalisation, MeanStd):
            self.normalize: nn.Module = AffineNormalize.from_mean_std(normalisation.mean, normalisation.std)
        elif isinstance(normalisation, ScaleOffset):
            self.normalize = AffineNormalize(normalisation.scale, normalisation.offset)
        else:
            self.normalize = nn.Identity()
        self.channels_last = described.layout == "NHWC"

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.normalize(image.to(torch.float32)) if self.to_float else image
        return x.permute(0, 2, 3, 1) if self.channels_last else x


class OnnxTwinLogits(nn.Module):
    """UINT8 NCHW -> input adapter -> onnx2torch twin of the user's graph -> logits NCHW FP32."""

    def __init__(self, spec: InputSpec, converted: nn.Module) -> None:
        super().__init__()
        self.adapt = InputAdapter(spec)
        self.model = converted
        self.output_channels_last = spec.output.layout == "NHWC"

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.model(self.adapt(image))
        if self.output_channels_last:
            logits = logits.permute(0, 3, 1, 2)
        return logits.to(torch.float32)


def build_onnx_source(spec_path: Path, model_override: Path | None = None) -> ModelSource:
    spec = read_input_spec(spec_path)
    model_path = model_override or resolve_path(spec.model, spec_path.parent)
    labels_path = resolve_path(spec.labels, spec_path.parent)
    original = _load_onnx(model_path)
    input_name = spec.input.name or _only_input(original, model_path)
    prepared = prepare_graph(original, input_name, spec.output.name, str(model_path))
    twin = OnnxTwinLogits(spec, _convert(prepared, model_path)).eval()
    labels = read_labels_file(labels_path)
    height, width = spec.input.size
    return ModelSource(
        logits_model=twin,
        labels=labels,
        input_size=(height, width),
        weights=str(model_path),
        weights_are_random=False,
        provenance={
            "source": "onnx",
            "onnx_model": str(model_path),
            "onnx_sha256": _sha256(model_path),
            "labels_file": str(labels_path),
            "input_spec_file": str(spec_path),
            "input_spec": spec.model_dump(),
            "converter": "onnx2torch",
            "batch": "the original's batch dim was made symbolic (Reshape targets with a leading 1 -> -1)",
        },
        reference=_reference_runner(model_path, input_name, spec),
    )


def _load_onnx(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise ExportError(f"ONNX model {path} does not exist")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as error:  # DecodeError, ValidationError, ...: all mean "not a usable ONNX file"
        raise ExportError(f"ONNX model {path} is not a valid ONNX file: {type(error).__name__}: {error}") from error
    return model


def _only_input(model: onnx.ModelProto, path: Path) -> str:
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ExportError(f"{path} has inputs {inputs}: name the image input in the spec's input.name")
    return inputs[0]


def _convert(model: onnx.ModelProto, path: Path) -> nn.Module:
    from onnx2torch import convert  # imported here: it is slow to import and only this source needs it

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convert(model)
    except Exception as error:  # NotImplementedError for unsupported ops, among others
        raise ExportError(f"onnx2torch cannot convert {path}: {type(error).__name__}: {error}") from error


def _reference_runner(path: Path, input_name: str, spec: InputSpec) -> ReferenceRunner:
    """onnxruntime on the *original* file; one image at a time when its batch dim is fixed."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch_dim = next(i for i in session.get_inputs() if i.name == input_name).shape[0]
    per_image = isinstance(batch_dim, int)
    adapter = InputAdapter(spec).eval()

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            model_input = adapter(torch.from_numpy(batch)).contiguous().numpy()
        chunks = [model_input[i : i + 1] for i in range(len(model_input))] if per_image else [model_input]
        logits = np.concatenate([session.run([spec.output.name], {input_name: chunk})[0] for chunk in chunks])
        return logits.transpose(0, 3, 1, 2) if spec.output.layout == "NHWC" else logits

    return run


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
