"""The session's embedded stack is up: Triton serves every exported model READY, the gateway answers."""
from __future__ import annotations

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
    assert [o["name"] for o in config["output"]] == ["logits", "probabilities", "segmentation_map"]
    assert int(config["max_batch_size"]) > 0 and "dynamic_batching" in config
    assert config["parameters"]["segmentation.runtime"]["string_value"] == "onnx"
    assert config["parameters"]["serving.source_platform"]["string_value"] == "onnxruntime_onnx"


@pytest.mark.parametrize("backend", ["torchscript", "onnx"])
def test_only_the_requested_outputs_come_back(stack, backend: str) -> None:
    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    image = np.random.default_rng(0).integers(0, 256, (2, 3, 512, 512), dtype=np.uint8)
    request = grpcclient.InferInput("image", list(image.shape), "UINT8")
    request.set_data_from_numpy(image)
    result = client.infer(f"{DEFAULT_FAMILY}_{backend}", [request],
                          outputs=[grpcclient.InferRequestedOutput("segmentation_map")])
    assert [o.name for o in result.get_response().outputs] == ["segmentation_map"]
    segmentation_map = result.as_numpy("segmentation_map")
    assert segmentation_map.shape == (2, 512, 512) and segmentation_map.dtype == np.uint8
