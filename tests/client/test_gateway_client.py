"""SegmentationClient against the running gateway: every input kind, both backends, the result type."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from client import GatewayError, SegmentationClient, SegmentationResult
from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(600)

PHOTO = "dog2.jpg"
SIZE = 512


@pytest.fixture(scope="module")
def from_path(gateway_client: SegmentationClient) -> SegmentationResult:
    return gateway_client.segment(shared_image(PHOTO), backend="torch")


def test_a_path_gives_a_map_with_labels(from_path: SegmentationResult) -> None:
    assert from_path.segmentation_map.shape == (SIZE, SIZE)
    assert from_path.segmentation_map.dtype == np.uint8
    assert len(from_path.labels) == 21 and from_path.labels[12] == "dog"
    assert (from_path.model, from_path.backend) == ("deeplabv3", "torch")
    assert from_path.logits is None and from_path.distribution is None


def test_mask_image_is_a_palette_picture_of_the_map(from_path: SegmentationResult) -> None:
    mask = from_path.mask_image()
    assert mask.mode == "P" and mask.size == (SIZE, SIZE)
    np.testing.assert_array_equal(np.asarray(mask), from_path.segmentation_map)
    assert mask.getpalette()[:6] == [0, 0, 0, 128, 0, 0]  # VOC: background black, aeroplane dark red
    assert sum(from_path.class_fractions().values()) == pytest.approx(1.0)


def test_str_path_bytes_and_url_give_the_same_map(gateway_client: SegmentationClient, from_path: SegmentationResult,
                                                   photos_url: str) -> None:
    for image in (str(shared_image(PHOTO)), shared_image(PHOTO).read_bytes(), f"{photos_url}/{PHOTO}"):
        result = gateway_client.segment(image, backend="torch")
        np.testing.assert_array_equal(result.segmentation_map, from_path.segmentation_map)


def test_pil_image_and_numpy_array_give_the_same_map(gateway_client: SegmentationClient) -> None:
    picture = Image.open(shared_image(PHOTO)).convert("RGB")
    from_pil = gateway_client.segment(picture, backend="onnx")
    from_array = gateway_client.segment(np.asarray(picture), backend="onnx")
    np.testing.assert_array_equal(from_pil.segmentation_map, from_array.segmentation_map)
    assert from_pil.segmentation_map.shape == (SIZE, SIZE)


def test_all_results_as_exact_arrays(gateway_client: SegmentationClient) -> None:
    result = gateway_client.segment(shared_image(PHOTO), backend="onnx",
                                    results=("logits", "pixels_distribution", "segmentation_map"))
    assert result.logits.shape == result.distribution.shape == (21, SIZE, SIZE)
    assert result.logits.dtype == result.distribution.dtype == np.float32
    np.testing.assert_allclose(result.distribution.sum(axis=0), 1.0, atol=1e-4)
    assert (result.logits.argmax(axis=0) == result.segmentation_map).mean() >= 0.999


def test_backends_agree(gateway_client: SegmentationClient, from_path: SegmentationResult) -> None:
    onnx = gateway_client.segment(shared_image(PHOTO), backend="onnx")
    assert (onnx.segmentation_map == from_path.segmentation_map).mean() >= 0.99


def test_errors_carry_status_and_detail(gateway_client: SegmentationClient) -> None:
    with pytest.raises(GatewayError) as raised:
        gateway_client.segment(shared_image(PHOTO), backend="caffe")
    assert raised.value.status_code == 400
    assert "caffe" in raised.value.detail


def test_models_and_readiness(gateway_client: SegmentationClient) -> None:
    assert gateway_client.ready()
    assert "deeplabv3" in gateway_client.models()["models"]
