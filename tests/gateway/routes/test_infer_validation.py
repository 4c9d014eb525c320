"""The inference routes' validation, in process: the real app, its forms, limits and error handlers, in front of
a fake Triton (tests/support/fake_triton.py), so these run in the fast tier (`pytest -m "not stack"`).

Moved here from tests/gateway/routes/test_infer.py, assertions unchanged; what needs real answers stays there.
The URL errors run against a gateway that may reach loopback (``url_allowlist``, as the stack's does).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.support.fake_triton import FakeTriton, app_with_fake_triton
from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(120)

PHOTO = "dog1.jpg"


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[TestClient, FakeTriton]]:
    with app_with_fake_triton() as pair:
        yield pair


@pytest.fixture
def client(fake: tuple[TestClient, FakeTriton]) -> TestClient:
    return fake[0]


def _post_file(client: TestClient, content: bytes | None, **data: object) -> Response:
    files = None if content is None else {"file": ("photo.jpg", content, "image/jpeg")}
    return client.post("/infer/file", data=data, files=files)


def _truncated_jpeg() -> bytes:
    data = shared_image(PHOTO).read_bytes()
    return data[: len(data) // 2]


FILE_ERRORS = [
    # (case, form fields, file content, status, words the detail must contain)
    (
        "unknown backend",
        {"infer_model_type": "tensorflow"},
        b"x",
        400,
        ["infer_model_type", "tensorflow", "torch", "onnx"],
    ),
    (
        "unknown result type",
        {"infer_model_type": "onnx", "requested_results_types": ["segmentation_map", "probabilities"]},
        b"x",
        400,
        ["probabilities", "segmentation_map", "pixels_distribution"],
    ),
    ("missing backend", {}, b"x", 422, ["infer_model_type"]),
    ("missing file", {"infer_model_type": "onnx"}, None, 422, ["file"]),
    ("empty file", {"infer_model_type": "onnx"}, b"", 400, ["empty"]),
    ("text named .jpg", {"infer_model_type": "onnx"}, b"just some words, not a picture\n", 415, ["not an image"]),
    ("truncated JPEG", {"infer_model_type": "torch"}, "truncated", 400, ["JPEG", "truncated"]),
    (
        "unknown model",
        {"infer_model_type": "onnx", "model": "no_such_model"},
        b"x",
        400,
        ["no_such_model", "deeplabv3"],
    ),
    ("unknown response format", {"infer_model_type": "onnx", "response_format": "bmp"}, b"x", 400, ["bmp", "json"]),
]


@pytest.mark.parametrize(
    ("fields", "content", "status", "words"), [case[1:] for case in FILE_ERRORS], ids=[case[0] for case in FILE_ERRORS]
)
def test_file_errors_name_the_problem(client: TestClient, fields: dict, content, status: int, words: list[str]) -> None:
    response = _post_file(client, _truncated_jpeg() if content == "truncated" else content, **fields)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail, f"{word!r} not in {detail!r}"


def test_missing_url_is_named(client: TestClient) -> None:
    response = client.post("/infer/url", data={"infer_model_type": "onnx"})
    assert response.status_code == 422
    assert "url_image" in response.json()["detail"]


@pytest.mark.parametrize(
    ("case", "content", "content_type", "params", "status", "words"),
    [
        ("missing infer_model_type", "photo", "image/jpeg", {}, 422, ["infer_model_type"]),
        (
            "text declared as JPEG",
            b"not a photo at all",
            "image/jpeg",
            {"infer_model_type": "onnx"},
            415,
            ["not an image"],
        ),
        (
            "bad legend as a query parameter",
            "photo",
            "image/png",
            {"infer_model_type": "onnx", "legend": "maybe"},
            400,
            ["legend", "maybe", "true, false"],
        ),
    ],
)
def test_raw_body_errors_name_the_problem(
    client: TestClient, case: str, content, content_type: str, params: dict, status: int, words: list[str]
) -> None:
    data = shared_image(PHOTO).read_bytes() if content == "photo" else content
    response = client.post("/infer/file", content=data, params=params, headers={"Content-Type": content_type})
    assert response.status_code == status, f"{case}: {response.text}"
    for word in words:
        assert word in response.json()["detail"], case


def test_no_error_case_reached_triton(fake: tuple[TestClient, FakeTriton]) -> None:
    """Every case above is refused before inference; and a good request does reach the (fake) Triton."""
    client, triton = fake
    assert triton.inferences == []
    response = client.post(
        "/infer/file",
        data={"infer_model_type": "onnx", "requested_results_types": "segmentation_map"},
        files={"file": ("dog1.jpg", shared_image(PHOTO).read_bytes(), "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    assert triton.inferences == [("deeplabv3_onnx", (1, 3, 512, 512), ("segmentation_map",))]


# --- url_image errors: each names the problem (no inference either) --------------------------------------
@pytest.fixture(scope="module")
def url_fake() -> Iterator[tuple[TestClient, FakeTriton]]:
    with app_with_fake_triton(url_allowlist=["127.0.0.1", "localhost"]) as pair:
        yield pair


def test_an_unreachable_url_is_a_bad_gateway(url_fake: tuple[TestClient, FakeTriton]) -> None:
    client, triton = url_fake
    # A loopback port nobody listens on (bound, then closed): the connection is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    response = client.post(
        "/infer/url",
        data={
            "infer_model_type": "onnx",
            "requested_results_types": ["segmentation_map"],
            "url_image": f"http://127.0.0.1:{port}/{PHOTO}",
        },
    )
    assert response.status_code == 502, response.text
    assert "url_image" in response.json()["detail"]
    assert triton.inferences == []


def test_a_missing_photo_on_the_url_server_is_a_bad_gateway(
    url_fake: tuple[TestClient, FakeTriton], photos_url: str
) -> None:
    client, triton = url_fake
    response = client.post(
        "/infer/url",
        data={
            "infer_model_type": "onnx",
            "url_image": f"{photos_url}/no-such-photo.jpg",
        },
    )
    assert response.status_code == 502, response.text
    assert "404" in response.json()["detail"]
    assert triton.inferences == []


def test_a_photo_on_the_url_server_reaches_triton(url_fake: tuple[TestClient, FakeTriton], photos_url: str) -> None:
    """The two cases above fail at the fetch itself: the same gateway fetches a photo that is there."""
    client, triton = url_fake
    response = client.post(
        "/infer/url",
        data={
            "infer_model_type": "onnx",
            "requested_results_types": "segmentation_map",
            "url_image": f"{photos_url}/{PHOTO}",
        },
    )
    assert response.status_code == 200, response.text
    assert triton.inferences[-1] == ("deeplabv3_onnx", (1, 3, 512, 512), ("segmentation_map",))


def test_openapi_documents_the_raw_body_upload(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/infer/file"]["post"]
    assert {"multipart/form-data", "image/jpeg", "image/png"} <= set(operation["requestBody"]["content"])
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"infer_model_type", "response_format"}
    assert "--data-binary" in operation["description"]
