"""The Open Inference Protocol on the gateway, in process (fast tier): its answers against the protocol's JSON
schemas, its binary encoding against tritonclient's own, its bounds (keys, body, photos, answer) and its errors.

The schemas are written from the KServe open-inference-protocol REST spec ("HTTP/REST": server metadata, model
metadata, inference response, error; the health answers of KServe's v2 server, which KServe's InferenceRESTClient
reads). The routes run in the real app in front of the fake Triton (tests/support/fake_triton.py); the real stack's
answers are in tests/gateway/routes/test_v2.py.
"""

from __future__ import annotations

import base64
import io
import re
import struct
from collections.abc import Iterator
from typing import Any

import jsonschema
import numpy as np
import orjson
import pytest
import tritonclient.http as httpclient
from fastapi.testclient import TestClient
from PIL import Image
from tritonclient.utils import serialize_byte_tensor

from gateway.api import v2_protocol
from gateway.api.routes import v2
from gateway.api.v2_protocol import HEADER_LENGTH, InputTensor, OutputTensor
from gateway.contract import OUTPUT_NAMES
from gateway.core.config import Settings
from gateway.domain import COMPUTED_TO_OUTPUT
from gateway.errors import BadRequest
from gateway.limits import MULTIPART_ALLOWANCE_BYTES, BodyLimitsMiddleware, is_inference_path
from gateway.main import create_app
from tests.support.fake_triton import LABELS, MODELS, SIZE, FakeTriton, app_with_fake_triton
from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(120)

PHOTO = "dog1.jpg"
INFER = "/v2/models/deeplabv3/infer"

# --- the protocol's JSON (KServe open-inference-protocol, REST) -------------------------------------------------
_TENSOR_METADATA = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string", "enum": list(v2_protocol.DATATYPES)},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": -1}},
    },
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "server_metadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "server_live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "server_ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "model_ready": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    "model_metadata": {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _TENSOR_METADATA},
            "outputs": {"type": "array", "items": _TENSOR_METADATA},
        },
    },
    "inference_response": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                        "datatype": {"type": "string", "enum": list(v2_protocol.DATATYPES)},
                        "parameters": {"type": "object"},
                        "data": {"type": "array"},
                    },
                },
            },
        },
    },
    "error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string", "minLength": 1}}},
}


def conforms(body: object, schema: str) -> None:
    jsonschema.validate(body, SCHEMAS[schema])


async def _model_config(name: str) -> dict[str, Any]:
    """What TritonClient.model_config answers for the fake's models (outputs as the export declares them)."""
    classes, (height, width) = len(LABELS), SIZE
    return {
        "name": name,
        "output": [
            {"name": "logits", "data_type": "TYPE_FP32", "dims": [str(classes), str(height), str(width)]},
            {"name": "probabilities", "data_type": "TYPE_FP32", "dims": [str(classes), str(height), str(width)]},
            {"name": "segmentation_map", "data_type": "TYPE_UINT8", "dims": [str(height), str(width)]},
        ],
    }


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[TestClient, FakeTriton]]:
    with app_with_fake_triton(max_batch_files=3) as (client, triton):
        triton.model_config = _model_config  # type: ignore[attr-defined]  # the one call the fake lacks
        yield client, triton


@pytest.fixture
def client(fake: tuple[TestClient, FakeTriton]) -> TestClient:
    return fake[0]


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def binary_request(
    photos: list[bytes], outputs: list[str] | None = None, binary_outputs: bool = True, **parameters: Any
) -> tuple[bytes, dict[str, str]]:
    """A request exactly as tritonclient.http builds it with binary_data=True."""
    image = httpclient.InferInput("image", [len(photos)], "BYTES")
    image.set_data_from_numpy(np.array(photos, dtype=np.object_), binary_data=True)
    requested = None if outputs is None else [httpclient.InferRequestedOutput(name, binary_outputs) for name in outputs]
    body, json_size = httpclient.InferenceServerClient.generate_request_body(
        [image], outputs=requested, parameters=parameters or None
    )
    return body, {HEADER_LENGTH: str(json_size)}


