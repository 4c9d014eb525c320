"""The inference API over real HTTP: POST /infer/url and /infer/file, called exactly as existing clients do.

Frugal by design: one answer with logits and distributions is ~130 MB of JSON, so the big arrays are
asked for a few times only and every other check uses the 512×512 map.
"""

from __future__ import annotations

import base64
import io
import types
from collections.abc import Callable

import numpy as np
import orjson
import pytest
import requests
import tritonclient.grpc as grpcclient
from PIL import Image

from gateway.core.config import Settings
from gateway.images import decode_image, to_model_input
from gateway.inference import weights_headers
from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(600)

BACKENDS = ("torch", "onnx")
KINDS = ("file", "url")
PHOTO = "dog1.jpg"
CLASSES, SIZE = 21, 512
TIMEOUT_S = 120

Infer = Callable[..., requests.Response]


@pytest.fixture(scope="module")
def infer(gateway_url: str, photos_url: str) -> Infer:
    """POST like an existing client: form fields in ``data=`` (lists become repeated fields), photo in ``files=``."""

    def post(
        kind: str,
        backend: str,
        results: list[str] | str | None = ("segmentation_map",),
        *,
        photo: str = PHOTO,
        path_suffix: str = "",
        **fields: str,
    ) -> requests.Response:
        data: dict[str, object] = {"infer_model_type": backend, **fields}
        if results is not None:
            data["requested_results_types"] = list(results) if isinstance(results, tuple) else results
        if kind == "url":
            data["url_image"] = f"{photos_url}/{photo}"
            return requests.post(f"{gateway_url}/infer/url{path_suffix}", data=data, timeout=TIMEOUT_S)
        with shared_image(photo).open("rb") as file:
            return requests.post(
                f"{gateway_url}/infer/file{path_suffix}",
                data=data,
                files={"file": (photo, file, "image/jpeg")},
                timeout=TIMEOUT_S,
            )

    return post


def ok_body(response: requests.Response, backend: str, kind: str) -> dict:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body = orjson.loads(response.content)
    assert body["Status"] == "OK"
    assert body["infer_model_type"] == backend
    assert body["image_type"] == kind
    return body


def as_map(values: list) -> np.ndarray:
    array = np.asarray(values)
    assert array.shape == (SIZE, SIZE)
    assert array.dtype.kind in "iu", "segmentation_map must be JSON integers"
    assert array.min() >= 0 and array.max() < CLASSES
    return array


def as_scores(values: list) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32)
    assert array.shape == (CLASSES, SIZE, SIZE)
    assert np.isfinite(array).all()
    return array


def check_distribution(distribution: np.ndarray) -> None:
    assert distribution.min() >= 0.0 and distribution.max() <= 1.0
    np.testing.assert_allclose(distribution.sum(axis=0), 1.0, atol=1e-3)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())


