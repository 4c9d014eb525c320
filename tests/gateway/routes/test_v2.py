"""The Open Inference Protocol on the real stack: tritonclient.http pointed at the gateway, as a KServe or Triton
client would use it. Maps are compared with /infer/file's for the same photo, backend and mask_size.

Runs on the real VOC model (family voc_mnv2, real weights: its maps are not one class everywhere), frugally: the
map only, a handful of inferences. The protocol's schemas and encoding are tested in process in
tests/gateway/test_v2_protocol.py.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(600)

FAMILY = "voc_mnv2"  # real weights (tests/support/exported_repository.py)
BACKENDS = ("torch", "onnx")
PHOTO, OTHER_PHOTO = "dog1.jpg", "people.jpg"  # of different sizes
TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def client(gateway_url: str) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(
        gateway_url.removeprefix("http://"), connection_timeout=TIMEOUT_S, network_timeout=TIMEOUT_S
    )


@pytest.fixture(scope="module")
def file_maps(gateway_url: str) -> Callable[[str, str, str], np.ndarray]:
    """/infer/file's map (npz: exact) of a photo, by (photo, backend, mask_size), asked once."""
    cache: dict[tuple[str, str, str], np.ndarray] = {}

    def get(photo: str, backend: str, mask_size: str) -> np.ndarray:
        key = (photo, backend, mask_size)
        if key not in cache:
            response = requests.post(
                f"{gateway_url}/infer/file",
                data={
                    "infer_model_type": backend,
                    "model": FAMILY,
                    "requested_results_types": "segmentation_map",
                    "response_format": "npz",
                    "mask_size": mask_size,
                },
                files={"file": (photo, shared_image(photo).read_bytes(), "image/jpeg")},
                timeout=TIMEOUT_S,
            )
            assert response.status_code == 200, response.text[:500]
            cache[key] = np.load(io.BytesIO(response.content))["segmentation_map"]
        return cache[key]

    return get


def photo_input(photos: list[str], binary: bool) -> httpclient.InferInput:
    data = [shared_image(photo).read_bytes() for photo in photos]
    image = httpclient.InferInput("image", [len(data)], "BYTES")
    if binary:
        image.set_data_from_numpy(np.array(data, dtype=np.object_), binary_data=True)
    else:  # JSON: the protocol's BYTES elements are strings; the gateway reads them as base64
        encoded = [base64.b64encode(item).decode() for item in data]
        image.set_data_from_numpy(np.array(encoded, dtype=np.object_), binary_data=False)
    return image


def segment(
    client: httpclient.InferenceServerClient,
    photos: list[str],
    backend: str,
    *,
    binary: bool = True,
    mask_size: str = "model",
) -> httpclient.InferResult:
    return client.infer(
        FAMILY,
        [photo_input(photos, binary)],
        outputs=[httpclient.InferRequestedOutput("segmentation_map", binary_data=binary)],
        parameters={"infer_model_type": backend, "mask_size": mask_size},
    )