def json_request(photos: list[bytes], outputs: list[str] | None = ("segmentation_map",), **parameters: Any) -> dict:
    request: dict[str, Any] = {
        "inputs": [
            {
                "name": "image",
                "shape": [len(photos)],
                "datatype": "BYTES",
                "data": [base64.b64encode(photo).decode() for photo in photos],
            }
        ]
    }
    if outputs is not None:
        request["outputs"] = [{"name": name} for name in outputs]
    if parameters:
        request["parameters"] = parameters
    return request


def parsed(response: Any) -> httpclient.InferResult:
    length = response.headers.get(HEADER_LENGTH)
    return httpclient.InferenceServerClient.parse_response_body(
        response.content, header_length=None if length is None else int(length)
    )


# --- the answers, against the protocol's schemas --------------------------------------------------------------
def test_server_metadata_live_and_ready_are_the_protocols(client: TestClient) -> None:
    metadata = client.get("/v2")
    assert metadata.status_code == 200
    conforms(metadata.json(), "server_metadata")
    assert set(metadata.json()["extensions"]) >= {"binary_tensor_data"}
    for path, schema, key in (
        ("/v2/health/live", "server_live", "live"),
        ("/v2/health/ready", "server_ready", "ready"),
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        conforms(response.json(), schema)
        assert response.json()[key] is True


def test_model_metadata_and_ready_are_the_protocols(client: TestClient) -> None:
    for path in ("/v2/models/deeplabv3", "/v2/models/deeplabv3/versions/1"):
        metadata = client.get(path).json()
        conforms(metadata, "model_metadata")
        assert metadata["name"] == "deeplabv3" and metadata["versions"] == ["1"]
        assert metadata["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
        assert metadata["outputs"] == [
            {"name": "logits", "datatype": "FP32", "shape": [-1, len(LABELS), -1, -1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(LABELS), -1, -1]},
            {"name": "segmentation_map", "datatype": "UINT8", "shape": [-1, -1, -1]},
        ]
    for path in ("/v2/models/deeplabv3/ready", "/v2/models/deeplabv3/versions/1/ready"):
        ready = client.get(path)
        assert ready.status_code == 200
        conforms(ready.json(), "model_ready")
        assert ready.json() == {"name": "deeplabv3", "ready": True}


def test_a_json_inference_answer_is_the_protocols(client: TestClient) -> None:
    request = json_request([jpeg()], ["segmentation_map", "logits"])
    request["id"] = "request-7"
    response = client.post(INFER, json=request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json" and HEADER_LENGTH not in response.headers
    body = response.json()
    conforms(body, "inference_response")
    assert (body["model_name"], body["model_version"], body["id"]) == ("deeplabv3", "1", "request-7")
    assert body["parameters"] == {"infer_model_type": "onnx", "mask_size": "model"}
    assert [(out["name"], out["datatype"], out["shape"]) for out in body["outputs"]] == [
        ("segmentation_map", "UINT8", [1, *SIZE]),
        ("logits", "FP32", [1, len(LABELS), *SIZE]),
    ]
    assert len(body["outputs"][0]["data"]) == SIZE[0] * SIZE[1]  # flat, row-major


def test_a_binary_answer_is_the_protocols_and_tritonclient_reads_it(client: TestClient) -> None:
    body, headers = binary_request([jpeg(), jpeg((30, 20))], ["probabilities", "segmentation_map"])
    response = client.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == v2_protocol.BINARY_MEDIA_TYPE
    length = int(response.headers[HEADER_LENGTH])
    header = orjson.loads(response.content[:length])
    conforms(header, "inference_response")
    assert all("data" not in out and out["parameters"]["binary_data_size"] > 0 for out in header["outputs"])
    result = parsed(response)
    assert result.as_numpy("segmentation_map").shape == (2, *SIZE)
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (2, len(LABELS), *SIZE)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_no_outputs_named_answers_every_output_and_binary_data_output_makes_them_binary(
    fake: tuple[TestClient, FakeTriton],
) -> None:
    client, triton = fake
    body, headers = binary_request([jpeg()])  # no outputs named: tritonclient asks binary_data_output
    response = client.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    header = orjson.loads(response.content[: int(response.headers[HEADER_LENGTH])])
    assert [out["name"] for out in header["outputs"]] == list(v2.OUTPUTS)
    assert triton.inferences[-1][2] == tuple(v2.OUTPUTS)  # one Triton call for all of them
    assert all("binary_data_size" in out["parameters"] for out in header["outputs"])


def test_torch_and_mask_size_original_are_parameters(fake: tuple[TestClient, FakeTriton]) -> None:
    client, triton = fake
    response = client.post(INFER, json=json_request([jpeg((64, 48))], infer_model_type="torch", mask_size="original"))
    assert response.status_code == 200, response.text
    assert triton.inferences[-1][0].startswith("deeplabv3_torchscript")
    (output,) = response.json()["outputs"]
    assert output["shape"] == [1, 48, 64]  # [N, H, W] at the photo's size
    assert response.json()["parameters"] == {"infer_model_type": "torch", "mask_size": "original"}


def test_photos_of_different_sizes_with_mask_size_original_are_400_naming_the_sizes(client: TestClient) -> None:
    response = client.post(INFER, json=json_request([jpeg((64, 48)), jpeg((30, 20))], mask_size="original"))
    assert response.status_code == 400
    conforms(response.json(), "error")
    assert "64×48" in response.json()["error"] and "30×20" in response.json()["error"]
    same = client.post(INFER, json=json_request([jpeg((30, 20)), jpeg((30, 20))], mask_size="original"))
    assert same.status_code == 200 and same.json()["outputs"][0]["shape"] == [2, 20, 30]


def test_the_outputs_are_the_contracts_that_the_gateway_serves() -> None:
    """An output added to the contract and to the gateway's results appears in the protocol by itself."""
    served = set(COMPUTED_TO_OUTPUT.values())
    assert tuple(name for name in OUTPUT_NAMES if name in served) == v2.OUTPUTS
    assert set(v2.OUTPUTS) == {"segmentation_map", "logits", "probabilities", "confidence"}


def test_the_default_backend_is_the_apis_documented_one() -> None:
    import typing

    from gateway.api.forms import infer_request  # the API's field, as tests/client/test_defaults.py reads it

    hints = typing.get_type_hints(infer_request, include_extras=True)
    assert hints["infer_model_type"].__metadata__[0].examples[0] == v2.DEFAULT_RUNTIME


# --- errors: the protocol's status and an error naming the problem ----------------------------------------------
def _truncated() -> bytes:
    data = shared_image(PHOTO).read_bytes()
    return data[: len(data) // 2]


ERRORS = [
    # (case, request (JSON, or body and headers), status, words the error must contain)
    ("not JSON", (b"{not json", {}), 400, ["not valid JSON"]),
    ("no inputs", {"outputs": []}, 400, ["inputs"]),
    (
        "unknown datatype",
        {"inputs": [{"name": "image", "shape": [1], "datatype": "STRING", "data": ["x"]}]},
        400,
        ["STRING", "BYTES"],
    ),
    (
        "wrong datatype",
        {"inputs": [{"name": "image", "shape": [1], "datatype": "FP32", "data": [0.5]}]},
        400,
        ["FP32", "BYTES"],
    ),
    (
        "wrong input name",
        {"inputs": [{"name": "photo", "shape": [1], "datatype": "BYTES", "data": ["eA=="]}]},
        400,
        ["photo", "image"],
    ),
    (
        "two inputs",
        {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["eA=="]}] * 2},
        400,
        ["one input"],
    ),
    (
        "wrong shape",
        {"inputs": [{"name": "image", "shape": [1, 3], "datatype": "BYTES", "data": ["eA=="] * 3}]},
        400,
        ["[1, 3]", "[N]"],
    ),
    ("no photo", {"inputs": [{"name": "image", "shape": [0], "datatype": "BYTES", "data": []}]}, 400, ["N >= 1"]),
    (
        "shape and data disagree",
        {"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "data": ["eA=="]}]},
        400,
        ["[2]", "1 elements"],
    ),
    (
        "not base64",
        {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["not base64!"]}]},
        400,
        ["base64", "binary_data=True"],
    ),
    (
        "a number in data",
        {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [7]}]},
        400,
        ["int", "base64"],
    ),
    (
        "unknown output",
        json_request([b"x"], ["segmentation_map", "masks"]),
        400,
        ["masks", "segmentation_map", "logits"],
    ),
    (
        "unknown backend",
        json_request([b"x"], infer_model_type="tensorrt"),
        400,
        ["infer_model_type", "tensorrt", "onnx"],
    ),
    ("unknown mask size", json_request([b"x"], mask_size="huge"), 400, ["mask_size", "huge", "original"]),
    ("unknown parameter", json_request([b"x"], masksize="model"), 400, ["masksize", "mask_size"]),
    ("bad bytes", json_request([b"just text, no picture"]), 400, ["element 0", "not an image"]),
    ("truncated JPEG", json_request([_truncated()]), 400, ["element 0", "JPEG", "truncated"]),
    ("too many photos", json_request([jpeg()] * 4), 413, ["4 photos", "3", "GATEWAY_MAX_BATCH_FILES"]),
    ("compressed body", (orjson.dumps(json_request([jpeg()])), {"Content-Encoding": "gzip"}), 400, ["gzip"]),
]