@pytest.fixture(scope="module")
def maps(infer: Infer) -> dict[tuple[str, str], np.ndarray]:
    """The map of PHOTO for each backend × input kind (the cheap result), shared by the tests below."""
    found = {}
    for backend in BACKENDS:
        for kind in KINDS:
            body = ok_body(infer(kind, backend), backend, kind)
            assert list(body["requested_results"]) == ["segmentation_map"]
            found[(backend, kind)] = as_map(body["requested_results"]["segmentation_map"])
    return found


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_segmentation_map_for_each_backend_and_input_kind(stack, maps, backend: str, kind: str) -> None:
    """The gateway's map is Triton's own for the same photo, preprocessed as the gateway does (not just a shape)."""
    assert maps[(backend, kind)].shape == (SIZE, SIZE)
    photo = decode_image(shared_image(PHOTO).read_bytes(), Settings(), draft_size=(SIZE, SIZE))
    tensor = to_model_input(photo, (SIZE, SIZE))[np.newaxis]
    image = grpcclient.InferInput("image", list(tensor.shape), "UINT8")
    image.set_data_from_numpy(tensor)
    model = {"onnx": "deeplabv3_onnx", "torch": "deeplabv3_torchscript"}[backend]
    with grpcclient.InferenceServerClient(stack.triton_grpc_url) as triton:
        answer = triton.infer(model, [image], outputs=[grpcclient.InferRequestedOutput("segmentation_map")])
    np.testing.assert_array_equal(maps[(backend, kind)], answer.as_numpy("segmentation_map")[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_url_and_file_take_the_same_path(maps, backend: str) -> None:
    # Same bytes either way, so the same decode, resize and tensor: the maps must be identical.
    np.testing.assert_array_equal(maps[(backend, "url")], maps[(backend, "file")])


def test_torch_and_onnx_agree_on_the_same_photo(maps) -> None:
    assert agreement(maps[("torch", "file")], maps[("onnx", "file")]) >= 0.99


def test_logits_alone(infer: Infer, maps) -> None:
    body = ok_body(infer("file", "torch", ["logits"]), "torch", "file")
    assert list(body["requested_results"]) == ["logits"]
    logits = as_scores(body["requested_results"]["logits"])
    assert agreement(logits.argmax(axis=0), maps[("torch", "file")]) >= 0.999


def test_pixels_distribution_alone(infer: Infer, maps) -> None:
    body = ok_body(infer("url", "onnx", ["pixels_distribution"]), "onnx", "url")
    assert list(body["requested_results"]) == ["pixels_distribution"]
    distribution = as_scores(body["requested_results"]["pixels_distribution"])
    check_distribution(distribution)
    assert agreement(distribution.argmax(axis=0), maps[("onnx", "url")]) >= 0.999


def test_no_requested_results_means_all_three(infer: Infer, maps) -> None:
    body = ok_body(infer("url", "torch", None), "torch", "url")
    results = body["requested_results"]
    assert list(results) == ["logits", "pixels_distribution", "segmentation_map"]
    logits, distribution = as_scores(results["logits"]), as_scores(results["pixels_distribution"])
    segmentation_map = as_map(results["segmentation_map"])
    check_distribution(distribution)
    exp = np.exp(logits - logits.max(axis=0))
    np.testing.assert_allclose(exp / exp.sum(axis=0), distribution, atol=1e-4)
    assert agreement(logits.argmax(axis=0), segmentation_map) >= 0.999
    np.testing.assert_array_equal(segmentation_map, maps[("torch", "url")])


def test_all_three_come_back_in_the_order_requested(infer: Infer, maps) -> None:
    order = ["segmentation_map", "pixels_distribution", "logits"]
    body = ok_body(infer("file", "onnx", order), "onnx", "file")
    assert list(body["requested_results"]) == order
    np.testing.assert_array_equal(as_map(body["requested_results"]["segmentation_map"]), maps[("onnx", "file")])
    check_distribution(as_scores(body["requested_results"]["pixels_distribution"]))
    as_scores(body["requested_results"]["logits"])


def test_a_comma_separated_value_counts_as_a_list(infer: Infer, maps) -> None:
    # Binary answer: the split is what is tested here, not the JSON of two big arrays again.
    response = infer("file", "onnx", "segmentation_map, logits", response_format="npz")
    assert response.status_code == 200, response.text
    with np.load(io.BytesIO(response.content)) as archive:
        assert [name for name in archive.files if name != "labels"] == ["segmentation_map", "logits"]
        np.testing.assert_array_equal(archive["segmentation_map"], maps[("onnx", "file")])


def test_an_empty_value_means_all_three(infer: Infer) -> None:
    response = infer("file", "torch", "", response_format="npz")
    assert response.status_code == 200, response.text
    with np.load(io.BytesIO(response.content)) as archive:
        assert {"logits", "pixels_distribution", "segmentation_map"} <= set(archive.files)


@pytest.mark.parametrize("kind", KINDS)
def test_a_trailing_slash_works_without_a_redirect(infer: Infer, maps, kind: str) -> None:
    response = infer(kind, "onnx", path_suffix="/")
    assert not response.history, "a redirect makes clients drop the POST body"
    body = ok_body(response, "onnx", kind)
    np.testing.assert_array_equal(as_map(body["requested_results"]["segmentation_map"]), maps[("onnx", kind)])


def test_naming_the_default_model_changes_nothing(infer: Infer, maps) -> None:
    body = ok_body(infer("file", "torch", model="deeplabv3"), "torch", "file")
    np.testing.assert_array_equal(as_map(body["requested_results"]["segmentation_map"]), maps[("torch", "file")])


def test_the_accept_header_reaches_format_negotiation(gateway_url: str, maps) -> None:
    with shared_image(PHOTO).open("rb") as file:
        response = requests.post(
            f"{gateway_url}/infer/file",
            files={"file": file},
            timeout=TIMEOUT_S,
            data={"infer_model_type": "onnx"},
            headers={"Accept": "image/png"},
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(response.content))), maps[("onnx", "file")])


