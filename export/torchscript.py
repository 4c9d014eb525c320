"""Contract module -> frozen TorchScript that plain `torch.jit.load` (and Triton's libtorch backend) runs."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn


def to_torchscript(model: nn.Module, example: torch.Tensor, freeze: bool = True) -> torch.jit.ScriptModule:
    """Trace (not script): every source, including onnx2torch's fx graphs, traces; not all of them script.

    Freezing inlines the weights as constants and folds conv+BN; channels_last weights make the convs
    pick faster kernels (measured here, CPU, 1 thread, 512x512: frozen 1485 ms, frozen + channels_last
    876 ms, ONNX Runtime 1223 ms, on a busy machine). The frozen file still loads with plain
    `torch.jit.load`. The model is copied first: the caller's eager module stays as it was.
    """
    model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    _pooling_branches_channels_last(model)
    with warnings.catch_warnings():
        # torch 2.14 marks TorchScript deprecated; Triton's libtorch backend still serves it.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        # Tracer warnings flag Python values baked into the graph (onnx2torch's constant shapes and
        # scales); the parity check's batch-of-2 run is what proves the traced graph still generalises.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        with torch.inference_mode(False), torch.no_grad():
            traced = torch.jit.trace(model, (example,), check_trace=False)
            return torch.jit.freeze(traced) if freeze else traced


def _pooling_branches_channels_last(model: nn.Module) -> None:
    """Make the ASPP image-pooling branch hand its [N,256,H,W] out channels-last, like the other four branches.

    It upsamples a 1x1 map, and that comes out NCHW; torch.cat of mixed layouts is NCHW, so the projection
    conv had to turn the [N,1280,H,W] concatenation around: 2.9-3.7 ms of a 44 ms map-only run on 2 CPU threads.
    Converting the 256-channel branch instead costs 0.2 ms: 44 -> 40 ms, the same numbers (the copy only moves
    them). Models without the branch (onnx2torch graphs) are left as they are.
    """
    from torchvision.models.segmentation.deeplabv3 import ASPPPooling

    def channels_last(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        return output.contiguous(memory_format=torch.channels_last)

    for module in model.modules():
        if isinstance(module, ASPPPooling):
            module.register_forward_hook(channels_last)


def save_torchscript(module: torch.jit.ScriptModule, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.save is deprecated": see to_torchscript
        torch.jit.save(module, str(path))


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


def forward_argument_names(module: torch.jit.ScriptModule) -> list[str]:
    """Triton's libtorch backend binds inputs by these names, so the first must be `image`."""
    schema = module.forward.schema  # type: ignore[attr-defined]  # a ScriptMethod; typed as a plain callable
    return [argument.name for argument in schema.arguments if argument.name != "self"]