@pytest.mark.parametrize(
    ("request_", "status", "words"), [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS]
)
def test_errors_have_the_protocols_status_and_name_the_problem(
    fake: tuple[TestClient, FakeTriton], request_: Any, status: int, words: list[str]
) -> None:
    client, triton = fake
    calls = len(triton.inferences)
    if isinstance(request_, tuple):
        response = client.post(INFER, content=request_[0], headers=request_[1])
    else:
        response = client.post(INFER, json=request_)
    assert response.status_code == status, response.text
    conforms(response.json(), "error")
    for word in words:
        assert word in response.json()["error"], (word, response.json())
    assert len(triton.inferences) == calls  # refused before Triton (a bad photo makes the whole request fail)


def test_a_bad_photo_among_good_ones_fails_the_request_naming_it(client: TestClient) -> None:
    response = client.post(INFER, json=json_request([jpeg(), jpeg(), b"<html>no picture</html>"]))
    assert response.status_code == 400
    assert "element 2 of input 'image'" in response.json()["error"] and "HTML" in response.json()["error"]


def test_unknown_models_and_versions_are_404(client: TestClient) -> None:
    for method, path in (
        ("GET", "/v2/models/no_such_family"),
        ("GET", "/v2/models/no_such_family/ready"),
        ("POST", "/v2/models/no_such_family/infer"),
        ("GET", "/v2/models/deeplabv3/versions/2"),
        ("GET", "/v2/models/deeplabv3/versions/2/ready"),
        ("POST", "/v2/models/deeplabv3/versions/2/infer"),
    ):
        response = client.request(method, path, json=json_request([jpeg()]) if method == "POST" else None)
        assert response.status_code == 404, (path, response.text)
        conforms(response.json(), "error")
        assert "no_such_family" in response.json()["error"] or "version '2'" in response.json()["error"]


