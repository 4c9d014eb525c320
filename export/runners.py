"""The runtimes the parity check compares, behind one call: UINT8 batch -> (logits, probabilities, map)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from gateway.contract import INPUT_NAME, OUTPUT_NAMES

from .contract import SegmentationContract
from .sources.base import ModelSource, ReferenceRunner
from .torchscript import load_torchscript


@dataclass(frozen=True)
class Outputs:
    logits: np.ndarray  # FP32 [N,C,H,W]
    probabilities: np.ndarray  # FP32 [N,C,H,W]
    segmentation_map: np.ndarray  # UINT8 [N,H,W]
    confidence: np.ndarray  # FP32 [N,H,W]


@dataclass
class Runner:
    """A named runtime (runner) with a wall-clock tally (for the report's ms/image)."""

    name: str
    label: str  # for people: "TorchScript (frozen)", ...
    run: Callable[[np.ndarray], Outputs]
    seconds: float = 0.0
    images: int = 0

    def __call__(self, batch: np.ndarray, timed: bool = True) -> Outputs:
        started = time.perf_counter()
        outputs = self.run(batch)
        if timed:
            self.seconds += time.perf_counter() - started
            self.images += len(batch)
        return outputs

    @property
    def ms_per_image(self) -> float | None:
        return 1000.0 * self.seconds / self.images if self.images else None


def _torch_outputs(result: tuple[torch.Tensor, ...]) -> Outputs:
    return Outputs(*(tensor.numpy() for tensor in result))


def eager(source: ModelSource) -> Runner:
    contract = SegmentationContract(source.logits_model).eval()

    def run(batch: np.ndarray) -> Outputs:
        with torch.inference_mode():
            return _torch_outputs(contract(torch.from_numpy(batch)))

    return Runner("eager", "eager PyTorch", run)


def torchscript(path: Path) -> Runner:
    module = load_torchscript(path)

    def run(batch: np.ndarray) -> Outputs:
        with torch.inference_mode():
            return _torch_outputs(module(torch.from_numpy(batch)))

    return Runner("torchscript", "TorchScript", run)


def onnx_runtime(path: Path) -> Runner:
    options = onnxruntime.SessionOptions()
    # Same thread count as torch, so the ms/image of the two runtimes compare like with like.
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(batch: np.ndarray) -> Outputs:
        return Outputs(*session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch}))

    return Runner("onnxruntime", "ONNX Runtime", run)


def original(reference: ReferenceRunner) -> Runner:
    """The source's own model (e.g. onnxruntime on the user's ONNX file), lifted to the contract."""

    def run(batch: np.ndarray) -> Outputs:
        logits = reference(batch).astype(np.float32)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        sums = shifted.sum(axis=1, keepdims=True)
        return Outputs(logits, shifted / sums, logits.argmax(axis=1).astype(np.uint8), 1.0 / sums[:, 0])

    return Runner("original", "original model", run)
