"""The exported TorchScript file: loads with plain torch.jit.load, binds `image`, returns the contract."""

from __future__ import annotations

import pytest
import torch

from export.layout import model_file
from export.pipeline import ExportResult
from export.torchscript import forward_argument_names, load_torchscript
from export.triton_config import TORCH
from tests.export.contract_checks import assert_contract_outputs


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_loads_with_plain_jit_load_and_is_frozen(exported: ExportResult) -> None:
    path = model_file(exported.model_dirs["torch"].parent, exported.family, TORCH)
    module = torch.jit.load(str(path), map_location="cpu")
    # Triton's libtorch backend binds inputs by forward-argument name.
    assert forward_argument_names(module) == ["image"]
    # Frozen: the weights are graph constants, not parameters.
    assert not list(module.parameters())


def test_outputs_follow_the_contract_for_a_batch_of_two(exported: ExportResult) -> None:
    module = load_torchscript(model_file(exported.model_dirs["torch"].parent, exported.family, TORCH))
    batch = torch.randint(0, 256, (2, 3, 512, 512), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        outputs = module(batch)
    assert isinstance(outputs, tuple) and len(outputs) == 4  # (logits, probabilities, segmentation_map, confidence)
    # NCHW memory, as Triton's backends and the serving twin read raw buffers
    assert all(t.is_contiguous() for t in outputs)
    assert_contract_outputs(*(t.numpy() for t in outputs[:3]), batch=2, classes=21, size=(512, 512))
    torch.testing.assert_close(outputs[3], outputs[1].amax(dim=1), rtol=0, atol=1e-6)


def test_no_layout_copy_of_the_aspp_concatenation(exported: ExportResult) -> None:
    """The ASPP branches reach torch.cat all channels-last, so the projection conv needs no NCHW -> NHWC copy of
    the [N,1280,h,w] concatenation (2.9 ms of a 44 ms map-only run on 2 threads; export/torchscript.py)."""
    module = load_torchscript(model_file(exported.model_dirs["torch"].parent, exported.family, TORCH))
    image = torch.zeros((1, 3, 512, 512), dtype=torch.uint8)
    with torch.inference_mode():
        module(image)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as profile:
            module(image)
    copies = [event.input_shapes for event in profile.events() if event.name == "aten::copy_"]
    assert copies, "the profile saw no copies at all: it did not record the run"
    assert not [shapes for shapes in copies if shapes and shapes[0][:2] == [1, 1280]]
