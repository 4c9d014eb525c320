"""Contract module -> ONNX file (opset >= 17, dynamic batch axis), checked by onnx.checker."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import onnx.utils
import torch
from torch import nn

from gateway.contract import CONFIDENCE, INPUT_NAME, LOGITS, OUTPUT_NAMES, PROBABILITIES, SEGMENTATION_MAP

from .errors import ExportError

OPSET = 17
BATCH_AXIS_NAME = "batch"
_ELEMENT_TYPES = {
    INPUT_NAME: onnx.TensorProto.UINT8,
    LOGITS: onnx.TensorProto.FLOAT,
    PROBABILITIES: onnx.TensorProto.FLOAT,
    SEGMENTATION_MAP: onnx.TensorProto.UINT8,
    CONFIDENCE: onnx.TensorProto.FLOAT,
}


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Export with the legacy TorchScript-based exporter (`dynamo=False`).

    Why not the dynamo exporter (torch 2.14's default): it needs the `onnxscript` package, which is not
    installed here, and it would add a second tracing technology for no gain: these models are static
    conv nets that the legacy exporter handles fully (including onnx2torch's fx graphs), and it gives
    a plain single-file graph that onnxruntime and Triton's onnxruntime backend load as is.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings are expected
        with torch.no_grad():
            torch.onnx.export(
                model.eval(),
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_axes={name: {0: BATCH_AXIS_NAME} for name in (INPUT_NAME, *OUTPUT_NAMES)},
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    check_onnx_contract(path)


def extract_outputs(full_path: Path, outputs: tuple[str, ...], path: Path) -> None:
    """The part of the exported graph that computes only `outputs` (the partial models).

    onnxruntime runs every node of a graph whatever a caller fetches, so a map-only request on the full
    graph pays for the softmax too. The nodes kept are the very nodes of the full graph (same weights,
    same arithmetic), so their answers are the full graph's bit for bit.
    """
    model = onnx.load(str(full_path))
    extracted = onnx.utils.Extractor(model).extract_model([INPUT_NAME], list(outputs))
    onnx.save(extracted, str(path))
    check_onnx_contract(path, outputs)


def check_onnx_contract(path: Path, outputs: tuple[str, ...] = OUTPUT_NAMES) -> None:
    """onnx.checker plus the contract: names, element types, opset, a symbolic batch dim everywhere."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as error:
        raise ExportError(f"{path}: onnx.checker refused the exported graph: {error}") from error
    model = onnx.load(str(path), load_external_data=False)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    problems = [] if opset >= OPSET else [f"opset {opset} < {OPSET}"]
    found = {v.name: v for v in (*model.graph.input, *model.graph.output)}
    for name, element_type in _ELEMENT_TYPES.items():
        if name != INPUT_NAME and name not in outputs:
            continue
        value = found.get(name)
        if value is None:
            problems.append(f"no graph input/output named {name!r}")
            continue
        if value.type.tensor_type.elem_type != element_type:
            problems.append(
                f"{name} has element type {onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)}"
            )
        batch = value.type.tensor_type.shape.dim[0]
        if not batch.dim_param:
            problems.append(f"{name} has a fixed batch dim {batch.dim_value}")
    if [o.name for o in model.graph.output] != list(outputs):
        problems.append(f"graph outputs are {[o.name for o in model.graph.output]}, not {list(outputs)}")
    if problems:
        raise ExportError(f"{path} breaks the model contract: " + "; ".join(problems))