def test_the_version_forms_answer_as_the_plain_ones(client: TestClient) -> None:
    response = client.post("/v2/models/deeplabv3/versions/1/infer", json=json_request([jpeg()]))
    assert response.status_code == 200 and response.json()["model_version"] == "1"


# --- the binary encoding ------------------------------------------------------------------------------------
def test_split_body_takes_the_json_then_the_binary_data() -> None:
    header = orjson.dumps({"inputs": []})
    assert v2_protocol.split_body(header + b"\x01\x02", str(len(header))) == ({"inputs": []}, b"\x01\x02")
    assert v2_protocol.split_body(header, None) == ({"inputs": []}, b"")
    for length, words in (("x", "whole number"), ("-1", "-1"), (str(len(header) + 3), "the body has"), ("4", "JSON")):
        with pytest.raises(BadRequest, match=words):
            v2_protocol.split_body(header + b"\x01\x02", length)
    with pytest.raises(BadRequest, match="JSON object"):
        v2_protocol.split_body(b"[1, 2]", None)


def test_bytes_elements_read_tritonclients_serialisation() -> None:
    elements = [b"\xff\xd8first", b"", b"third \x00 element"]
    chunk = serialize_byte_tensor(np.array(elements, dtype=np.object_)).item()
    assert v2_protocol.bytes_elements(InputTensor("image", "BYTES", (3,), binary=chunk)) == elements
    assert v2_protocol.bytes_elements(InputTensor("image", "BYTES", (3, 1), binary=chunk)) == elements


