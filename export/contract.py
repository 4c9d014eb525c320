"""The served model contract (docs/architecture.md): UINT8 image in; logits, probabilities, map out."""
from __future__ import annotations

import torch
from torch import nn


class SegmentationContract(nn.Module):
    """Wraps a `UINT8 [N,3,H,W] -> logits FP32 [N,C,H,W]` module into the three contract outputs.

    Softmax and argmax live in the exported graph so that a caller who asks Triton only for the
    map gets 1 byte per pixel back instead of C floats.
    """

    def __init__(self, logits_model: nn.Module) -> None:
        super().__init__()
        self.logits_model = logits_model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # contiguous(): channels_last convs (see torchscript.py) would otherwise hand out NHWC-strided
        # tensors, and serving code that flattens raw buffers must get the contract's NCHW layout.
        logits = self.logits_model(image).contiguous()
        probabilities = torch.softmax(logits, dim=1)
        segmentation_map = torch.argmax(logits, dim=1).to(torch.uint8)
        return logits, probabilities, segmentation_map
