"""Photos in, maps out, inside Triton: an encoded JPEG sent over gRPC to `<model>_photo` gets the map the gateway
answers for the same photo (the same decoder and resize run in Triton's Python backend), for both runtimes and for
a batch of photos of different sizes; bad bytes fail that request only, and the model stays READY."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from export.photo_models import render_photo_ensemble, render_preprocess_config
from export.sources.torchvision_source import VOC_LABELS
from export.triton_config import ONNX, ModelSpec, check_config
from tests.support.exported_repository import DEFAULT_FAMILY
from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(600)
PHOTOS = ("dog1.jpg", "people.jpg", "dog2.jpg")  # three sizes


def photo_input(photos: list[bytes]) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput("photo", [len(photos), 1], "BYTES")
    tensor.set_data_from_numpy(np.array(photos, dtype=np.object_).reshape(-1, 1))
    return tensor


def gateway_map(stack, photo: str, runtime: str) -> np.ndarray:
    response = httpx.post(
        f"{stack.gateway_url}/infer/file",
        data={"infer_model_type": runtime, "requested_results_types": "segmentation_map", "response_format": "npz"},
        files={"file": (photo, shared_image(photo).read_bytes(), "image/jpeg")},
        timeout=120,
        trust_env=False,
    )
    assert response.status_code == 200, response.text[:300]
    return np.load(io.BytesIO(response.content))["segmentation_map"]


@pytest.mark.parametrize(("runtime", "suffix"), [("onnx", "onnx"), ("torch", "torchscript")])
def test_a_batch_of_jpegs_gets_the_gateways_maps(stack, runtime: str, suffix: str) -> None:
    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    photos = [shared_image(name).read_bytes() for name in PHOTOS]
    for model in (f"{DEFAULT_FAMILY}_{suffix}_photo", f"{DEFAULT_FAMILY}_{suffix}_photo__segmentation_map"):
        result = client.infer(
            model, [photo_input(photos)], outputs=[grpcclient.InferRequestedOutput("segmentation_map")]
        )
        maps = result.as_numpy("segmentation_map")
        assert maps.shape == (len(PHOTOS), 512, 512) and maps.dtype == np.uint8
        for name, served in zip(PHOTOS, maps, strict=True):
            np.testing.assert_array_equal(served, gateway_map(stack, name, runtime), err_msg=f"{model} {name}")


def test_the_full_photo_model_answers_every_output(stack) -> None:
    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    result = client.infer(f"{DEFAULT_FAMILY}_onnx_photo", [photo_input([shared_image("dog1.jpg").read_bytes()])])
    probabilities, confidence = result.as_numpy("probabilities"), result.as_numpy("confidence")
    assert probabilities.shape == (1, 21, 512, 512)
    np.testing.assert_allclose(confidence, probabilities.max(axis=1), atol=1e-6)


def test_bad_bytes_fail_their_request_and_the_model_stays_ready(stack) -> None:
    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    model = f"{DEFAULT_FAMILY}_onnx_photo__segmentation_map"
    for bad, words in ((b"\xff\xd8\xff garbage", "JPEG"), (b"plain text", "not"), (b"", "empty")):
        with pytest.raises(InferenceServerException, match="photo 0") as error:
            client.infer(model, [photo_input([bad])])
        assert words.lower() in str(error.value).lower()
    assert client.is_model_ready(model) and client.is_model_ready(f"{DEFAULT_FAMILY}_preprocess")
    good = client.infer(model, [photo_input([shared_image("dog2.jpg").read_bytes()])])
    assert good.as_numpy("segmentation_map").shape == (1, 512, 512)


def test_photo_configs_are_ensembles_of_the_preprocessing_and_the_model() -> None:
    spec = ModelSpec("deeplabv3", ONNX, VOC_LABELS, (512, 512))
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    ensemble = text_format.Parse(render_photo_ensemble(spec), model_config_pb2.ModelConfig())
    assert ensemble.platform == "ensemble" and [i.name for i in ensemble.input] == ["photo"]
    assert [step.model_name for step in ensemble.ensemble_scheduling.step] == ["deeplabv3_preprocess", "deeplabv3_onnx"]
    assert [o.name for o in ensemble.output] == [o.name for o in check_config(render_config_of(spec)).output]
    preprocess = text_format.Parse(render_preprocess_config("deeplabv3", (512, 512), 8), model_config_pb2.ModelConfig())
    assert preprocess.backend == "python" and list(preprocess.output[0].dims) == [3, 512, 512]


def render_config_of(spec: ModelSpec) -> str:
    from export.triton_config import render_config

    return render_config(spec)