@pytest.mark.parametrize(
    ("chunk", "shape", "words"),
    [
        (b"\x05\x00\x00\x00abc", (1,), "element 0 says 5 bytes, 3 are left"),
        (b"\x01\x00\x00\x00a\x02\x00", (2,), "2 bytes are left"),
        (struct.pack("<I", 1) + b"a" + struct.pack("<I", 1) + b"b", (1,), "more elements than its shape's 1"),
        (struct.pack("<I", 1) + b"a", (2,), "2 elements) but 1 elements"),
        (b"", (1,), "but 0 elements"),
    ],
    ids=["length past the end", "cut length", "more than the shape", "fewer than the shape", "empty"],
)
def test_bytes_elements_refuse_a_broken_binary_tensor(chunk: bytes, shape: tuple[int, ...], words: str) -> None:
    with pytest.raises(BadRequest, match=re.escape(words)):
        v2_protocol.bytes_elements(InputTensor("image", "BYTES", shape, binary=chunk))


def test_bytes_elements_in_json_are_base64_flat_or_nested() -> None:
    photos = [b"\x00\x01\x02", b"\xff" * 10]
    flat = [base64.b64encode(photo).decode() for photo in photos]
    assert v2_protocol.bytes_elements(InputTensor("image", "BYTES", (2,), data=flat)) == photos
    nested = [[flat[0]], [flat[1]]]
    assert v2_protocol.bytes_elements(InputTensor("image", "BYTES", (2, 1), data=nested)) == photos
    wrapped = base64.encodebytes(photos[1]).decode()  # with a newline: whitespace is not data
    assert v2_protocol.bytes_elements(InputTensor("image", "BYTES", (1,), data=[wrapped])) == [photos[1]]
    deep: Any = flat[0]
    for _ in range(5000):  # any depth, no recursion
        deep = [deep]
    assert v2_protocol.bytes_elements(InputTensor("image", "BYTES", (1,), data=deep)) == [photos[0]]


def test_parse_request_gives_each_binary_input_its_chunk_in_order() -> None:
    header = {
        "inputs": [
            {"name": "a", "shape": [2], "datatype": "UINT8", "parameters": {"binary_data_size": 2}},
            {"name": "b", "shape": [1], "datatype": "BYTES", "data": ["eA=="]},
            {"name": "c", "shape": [3], "datatype": "UINT8", "parameters": {"binary_data_size": 3}},
        ],
        "outputs": [{"name": "x", "parameters": {"binary_data": True}}, {"name": "y"}],
    }
    request = v2_protocol.parse_request(header, b"AAccc")
    assert [(tensor.name, tensor.binary, tensor.data) for tensor in request.inputs] == [
        ("a", b"AA", None),
        ("b", None, ["eA=="]),
        ("c", b"ccc", None),
    ]
    assert [(output.name, output.binary) for output in request.outputs or ()] == [("x", True), ("y", None)]
    for binary, words in ((b"AAcc", "only 2 follow"), (b"AAcccX", "1 bytes follow the JSON that no input claims")):
        with pytest.raises(BadRequest, match=words):
            v2_protocol.parse_request(header, binary)


