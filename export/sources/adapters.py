"""Small layout/normalisation modules that put a model's own input convention inside the graph."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class AffineNormalize(nn.Module):
    """`x * scale + offset` per channel on a float NCHW tensor made from UINT8 pixels (0..255).

    Every "mean/std on [0,1]" or "scale/offset" convention reduces to this one per-channel affine map,
    which folds into two constants in the exported graph.
    """

    def __init__(self, scale: Sequence[float], offset: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32).view(1, -1, 1, 1))

    @classmethod
    def from_mean_std(cls, mean: Sequence[float], std: Sequence[float], pixel_max: float = 255.0) -> AffineNormalize:
        """Mean/std given for pixels scaled to [0, 1] (torchvision's convention)."""
        return cls(
            scale=[1.0 / (pixel_max * s) for s in std],
            offset=[-m / s for m, s in zip(mean, std, strict=True)],
        )

    scale: torch.Tensor  # buffers, registered in __init__
    offset: torch.Tensor

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image.to(torch.float32) * self.scale + self.offset


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