def test_live_ready_and_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(FAMILY) and client.is_model_ready(FAMILY, "1")
    assert not client.is_model_ready("no_such_family")
    server = client.get_server_metadata()
    assert server["name"] == "segmentation-gateway" and "binary_tensor_data" in server["extensions"]
    metadata = client.get_model_metadata(FAMILY)
    assert metadata["name"] == FAMILY and metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    outputs = {output["name"]: output for output in metadata["outputs"]}
    assert set(outputs) == {"segmentation_map", "logits", "probabilities", "confidence"}
    assert outputs["confidence"]["datatype"] == "FP32" and outputs["confidence"]["shape"] == [-1, -1, -1]
    assert outputs["segmentation_map"]["datatype"] == "UINT8" and outputs["logits"]["datatype"] == "FP32"
    assert outputs["logits"]["shape"] == [-1, 21, -1, -1] and outputs["segmentation_map"]["shape"] == [-1, -1, -1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_binary_jpeg_gets_infer_files_map(client: httpclient.InferenceServerClient, file_maps, backend: str) -> None:
    result = segment(client, [PHOTO], backend)
    segmentation_map = result.as_numpy("segmentation_map")
    assert segmentation_map.dtype == np.uint8 and segmentation_map.shape[0] == 1
    assert len(np.unique(segmentation_map)) > 1  # real weights: a dog on a background, not one class
    np.testing.assert_array_equal(segmentation_map[0], file_maps(PHOTO, backend, "model"))
    assert result.get_response()["parameters"] == {"infer_model_type": backend, "mask_size": "model"}


def test_the_confidence_output_is_the_winning_probability(client: httpclient.InferenceServerClient) -> None:
    result = client.infer(
        FAMILY,
        [photo_input([PHOTO], binary=True)],
        outputs=[
            httpclient.InferRequestedOutput(name, binary_data=True)
            for name in ("probabilities", "segmentation_map", "confidence")
        ],
        parameters={"infer_model_type": "onnx"},
    )
    probabilities, confidence = result.as_numpy("probabilities"), result.as_numpy("confidence")
    assert confidence.dtype == np.float32 and confidence.shape == result.as_numpy("segmentation_map").shape
    np.testing.assert_allclose(confidence, probabilities.max(axis=1), atol=1e-6)


def test_a_base64_jpeg_in_json_gets_infer_files_map_at_the_photos_size(
    client: httpclient.InferenceServerClient, file_maps
) -> None:
    result = segment(client, [PHOTO], "onnx", binary=False, mask_size="original")
    assert "data" in result.get_response()["outputs"][0]  # answered as JSON, as asked
    segmentation_map = result.as_numpy("segmentation_map")
    expected = file_maps(PHOTO, "onnx", "original")
    assert segmentation_map.shape == (1, *expected.shape)
    np.testing.assert_array_equal(segmentation_map[0], expected)


def test_photos_of_different_sizes_in_one_request(client: httpclient.InferenceServerClient, file_maps) -> None:
    result = segment(client, [PHOTO, OTHER_PHOTO], "torch")
    segmentation_map = result.as_numpy("segmentation_map")
    assert segmentation_map.shape[0] == 2
    for position, photo in enumerate((PHOTO, OTHER_PHOTO)):
        np.testing.assert_array_equal(segmentation_map[position], file_maps(photo, "torch", "model"))
    # At the photos' own sizes they are not one tensor: 400 naming the rule.
    with pytest.raises(InferenceServerException) as refused:
        segment(client, [PHOTO, OTHER_PHOTO], "torch", mask_size="original")
    assert refused.value.status() == "400" and "one size" in refused.value.message()


def _raw(datatype: str, shape: list[int], data: np.ndarray) -> httpclient.InferInput:
    tensor = httpclient.InferInput("image", shape, datatype)
    tensor.set_data_from_numpy(data, binary_data=True)
    return tensor


def test_errors_are_the_protocols_and_the_service_stays_up(client: httpclient.InferenceServerClient) -> None:
    jpeg = shared_image(PHOTO).read_bytes()
    cases = [
        # (inputs, outputs, words the error must contain)
        ([_raw("FP32", [1, 3], np.zeros((1, 3), np.float32))], None, ["FP32", "BYTES"]),
        ([_raw("BYTES", [1, 2], np.array([[jpeg, jpeg]], dtype=np.object_))], None, ["[1, 2]", "[N]"]),
        ([photo_input([PHOTO], True)], [httpclient.InferRequestedOutput("masks")], ["masks", "segmentation_map"]),
        ([_raw("BYTES", [1], np.array([jpeg[: len(jpeg) // 2]], dtype=np.object_))], None, ["JPEG", "truncated"]),
        ([_raw("BYTES", [1], np.array([b"GIF89a but not really"], dtype=np.object_))], None, ["GIF", "corrupt"]),
    ]
    for inputs, outputs, words in cases:
        with pytest.raises(InferenceServerException) as refused:
            client.infer(FAMILY, inputs, outputs=outputs or [httpclient.InferRequestedOutput("segmentation_map")])
        assert refused.value.status() == "400", refused.value
        for word in words:
            assert word in refused.value.message(), (word, refused.value.message())
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("no_such_family", [photo_input([PHOTO], True)])
    assert unknown.value.status() == "404" and "no_such_family" in unknown.value.message()
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(FAMILY)
    assert segment(client, [PHOTO], "onnx").as_numpy("segmentation_map").shape[0] == 1