# --- the photo as the request body (Content-Type: image/...), other fields as query parameters ----------
def _post_raw(
    gateway_url: str, content: bytes, content_type: str = "image/jpeg", **params: object
) -> requests.Response:
    return requests.post(
        f"{gateway_url}/infer/file",
        data=content,
        params=params,
        headers={"Content-Type": content_type},
        timeout=TIMEOUT_S,
    )


def test_a_raw_body_upload_gives_the_same_answer_as_multipart(gateway_url: str, maps) -> None:
    response = _post_raw(
        gateway_url,
        shared_image(PHOTO).read_bytes(),
        infer_model_type="onnx",
        requested_results_types="segmentation_map",
    )
    body = ok_body(response, "onnx", "file")
    np.testing.assert_array_equal(as_map(body["requested_results"]["segmentation_map"]), maps[("onnx", "file")])
    # Every field works as a query parameter, e.g. a PNG mask at the photo's size.
    png = _post_raw(
        gateway_url,
        shared_image(PHOTO).read_bytes(),
        infer_model_type="onnx",
        response_format="png",
        mask_size="original",
    )
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == Image.open(shared_image(PHOTO)).size


# --- random weights are said in a header; the JSON body keeps its keys -------------------------------------
def test_answers_say_in_a_header_whether_the_weights_are_random(infer: Infer) -> None:
    random = infer("file", "onnx")
    assert random.headers["X-Weights-Random"] == "true"  # the test repository's default family
    assert set(orjson.loads(random.content)) == {"Status", "infer_model_type", "image_type", "requested_results"}
    real = infer("file", "onnx", model="voc_mnv2")
    assert real.headers["X-Weights-Random"] == "false"


@pytest.mark.parametrize(
    ("weights", "header"),
    [
        ({"kind": "random", "weights_are_random": True}, {"X-Weights-Random": "true"}),
        ({"kind": "pretrained", "weights_are_random": False}, {"X-Weights-Random": "false"}),
        ({"kind": "file", "weights_are_random": False}, {"X-Weights-Random": "false"}),
        ({"kind": "unknown", "weights_are_random": None}, {}),  # a config from before the parameter: no header
    ],
)
def test_the_weights_header_comes_from_the_models_weights_info(weights, header) -> None:
    model = types.SimpleNamespace(weights=weights)  # ModelInfo.weights, from gateway.triton.weights_from_config
    assert weights_headers(model) == header


def test_the_bundle_format_carries_summary_and_mask_of_one_inference(infer: Infer, maps) -> None:
    bundle = orjson.loads(infer("file", "onnx", response_format="bundle").content)
    summary = orjson.loads(infer("file", "onnx", response_format="summary").content)
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(bundle.pop("mask_png")))))
    np.testing.assert_array_equal(mask, maps[("onnx", "file")])
    assert len(bundle.pop("labels")) == CLASSES
    assert bundle == summary
