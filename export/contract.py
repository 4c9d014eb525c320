"""The served model contract (docs/architecture.md): UINT8 image in; logits, probabilities, map, confidence out."""

from __future__ import annotations

import torch
from torch import nn

from gateway.contract import CONFIDENCE, LOGITS, OUTPUT_NAMES, PROBABILITIES, SEGMENTATION_MAP


class SegmentationContract(nn.Module):
    """Wraps a `UINT8 [N,3,H,W] -> logits FP32 [N,C,H,W]` module into the contract's outputs.

    Softmax and argmax live in the exported graph so that a caller who asks Triton only for the
    map gets 1 byte per pixel back instead of C floats.

    `outputs` names a subset (in contract order) for the partial models: only what they return
    is computed (a runtime runs every node of a graph whatever is fetched). One output is returned as a
    plain tensor, several as a tuple.
    """

    def __init__(self, logits_model: nn.Module, outputs: tuple[str, ...] = OUTPUT_NAMES) -> None:
        super().__init__()
        unknown = [name for name in outputs if name not in OUTPUT_NAMES]
        if unknown or not outputs:
            raise ValueError(f"outputs must be a non-empty subset of {OUTPUT_NAMES}, got {outputs}")
        self.logits_model = logits_model
        self.outputs = tuple(name for name in OUTPUT_NAMES if name in outputs)

    def forward(self, image: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        logits = self.logits_model(image)
        if self.outputs != (SEGMENTATION_MAP,):
            # contiguous(): channels_last convs (see torchscript.py) would otherwise hand out NHWC-strided
            # tensors, and serving code that flattens raw buffers must get the contract's NCHW layout.
            # The map alone needs no such copy of C x H x W floats: argmax reads the NHWC layout as is.
            logits = logits.contiguous()
        computed = {LOGITS: logits}
        if PROBABILITIES in self.outputs or CONFIDENCE in self.outputs:
            exponentials, sums = _exponentials_over_classes(logits)
            computed[PROBABILITIES] = exponentials / sums
            # The winning class's exponential is exp(0) = 1, so its probability is 1 / sum: the confidence
            # shares the softmax's nodes in the full graph and needs no division of C planes alone.
            computed[CONFIDENCE] = torch.reciprocal(sums.squeeze(1))
        if SEGMENTATION_MAP in self.outputs:
            computed[SEGMENTATION_MAP] = torch.argmax(logits, dim=1).to(torch.uint8)
        result = tuple(computed[name] for name in self.outputs)
        return result[0] if len(result) == 1 else result


def _exponentials_over_classes(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(logits - max) and its sum over the classes: softmax(logits, dim=1) is their quotient, written out so
    ONNX gets plain element-wise ops and reductions.

    onnxruntime's Softmax kernel on a non-last axis transposes the whole [N,C,H,W] tensor: 190 ms of a
    370 ms run for 21x512x512 on 2 CPU cores, and onnxruntime runs it even when a request fetches only
    the map. Written out, the same numbers cost a few ms (profiled with onnxruntime's profiler).
    """
    shifted = logits - logits.amax(dim=1, keepdim=True)
    exponentials = shifted.exp()
    return exponentials, exponentials.sum(dim=1, keepdim=True)
