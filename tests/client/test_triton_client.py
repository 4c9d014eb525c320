"""TritonSegmentationClient: straight to Triton over gRPC, same preprocessing and result type as the gateway."""

from __future__ import annotations

import pytest

from client import SegmentationClient, TritonSegmentationClient
from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(300)

PHOTO = "dog1.jpg"


def test_discovers_the_models_from_triton(triton_client: TritonSegmentationClient) -> None:
    info = triton_client.models()[("deeplabv3", "onnx")]
    assert info.name == "deeplabv3_onnx"
    assert info.input_size == (512, 512) and info.labels[15] == "person"


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_same_answer_as_through_the_gateway(
    triton_client: TritonSegmentationClient, gateway_client: SegmentationClient, backend: str
) -> None:
    direct = triton_client.segment(
        shared_image(PHOTO), backend=backend, results=("pixels_distribution", "segmentation_map")
    )
    via_gateway = gateway_client.segment(shared_image(PHOTO), backend=backend)
    assert direct.labels == via_gateway.labels
    assert direct.distribution.shape == (21, 512, 512)
    # Same decode, resize and model: identical but for float ties between batch compositions.
    assert (direct.segmentation_map == via_gateway.segmentation_map).mean() >= 0.999
    assert direct.mask_image().size == (512, 512)


def test_unknown_model_is_named(triton_client: TritonSegmentationClient) -> None:
    with pytest.raises(ValueError, match="no_such_family"):
        triton_client.segment(shared_image(PHOTO), model="no_such_family")