def test_encode_response_is_what_tritonclient_reads() -> None:
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    classes = rng.integers(0, 21, (2, 4, 5)).astype(np.uint8)
    for binary in (True, False):
        body, length = v2_protocol.encode_response(
            {"model_name": "m", "model_version": "1"},
            [OutputTensor("scores", scores, binary), OutputTensor("map", classes, not binary)],
        )
        result = httpclient.InferenceServerClient.parse_response_body(body, header_length=length)
        np.testing.assert_array_equal(result.as_numpy("scores"), scores)
        np.testing.assert_array_equal(result.as_numpy("map"), classes)
        assert result.as_numpy("scores").dtype == np.float32 and result.as_numpy("map").dtype == np.uint8
        conforms(orjson.loads(body[:length]), "inference_response")
    chunk = body[length:]
    assert chunk == classes.tobytes()  # raw little-endian bytes, in output order, after the JSON
    only_json, none = v2_protocol.encode_response({"model_name": "m"}, [OutputTensor("map", classes, False)])
    assert none is None and orjson.loads(only_json)["outputs"][0]["data"] == classes.reshape(-1).tolist()


# --- the bounds every inference route has ------------------------------------------------------------------
def test_the_infer_paths_are_inference_paths_bounded_as_a_batch() -> None:
    settings = Settings(max_batch_files=5, max_upload_bytes=1000)
    limits = BodyLimitsMiddleware(app=None, settings=settings)  # type: ignore[arg-type]  # limit_for only
    for path in (INFER, "/v2/models/deeplabv3/versions/1/infer"):
        assert is_inference_path(path)
        assert limits.limit_for(path) == 5 * 1000 + MULTIPART_ALLOWANCE_BYTES
    assert limits.limit_for("/v2/models/deeplabv3") == 1000 + MULTIPART_ALLOWANCE_BYTES


def test_an_answer_over_the_limit_is_413_before_triton() -> None:
    with app_with_fake_triton(max_answer_bytes=1 << 20) as (client, triton):
        response = client.post(INFER, json=json_request([jpeg()], ["logits"]))
        assert response.status_code == 413 and "GATEWAY_MAX_ANSWER_BYTES" in response.json()["error"]
        assert not triton.inferences
        # The map alone, binary, is 256 KiB: under the limit.
        body, headers = binary_request([jpeg()], ["segmentation_map"])
        assert client.post(INFER, content=body, headers=headers).status_code == 200


def test_probes_are_open_and_the_rest_needs_a_key() -> None:
    app = create_app(Settings(api_keys="k1", triton_url="127.0.0.1:1", triton_ready_timeout_s=0.3))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/v2/health/ready").status_code == 503  # Triton is down: not ready, but no 401
        for method, path in (
            ("GET", "/v2"),
            ("GET", "/v2/models/deeplabv3"),
            ("GET", "/v2/models/deeplabv3/ready"),
            ("GET", "/v2/models/deeplabv3/versions/1"),
            ("GET", "/v2/models/deeplabv3/versions/1/ready"),
            ("POST", INFER),
            ("POST", "/v2/models/deeplabv3/versions/1/infer"),
        ):
            assert client.request(method, path).status_code == 401, path
            assert client.request(method, path, headers={"X-API-Key": "k1"}).status_code != 401, path


def test_not_ready_is_503_in_the_protocols_shape() -> None:
    app = create_app(Settings(triton_url="127.0.0.1:1", triton_ready_timeout_s=0.3))
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in (("GET", "/v2/health/ready"), ("GET", "/v2/models/deeplabv3/ready"), ("POST", INFER)):
            response = client.request(method, path, json=json_request([jpeg()]) if method == "POST" else None)
            assert response.status_code == 503, (path, response.text)
            conforms(response.json(), "error")


def test_metrics_count_the_protocols_routes(client: TestClient) -> None:
    assert client.post(INFER, json=json_request([jpeg()])).status_code == 200
    text = client.get("/metrics").text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("gateway_requests_total{") and INFER.replace("deeplabv3", "{family}") in line
    )
    assert 'backend="onnx"' in line and 'family="deeplabv3"' in line and 'status="200"' in line


def test_the_fake_serves_what_the_tests_assume() -> None:
    assert {info.family for info in MODELS} == {"deeplabv3"} and SIZE == (512, 512)
