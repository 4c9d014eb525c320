"""The session's embedded stack is up: Triton serves every exported model READY, the gateway answers."""

from __future__ import annotations

import time
from functools import partial

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from tests.support.exported_repository import DEFAULT_FAMILY

pytestmark = pytest.mark.timeout(600)


def test_every_model_is_ready_over_http(stack) -> None:
    assert {f"{DEFAULT_FAMILY}_torchscript", f"{DEFAULT_FAMILY}_onnx"} <= set(stack.model_names)
    for name in stack.model_names:
        response = httpx.get(f"{stack.triton_http_url}/v2/models/{name}/ready", trust_env=False)
        assert response.status_code == 200, name


def test_gateway_healthcheck_answers(stack) -> None:
    assert httpx.get(f"{stack.gateway_url}/healthcheck", trust_env=False).status_code == 200


def test_twin_keeps_the_native_contract(stack) -> None:
    """Triton reports the twin with the repository's name, inputs, outputs, batching and parameters."""
    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    config = client.get_model_config(f"{DEFAULT_FAMILY}_onnx", as_json=True)["config"]
    assert config["backend"] == "python"
    assert [i["name"] for i in config["input"]] == ["image"]
    assert [o["name"] for o in config["output"]] == ["logits", "probabilities", "segmentation_map", "confidence"]
    assert int(config["max_batch_size"]) > 0 and "dynamic_batching" in config
    assert config["parameters"]["segmentation.runtime"]["string_value"] == "onnx"
    assert config["parameters"]["serving.source_platform"]["string_value"] == "onnxruntime_onnx"


@pytest.mark.parametrize("backend", ["torchscript", "onnx"])
def test_only_the_requested_outputs_come_back(stack, backend: str) -> None:
    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    image = np.random.default_rng(0).integers(0, 256, (2, 3, 512, 512), dtype=np.uint8)
    request = grpcclient.InferInput("image", list(image.shape), "UINT8")
    request.set_data_from_numpy(image)
    result = client.infer(
        f"{DEFAULT_FAMILY}_{backend}", [request], outputs=[grpcclient.InferRequestedOutput("segmentation_map")]
    )
    assert [o.name for o in result.get_response().outputs] == ["segmentation_map"]
    segmentation_map = result.as_numpy("segmentation_map")
    assert segmentation_map.shape == (2, 512, 512) and segmentation_map.dtype == np.uint8


def _infer(client: grpcclient.InferenceServerClient, model: str, image: np.ndarray) -> np.ndarray:
    request = grpcclient.InferInput("image", list(image.shape), "UINT8")
    request.set_data_from_numpy(image)
    result = client.infer(model, [request], outputs=[grpcclient.InferRequestedOutput("segmentation_map")])
    return result.as_numpy("segmentation_map")


def test_concurrent_requests_each_get_their_own_rows(stack) -> None:
    """Requests the dynamic batcher may join into one call come back split, each to its sender."""
    model = f"{DEFAULT_FAMILY}_onnx"
    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (1, 3, 512, 512), dtype=np.uint8) for _ in range(3)]
    alone = [_infer(client, model, image) for image in images]

    results: dict[int, object] = {}
    for index, image in enumerate(images):
        request = grpcclient.InferInput("image", list(image.shape), "UINT8")
        request.set_data_from_numpy(image)
        client.async_infer(
            model,
            [request],
            partial(lambda i, result, error: results.__setitem__(i, (result, error)), index),
            outputs=[grpcclient.InferRequestedOutput("segmentation_map")],
        )
    deadline = time.monotonic() + 300
    while len(results) < len(images) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert sorted(results) == [0, 1, 2]
    for index, (result, error) in results.items():
        assert error is None, error
        np.testing.assert_array_equal(result.as_numpy("segmentation_map"), alone[index])


def test_a_wrong_input_type_is_refused_with_a_clear_error(stack) -> None:
    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    request = grpcclient.InferInput("image", [1, 3, 512, 512], "FP32")
    request.set_data_from_numpy(np.zeros((1, 3, 512, 512), dtype=np.float32))
    with pytest.raises(grpcclient.InferenceServerException, match=r"(?i)data.?type"):
        client.infer(f"{DEFAULT_FAMILY}_onnx", [request])


def test_an_unknown_output_is_refused(stack) -> None:
    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    request = grpcclient.InferInput("image", [1, 3, 512, 512], "UINT8")
    request.set_data_from_numpy(np.zeros((1, 3, 512, 512), dtype=np.uint8))
    with pytest.raises(grpcclient.InferenceServerException, match="aux"):
        client.infer(f"{DEFAULT_FAMILY}_torchscript", [request], outputs=[grpcclient.InferRequestedOutput("aux")])
