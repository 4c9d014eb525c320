"""The partial models: per runtime, one Triton model per output set of the contract's PARTIAL_OUTPUT_SETS
that computes only those outputs.

A runtime runs every node of its graph whatever the caller fetches (onnxruntime does; a TorchScript
forward returns everything it computes), so a map-only request on the full model pays for the softmax
and a distribution-only request for the argmax. `<model>__<output>[__<output>]` computes just its outputs (the map
and its confidence for a summary); the full model stays for callers who want other sets at once
(docs/performance.md, "Pay only for what is asked").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import torch

from gateway.contract import CONFIDENCE, INPUT_NAME, ONNX_RUNTIME, OUTPUT_NAMES, PROBABILITIES, SEGMENTATION_MAP

from .contract import SegmentationContract
from .errors import ExportError
from .onnx_export import extract_outputs
from .sources.base import ModelSource
from .torchscript import load_torchscript, save_torchscript, to_torchscript


def write_torchscript(source: ModelSource, example: torch.Tensor, outputs: tuple[str, ...], path: Path) -> None:
    contract = SegmentationContract(source.logits_model, outputs).eval()
    save_torchscript(to_torchscript(contract, example), path)


def write_onnx(full_onnx: Path, outputs: tuple[str, ...], path: Path) -> None:
    extract_outputs(full_onnx, outputs, path)


def check_agreement(
    full: dict[str, Path], partials: dict[str, dict[tuple[str, ...], Path]], batch: np.ndarray
) -> dict[str, float]:
    """Each partial file against its full model on `batch` (keys: runtime "torch" | "onnx"): the max |difference|
    per model and output (0 for the ONNX parts, which are the full graph's own nodes). Raises when a map pixel
    differs or a score moves by more than float noise; and when the full model's confidence is not the maximum
    of its probabilities."""
    found: dict[str, float] = {}
    for runtime, path in full.items():
        reference = dict(zip(OUTPUT_NAMES, _run(runtime, path, OUTPUT_NAMES, batch), strict=True))
        _check_confidence(reference, path)
        for outputs, partial_path in partials[runtime].items():
            values = dict(zip(outputs, _run(runtime, partial_path, outputs, batch), strict=True))
            for output, value in values.items():
                difference = float(np.abs(value.astype(np.float64) - reference[output].astype(np.float64)).max())
                limit = 0.0 if output == SEGMENTATION_MAP else 1e-3
                if value.shape != reference[output].shape or not difference <= limit:
                    raise ExportError(
                        f"{partial_path} disagrees with {path} on {output}: max |diff| {difference:.3g} "
                        f"(shape {value.shape} vs {reference[output].shape})"
                    )
                found[f"{runtime}/{'+'.join(outputs)}/{output}"] = difference
    return found


def _check_confidence(reference: dict[str, np.ndarray], path: Path) -> None:
    winning = reference[PROBABILITIES].max(axis=1)
    difference = float(np.abs(reference[CONFIDENCE].astype(np.float64) - winning).max())
    if reference[CONFIDENCE].shape != winning.shape or not difference <= 1e-5:
        raise ExportError(f"{path}: its confidence is not its probabilities' maximum: max |diff| {difference:.3g}")


def _run(runtime: str, path: Path, outputs: tuple[str, ...], batch: np.ndarray) -> list[np.ndarray]:
    if runtime == ONNX_RUNTIME:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return session.run(list(outputs), {INPUT_NAME: batch})
    with torch.inference_mode():
        result = load_torchscript(path)(torch.from_numpy(batch))
    result = (result,) if isinstance(result, torch.Tensor) else result
    return [tensor.numpy() for tensor in result]
