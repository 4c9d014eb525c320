"""The single-output models: per runtime, one Triton model per contract output that computes only it.

A runtime runs every node of its graph whatever the caller fetches (onnxruntime does; a TorchScript
forward returns everything it computes), so a map-only request on the full model pays for the softmax
and a distribution-only request for the argmax. `<model>__<output>` computes just that output; the full
model stays for callers who want several outputs at once (docs/performance.md, "Pay only for what is asked").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import torch

from gateway.contract import INPUT_NAME, OUTPUT_NAMES

from .contract import SegmentationContract
from .errors import ExportError
from .onnx_export import extract_outputs
from .sources.base import ModelSource
from .torchscript import load_torchscript, save_torchscript, to_torchscript


def write_torchscript(source: ModelSource, example: torch.Tensor, output: str, path: Path) -> None:
    contract = SegmentationContract(source.logits_model, (output,)).eval()
    save_torchscript(to_torchscript(contract, example), path)


def write_onnx(full_onnx: Path, output: str, path: Path) -> None:
    extract_outputs(full_onnx, (output,), path)


def check_agreement(full: dict[str, Path], single: dict[str, dict[str, Path]], batch: np.ndarray) -> dict[str, float]:
    """Each single-output file against its full model on `batch` (keys: runtime "torch" | "onnx"): the max
    |difference| per model
    (0 for the ONNX parts, which are the full graph's own nodes). Raises when a map pixel differs or a
    score moves by more than float noise."""
    found: dict[str, float] = {}
    for runtime, path in full.items():
        reference = dict(zip(OUTPUT_NAMES, _run(runtime, path, OUTPUT_NAMES, batch), strict=True))
        for output, single_path in single[runtime].items():
            (value,) = _run(runtime, single_path, (output,), batch)
            difference = float(np.abs(value.astype(np.float64) - reference[output].astype(np.float64)).max())
            limit = 0.0 if output == "segmentation_map" else 1e-3
            if value.shape != reference[output].shape or not difference <= limit:
                raise ExportError(
                    f"{single_path} disagrees with {path} on {output}: max |diff| {difference:.3g} "
                    f"(shape {value.shape} vs {reference[output].shape})"
                )
            found[f"{runtime}/{output}"] = difference
    return found


def _run(runtime: str, path: Path, outputs: tuple[str, ...], batch: np.ndarray) -> list[np.ndarray]:
    if runtime == "onnx":
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return session.run(list(outputs), {INPUT_NAME: batch})
    with torch.inference_mode():
        result = load_torchscript(path)(torch.from_numpy(batch))
    result = (result,) if isinstance(result, torch.Tensor) else result
    return [tensor.numpy() for tensor in result]
